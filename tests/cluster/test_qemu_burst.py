"""Bidirectional one-way page bursts on 2 real QEMU nodes through the host switch (`pyhv.burst=N`,
pyhv/cluster/burst.py): both nodes send N page-sized one-way messages to each other at once, at the default
1500-byte MTU (3 fragments a page), with the switch dropping 2 % of frames. On the old transport both
nodes stopped after a few pages for ever (a sender with a full TX ring read only acks and threw the peer's
data away). Each node must print that its burst completed and that it got exactly N messages from the
other, whole and in order, none bad."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from compiler.build import BuildResult
from pyhv.host.cluster_run import ClusterOptions, run_cluster
from pyhv.host.qemu import QEMU
from pyhv.host.switch_faults import FaultConfig

REPO = Path(__file__).resolve().parents[2]
TARGET = REPO / "targets" / "qemu-virt"

pytestmark = [pytest.mark.qemu,
              pytest.mark.skipif(shutil.which(QEMU) is None or shutil.which("aarch64-linux-gnu-gcc") is None,
                                 reason="needs qemu-system-aarch64 and the cross compiler")]

FORMED_RE = re.compile(r"^cluster: formed, (\d+) nodes, me=(\d+) ", re.M)
DONE_RE = re.compile(r"^burst: done sent=(\d+) bytes=(\d+) ticks=(\d+) complete=(\d) parked_max=(\d+) "
                     r"refused=(\d+) retransmits=(\d+)$", re.M)
SENT_RE = re.compile(r"^burst: to node (\d+) sent (\d+)$", re.M)
GOT_RE = re.compile(r"^burst: from node (\d+) got (\d+) bad=(\d+)$", re.M)


@pytest.fixture(scope="module")
def image(built_image: Callable[[str], BuildResult]) -> BuildResult:
    return built_image("qemu-virt")


def test_two_nodes_burst_pages_at_each_other_through_a_lossy_switch(image: BuildResult) -> None:
    n = 300
    options = ClusterOptions(cluster="qb", cpus=1, timeout_s=180, faults=FaultConfig(seed=5, loss=0.02),
                             bootargs=f"pyhv.burst={n}")
    result = run_cluster(TARGET, image.out_dir, 2, options)
    assert result.ok, [(x.index, x.exit_status, x.timed_out, x.output[-3000:]) for x in result.nodes]
    retransmits = 0
    for node in result.nodes:
        out = node.output
        formed = FORMED_RE.search(out)
        done = DONE_RE.search(out)
        assert formed is not None and done is not None, out[-3000:]
        me, other = int(formed.group(2)), 1 - int(formed.group(2))
        assert int(done.group(1)) == n and done.group(4) == "1", done.group(0)
        assert [(int(j), int(k)) for j, k in SENT_RE.findall(out)] == [(other, n)]
        assert [(int(i), int(k), int(b)) for i, k, b in GOT_RE.findall(out)] == [(other, n, 0)], out[-2000:]
        assert int(done.group(5)) > 0          # the rings really filled: messages went through the backlog
        retransmits += int(done.group(7))
        secs = int(done.group(3)) / 62_500_000
        print(f"\nnode {me}: burst {n} pages each way in {secs:.2f} s "
              f"({int(done.group(2)) / secs / 1e6:.2f} MB/s sent), parked_max={done.group(5)}, "
              f"retransmits={done.group(7)}")
    ports = result.switch_stats["ports"]
    assert isinstance(ports, list)
    assert sum(int(p["injected_drops"]) for p in ports) > 0 and retransmits > 0    # loss happened, repaired
