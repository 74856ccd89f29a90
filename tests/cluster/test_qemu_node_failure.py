"""Node failure on real QEMU nodes. A node that dies in a running cluster (its QEMU killed right after the
cluster formed) is reported lost by the others with a clear console line, after the silence the bootargs
configure (`pyhv.lost_ms`); their requests to it fail instead of hanging, and the survivors finish their
soak among themselves with every request between them handled exactly once. A node that dies and boots
again (same MAC, same switch port) is readmitted under its old id and vCPU range, and its new life's
requests all succeed."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from compiler.build import BuildResult
from pyhv.host.cluster_run import ClusterOptions, run_cluster
from pyhv.host.qemu import QEMU

from .test_qemu_cluster import FORMED_RE, SENT_RE, SERVED_RE, SOAK_RE, TABLE_RE

REPO = Path(__file__).resolve().parents[2]
TARGET = REPO / "targets" / "qemu-virt"
LOST_MS = 1000
PAIRS = 600
SOAK_WINDOW = 4                          # pyhv/cluster/soak.py: requests in flight per node
LOST_RE = re.compile(r"^cluster: node (\d+) lost: (?:silent|no progress) for (\d+) ms with (\d+) frames unacked, \d+ parked and "
                     r"(\d+) requests waiting$", re.M)

pytestmark = [pytest.mark.qemu,
              pytest.mark.skipif(shutil.which(QEMU) is None or shutil.which("aarch64-linux-gnu-gcc") is None,
                                 reason="needs qemu-system-aarch64 and the cross compiler")]


def test_a_killed_node_is_reported_lost_and_the_survivors_carry_on(
        built_image: Callable[[str], BuildResult]) -> None:
    image = built_image("qemu-virt")
    options = ClusterOptions(cluster="ql", cpus=1, timeout_s=120, markers=1,
                             bootargs=f"pyhv.soak={PAIRS} pyhv.lost_ms={LOST_MS}",
                             kill_when=((2, "cluster: formed"),))
    result = run_cluster(TARGET, image.out_dir, 3, options)
    victim, survivors = result.nodes[2], result.nodes[:2]
    assert victim.killed and not victim.ok
    assert all(n.ok for n in survivors), [(n.index, n.exit_status, n.output[-2000:]) for n in survivors]
    formed = FORMED_RE.search(victim.output)
    assert formed is not None
    dead = int(formed.group(2))
    ids = {}
    for n in survivors:
        f = FORMED_RE.search(n.output)
        assert f is not None
        ids[n.index] = int(f.group(2))
        lost = LOST_RE.findall(n.output)
        # A killed node is both silent and, if frames were in flight to it, making no progress: whichever
        # rule fires first names it, once.
        assert len(lost) == 1, n.output[-3000:]                    # reported once, for the dead node only
        node, silent_ms, _unacked, _waiting = (int(x) for x in lost[0])
        assert node == dead
        assert LOST_MS <= silent_ms < 3 * LOST_MS                   # the configured silence, not a hang
        soak = SOAK_RE.search(n.output)
        assert soak is not None, n.output[-3000:]
        _sent, ok, bad, _retx, _dups, _ooo, failed, _ticks = (int(x) for x in soak.groups())
        # Only the requests in flight to the dead node when it was declared lost fail; the rest went to
        # the survivor and came back intact.
        assert bad == 0 and 1 <= failed <= SOAK_WINDOW and ok + failed == PAIRS, soak.group(0)
    a, b = ids[0], ids[1]
    sent = {(ids[n.index], int(j)): int(k) for n in survivors for j, k in SENT_RE.findall(n.output)}
    served = {(int(i), ids[n.index]): int(k) for n in survivors for i, k in SERVED_RE.findall(n.output)}
    assert sent[(a, b)] == served[(a, b)] and sent[(b, a)] == served[(b, a)], (sent, served)
    assert sent[(a, b)] > 0 and sent[(b, a)] > 0


READMIT_RE = re.compile(r"^cluster: node (\d+) \((\w+)\) restarted: readmitted with its id", re.M)


def test_a_restarted_node_is_readmitted_under_its_id(built_image: Callable[[str], BuildResult]) -> None:
    image = built_image("qemu-virt")
    options = ClusterOptions(cluster="qr", cpus=1, timeout_s=120, markers=1, bootargs=f"pyhv.soak={PAIRS}",
                             # killed once its table and clock lines are out (they follow "formed")
                             kill_when=((2, "clock: node"),), restart_after_s=1.0)
    result = run_cluster(TARGET, image.out_dir, 3, options)
    assert len(result.nodes) == 4
    first, again = result.nodes[2], result.nodes[3]
    assert first.killed and again.index == 2 and again.life == 1 and again.mac == first.mac
    live = [result.nodes[0], result.nodes[1], again]
    assert all(n.ok for n in live), [(n.index, n.exit_status, n.output[-2000:]) for n in live]
    f1, f2 = FORMED_RE.search(first.output), FORMED_RE.search(again.output)
    assert f1 is not None and f2 is not None
    node = int(f1.group(2))
    assert int(f2.group(2)) == node                                     # the same id...
    tables = [TABLE_RE.findall(n.output) for n in live]
    assert tables[0] == tables[1] == tables[2] and len(tables[0]) == 3  # ...and one table everywhere
    assert TABLE_RE.findall(first.output)[node] == tables[0][node]      # the same vCPU range
    boot = result.nodes[0].output
    readmit = READMIT_RE.findall(boot)
    assert [(int(i), m) for i, m in readmit] == [(node, first.mac.replace(":", ""))], boot[-3000:]
    assert "lost:" not in boot                                          # readmitted, never timed out
    # The new life's soak: every request answered and intact. The survivors' requests to the dead
    # incarnation failed when it was readmitted; everything else came back intact.
    for n in live:
        soak = SOAK_RE.search(n.output)
        assert soak is not None, n.output[-3000:]
        _sent, ok, bad, _retx, _dups, _ooo, failed, _ticks = (int(x) for x in soak.groups())
        assert bad == 0 and ok + failed == PAIRS, soak.group(0)
        if n is again:
            assert failed == 0, soak.group(0)
