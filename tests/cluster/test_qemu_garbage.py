"""Garbage on the QEMU LAN (issue 4, "Must show"): 3 one-CPU nodes run a jumbo-frame soak of page-sized
checksummed request/response pairs while the switch drops 5 % and duplicates 1 % of the copies and follows
10 % of them with a malformed frame of every kind it knows (switch_frames.GARBAGE_KINDS). Every node must
finish its soak with all pairs correct, nothing lost or doubled, and exit 0; each node's own per-reason drop
counters (`cluster: drops reason=<r> count=<n>`, pyhv/cluster/boot.py) must account for the garbage the
switch sent it. The run is captured to pcap, and if tshark is installed the Wireshark dissector
(tools/wireshark/pyhv.lua) decodes it: every frame a node sent is a sane pyhv frame of the cluster, the
discovery, clock, ECHO and MARKER messages are all there, and the soak's requests and replies are all on the
wire exactly as many times as the nodes say (retransmissions and duplicates share a sequence number).

Accounting, per node i (port i of the switch), from switch snapshots the launcher takes when node i prints
a line (ClusterOptions.watch):
  upper bound: garbage-reason drops <= garbage the switch injected toward port i over the whole run (the
  garbage reasons never occur for well-formed traffic, which the test also checks: they are 0 in the
  garbage-free soaks of test_qemu_cluster.py and no node frame in the pcap is malformed);
  lower bound: garbage-reason drops >= garbage injected toward port i after node i printed
  "cluster: start" and before it printed "marker: waiting", minus the port's congestion and unreachable
  drops. Slack, documented: garbage from before "cluster: start" is not required (the NIC may not be up
  yet, and the driver's device reset discards what QEMU queued for it), nor garbage after "marker: waiting"
  (a node counts it only if it arrives before the marker that makes it print its counters). Everything in
  between is ahead of the marker in the port's FIFO (switch queue -> socket -> QEMU -> virtqueue, none of
  which drops once the driver is up) and so is counted before the node prints. Runts are no exception:
  QEMU pads a truncated frame to 60 bytes and the node still drops it (as truncated, bad version or bad
  checksum, depending on where it was cut), and oversize garbage (<= 4270 bytes) fits the driver's
  9216-byte receive buffers, so the node, not the NIC, rejects it.
"""

from __future__ import annotations

from collections.abc import Callable

import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from compiler.build import BuildResult
from pyhv.cluster.wire import (
    DROP_BAD_FRAGMENT, DROP_CHECKSUM, DROP_ETHERTYPE, DROP_FOREIGN_CLUSTER, DROP_MAGIC, DROP_OVERSIZE,
    DROP_TRUNCATED, DROP_UNKNOWN_TYPE, DROP_VERSION, MSG_ANNOUNCE, MSG_BOOT, MSG_CLOCK_PROBE, MSG_CLOCK_REPLY,
    MSG_CLUSTER_TABLE, MSG_ECHO, MSG_JOIN, MSG_MARKER, MSG_SETUP_DONE, MSG_TYPES, MSG_WELCOME, NODE_NONE,
    WIRE_VERSION,
)
from pyhv.host.cluster_run import ClusterOptions, ClusterResult, node_mac, run_cluster
from pyhv.host.qemu import QEMU
from pyhv.host.switch_faults import FaultConfig
from pyhv.host.switch_frames import FRAME_MAX_BYTES, GARBAGE_KINDS, SWITCH_MAC, WIRE_MAGIC, cluster_id

REPO = Path(__file__).resolve().parents[2]
TARGET = REPO / "targets" / "qemu-virt"
LUA = REPO / "tools" / "wireshark" / "pyhv.lua"
TSHARK = shutil.which("tshark")
CLUSTER = "qg"
NODES = 3
PAIRS = 300                     # requests each node sends
GARBAGE = 0.1                   # probability a delivered copy is followed by a garbage frame
START, WAITING = "cluster: start", "marker: waiting"

pytestmark = [pytest.mark.qemu,
              pytest.mark.skipif(shutil.which(QEMU) is None or shutil.which("aarch64-linux-gnu-gcc") is None,
                                 reason="needs qemu-system-aarch64 and the cross compiler")]

FORMED_RE = re.compile(r"^cluster: formed, (\d+) nodes, me=(\d+) ", re.M)
TABLE_RE = re.compile(r"^cluster: node (\d+) mac (\S+) cpus ", re.M)
SOAK_RE = re.compile(r"^soak: done sent=(\d+) ok=(\d+) bad=(\d+) retransmits=(\d+) dup_dropped=(\d+) "
                     r"ooo_dropped=(\d+) failed=(\d+) ticks=(\d+)$", re.M)
SENT_RE = re.compile(r"^soak: to node (\d+) sent (\d+)$", re.M)
SERVED_RE = re.compile(r"^soak: from node (\d+) served (\d+)$", re.M)
DROPS_RE = re.compile(r"^cluster: drops reason=(\d+) count=(\d+)$", re.M)

# The drop reasons a garbage frame can end in; well-formed traffic never produces them.
GARBAGE_REASONS = frozenset(int(r) for r in (DROP_ETHERTYPE, DROP_MAGIC, DROP_VERSION, DROP_TRUNCATED,
                                              DROP_OVERSIZE, DROP_CHECKSUM, DROP_FOREIGN_CLUSTER,
                                              DROP_UNKNOWN_TYPE, DROP_BAD_FRAGMENT))
# The reason each kind is named after (switch_frames.garbage_frame trips exactly that check); "truncated"
# is absent: QEMU pads it to 60 bytes, so where it was cut decides the reason.
KIND_REASON = {"ethertype": DROP_ETHERTYPE, "oversize": DROP_OVERSIZE, "magic": DROP_MAGIC,
               "version": DROP_VERSION, "checksum": DROP_CHECKSUM, "foreign_cluster": DROP_FOREIGN_CLUSTER,
               "unknown_type": DROP_UNKNOWN_TYPE, "bad_fragment": DROP_BAD_FRAGMENT}


@pytest.fixture(scope="module")
def image(built_image: Callable[[str], BuildResult]) -> BuildResult:
    return built_image("qemu-virt")


@pytest.fixture(scope="module")
def run(image: BuildResult) -> ClusterResult:
    """The one QEMU run both tests look at (about 20-40 s on a loaded 2-core host)."""
    faults = FaultConfig(seed=21, loss=0.05, dup=0.01, garbage=GARBAGE)      # garbage_kinds=(): every kind
    options = ClusterOptions(cluster=CLUSTER, cpus=1, timeout_s=90, faults=faults, pcap=True, mtu=9000,
                             markers=1, bootargs=f"pyhv.soak={PAIRS}", watch=(START, WAITING))
    result = run_cluster(TARGET, image.out_dir, NODES, options)
    assert result.ok, [(n.index, n.exit_status, n.timed_out, n.output[-3000:]) for n in result.nodes]
    return result


def _ports(stats: dict[str, object]) -> list[dict[str, int]]:
    ports = stats["ports"]
    assert isinstance(ports, list)
    return ports


def _node_id(output: str) -> int:
    m = FORMED_RE.search(output)
    assert m is not None and m.group(1) == str(NODES), output[-2000:]
    return int(m.group(2))


def _sent_to(result: ClusterResult) -> dict[tuple[int, int], int]:
    sent: dict[tuple[int, int], int] = {}
    for n in result.nodes:
        me = _node_id(n.output)
        for j, k in SENT_RE.findall(n.output):
            sent[(me, int(j))] = int(k)
    return sent


def test_soak_survives_garbage_and_nodes_count_it(run: ClusterResult) -> None:
    # The soak: every pair correct, nothing failed, every request served exactly once.
    served: dict[tuple[int, int], int] = {}
    for n in run.nodes:
        m = SOAK_RE.search(n.output)
        assert m is not None, n.output[-2000:]
        sent, ok, bad, _retx, _dups, _ooo, failed, _ticks = (int(x) for x in m.groups())
        assert (sent, ok, bad, failed) == (PAIRS, PAIRS, 0, 0), m.group(0)
        for i, k in SERVED_RE.findall(n.output):
            served[(int(i), _node_id(n.output))] = int(k)
    sent_to = _sent_to(run)
    assert len(sent_to) == NODES * (NODES - 1) and sent_to == served, (sent_to, served)
    assert all(v > 0 for v in sent_to.values())

    final = _ports(run.switch_stats)
    assert sum(p["injected_drops"] for p in final) > 0 and sum(p["injected_dups"] for p in final) > 0
    by_reason: Counter[int] = Counter()
    lines = []
    for n in run.nodes:
        drops = {int(r): int(c) for r, c in DROPS_RE.findall(n.output)}
        by_reason.update(drops)
        counted = sum(c for r, c in drops.items() if r in GARBAGE_REASONS)
        assert START in n.switch_stats_at and WAITING in n.switch_stats_at, n.index
        at_start = _ports(n.switch_stats_at[START])[n.index]
        at_wait = _ports(n.switch_stats_at[WAITING])[n.index]
        port = final[n.index]
        injected = port["garbage_injected"]
        lost = port["congestion_drops"] + port["unreachable"]
        must = at_wait["garbage_injected"] - at_start["garbage_injected"] - lost
        lines.append(f"node {n.index}: garbage injected {injected} (between start and waiting {must + lost}, "
                     f"lost {lost}), counted {counted}, drops {dict(sorted(drops.items()))}")
        assert injected > 0 and must > 0, lines[-1]
        assert must <= counted <= injected, lines[-1]
    print("\n" + "\n".join(lines))
    # Every kind of garbage reached a node and was dropped for the reason it is named after.
    for kind, reason in KIND_REASON.items():
        assert by_reason[int(reason)] > 0, (kind, by_reason)
    assert set(KIND_REASON) | {"truncated"} == set(GARBAGE_KINDS)


# tshark fields, in this order (the Lua dissector's names; docs/protocol.md for the header)
FIELDS = ("frame.len", "eth.src", "eth.dst", "eth.type", "pyhv.magic", "pyhv.version", "pyhv.type",
          "pyhv.flags.reliable", "pyhv.flags.reply", "pyhv.src_node", "pyhv.dst_node", "pyhv.seq",
          "pyhv.frag_count", "pyhv.cluster_id", "pyhv.csum_good", "pyhv.marker.id", "pyhv.epochs")


def _bool(text: str) -> str:
    return {"True": "1", "False": "0"}.get(text, text)     # Wireshark 4.0 prints 1/0, later True/False


def _decode(pcap: Path) -> list[dict[str, str]]:
    cmd = [str(TSHARK), "-n", "-X", f"lua_script:{LUA}", "-r", str(pcap), "-T", "fields", "-E", "separator=|"]
    for field in FIELDS:
        cmd += ["-e", field]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Lua" not in proc.stderr or "rror" not in proc.stderr, proc.stderr[-2000:]
    return [dict(zip(FIELDS, (_bool(v) for v in line.split("|")))) for line in proc.stdout.splitlines()]


def _malformed(row: dict[str, str], cid: str) -> bool:
    """Does the decoded garbage frame show what is wrong with it?"""
    if row["eth.type"] != "0x88b5":
        return True                                             # not our EtherType: not dissected as pyhv
    if row["pyhv.type"] == "":
        return True                                             # header truncated
    return (row["pyhv.magic"] != f"0x{WIRE_MAGIC:04x}" or row["pyhv.version"] != str(int(WIRE_VERSION))
            or row["pyhv.csum_good"] != "1" or int(row["pyhv.type"]) >= int(MSG_TYPES)
            or row["pyhv.cluster_id"] != cid or int(row["pyhv.frag_count"]) > 4
            or int(row["frame.len"]) > FRAME_MAX_BYTES)


@pytest.mark.skipif(TSHARK is None, reason="tshark not installed (apt-get install -y tshark)")
def test_dissector_decodes_the_captured_soak(run: ClusterResult) -> None:
    assert run.pcap_path is not None and run.pcap_path.exists()
    rows = _decode(run.pcap_path)
    cid = f"0x{cluster_id(CLUSTER):04x}"
    macs = {node_mac(i) for i in range(NODES)}
    switch_mac = ":".join(f"{b:02x}" for b in SWITCH_MAC)
    table = {int(i): mac for i, mac in TABLE_RE.findall(run.nodes[0].output)}
    assert sorted(table) == list(range(NODES)) and set(table.values()) == macs
    ids = {str(i) for i in range(NODES)}

    types: Counter[int] = Counter()
    echo: dict[tuple[str, str, str], set[str]] = {}
    garbage = markers = 0
    for row in rows:
        if row["eth.src"] == switch_mac:
            if row["eth.type"] == "0x88b5" and row["pyhv.type"] == str(int(MSG_MARKER)) \
                    and row["pyhv.csum_good"] == "1" and row["pyhv.marker.id"] == "1":
                markers += 1
            else:
                garbage += 1
                assert _malformed(row, cid), row
            continue
        # A frame a node sent: ours, well formed, of this cluster, between its members.
        assert row["eth.src"] in macs, row
        assert row["eth.type"] == "0x88b5" and row["pyhv.magic"] == f"0x{WIRE_MAGIC:04x}", row
        assert row["pyhv.version"] == str(int(WIRE_VERSION)) and row["pyhv.csum_good"] == "1" and row["pyhv.cluster_id"] == cid, row
        t = int(row["pyhv.type"])
        assert 0 <= t < int(MSG_TYPES) and t != int(MSG_MARKER), row      # nodes never send MARKER
        assert row["pyhv.frag_count"] == "1", row                            # jumbo: no fragments
        src, dst = row["pyhv.src_node"], row["pyhv.dst_node"]
        assert src in ids | {str(int(NODE_NONE))} and dst in ids | {str(int(NODE_NONE))}, row
        if src != str(int(NODE_NONE)):
            assert table[int(src)] == row["eth.src"], row                    # the id is the sender's
        types[t] += 1
        if t == int(MSG_ECHO):
            assert src in ids and dst in ids and src != dst and row["pyhv.flags.reliable"] == "1", row
            assert row["pyhv.epochs"] == "0x11", row                         # both ends in their first life
            echo.setdefault((src, dst, row["pyhv.flags.reply"]), set()).add(row["pyhv.seq"])
    for want in (MSG_ANNOUNCE, MSG_JOIN, MSG_WELCOME, MSG_CLUSTER_TABLE, MSG_SETUP_DONE, MSG_BOOT,
                 MSG_CLOCK_PROBE, MSG_CLOCK_REPLY, MSG_ECHO):
        assert types[int(want)] > 0, (int(want), types)
    assert markers == NODES                                     # the one marker, to every port
    assert 0 < garbage <= sum(p["garbage_injected"] for p in _ports(run.switch_stats))
    # Each request i->j and each reply j->i is on the wire under its own sequence number, exactly as many
    # as i says it sent to j (the soak's sent/served lines): nothing missing, nothing extra.
    for (i, j), n in _sent_to(run).items():
        assert len(echo.get((str(i), str(j), "0"), set())) == n, (i, j, n)
        assert len(echo.get((str(j), str(i), "1"), set())) == n, (i, j, n)
    print(f"\npcap: {len(rows)} frames, {garbage} garbage, types {dict(sorted(types.items()))}")
