"""Run the cluster soak on real QEMU nodes and summarise it (host tooling, not dialect; numbers for
docs/bench.md). Boots N one-CPU nodes of an already-built qemu-virt image on the switch with
`pyhv.soak=PAIRS`: every node sends PAIRS page-sized checksummed ECHO requests round-robin to the others,
then all wait for the switch's markers, print what they served, and power off.

    python3 -m pyhv.host.cluster_soak --image build/qemu-virt --nodes 3 --pairs 3334 --loss 5% --dup 1% \
        [--mtu 9000] [--window 4] [--bandwidth 1g] [--markers 5]

Prints one line per node (sent/ok/bad, retransmits, duplicates dropped, RTT percentiles, pairs/s) and the
totals: pairs, whether every request was served exactly once (i->j sent == j served from i), the switch's
injected drops/dups and congestion drops kept apart from the nodes' retransmits, and the marker skew.
Exit status 0 only if every node powered off and nothing was lost, doubled or corrupted.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from pyhv.host.cluster_run import ClusterOptions, ClusterResult, run_cluster
from pyhv.host.switch_main import add_fault_arguments, faults_from_args

REPO = Path(__file__).resolve().parents[2]
FREQ_HZ = 62_500_000            # QEMU virt CNTFRQ
PAGE_MSG_BYTES = 4128           # pyhv/cluster/soak.py SOAK_MSG_BYTES

FORMED_RE = re.compile(r"^cluster: formed, (\d+) nodes, me=(\d+) ", re.M)
SOAK_RE = re.compile(r"^soak: done sent=(\d+) ok=(\d+) bad=(\d+) retransmits=(\d+) dup_dropped=(\d+) "
                     r"ooo_dropped=(\d+) failed=(\d+) ticks=(\d+)$", re.M)
RTT_RE = re.compile(r"^soak: rtt_us p50=(\d+) p99=(\d+) max=(\d+) window=(\d+)$", re.M)
SENT_RE = re.compile(r"^soak: to node (\d+) sent (\d+)$", re.M)
SERVED_RE = re.compile(r"^soak: from node (\d+) served (\d+)$", re.M)
MARKER_RE = re.compile(r"^marker: seq=(\d+) vcnt=(\d+)$", re.M)


@dataclass
class NodeSoak:
    node: int
    sent: int
    ok: int
    bad: int
    retransmits: int
    dup_dropped: int
    failed: int
    seconds: float
    rtt_p50_us: int
    rtt_p99_us: int
    rtt_max_us: int


def parse_node(output: str) -> NodeSoak | None:
    formed, soak, rtt = FORMED_RE.search(output), SOAK_RE.search(output), RTT_RE.search(output)
    if formed is None or soak is None:
        return None
    sent, ok, bad, retx, dups, _ooo, failed, ticks = (int(x) for x in soak.groups())
    p50, p99, mx = (int(rtt.group(i)) for i in (1, 2, 3)) if rtt else (0, 0, 0)
    return NodeSoak(int(formed.group(2)), sent, ok, bad, retx, dups, failed, ticks / FREQ_HZ, p50, p99, mx)


def summarise(result: ClusterResult) -> tuple[list[str], bool]:
    lines: list[str] = []
    good = result.ok
    sent_to: dict[tuple[int, int], int] = {}
    served: dict[tuple[int, int], int] = {}
    total_ok = total_sent = retransmits = dup_dropped = 0
    for n in result.nodes:
        s = parse_node(n.output)
        if s is None:
            lines.append(f"node {n.index}: no soak summary (exit {n.exit_status}); see {n.log_path}")
            good = False
            continue
        total_ok += s.ok
        total_sent += s.sent
        retransmits += s.retransmits
        dup_dropped += s.dup_dropped
        good = good and s.bad == 0 and s.failed == 0 and s.ok == s.sent
        rate = s.ok / s.seconds if s.seconds else 0.0
        lines.append(f"node {s.node}: sent={s.sent} ok={s.ok} bad={s.bad} failed={s.failed} "
                     f"retransmits={s.retransmits} dup_dropped={s.dup_dropped} in {s.seconds:.2f} s "
                     f"({rate:.0f} pairs/s, {rate * PAGE_MSG_BYTES * 2 * 8 / 1e6:.1f} Mb/s both ways) "
                     f"rtt p50<={s.rtt_p50_us} us p99<={s.rtt_p99_us} us max={s.rtt_max_us} us")
        for j, k in SENT_RE.findall(n.output):
            sent_to[(s.node, int(j))] = int(k)
        for i, k in SERVED_RE.findall(n.output):
            served[(int(i), s.node)] = int(k)
    exactly_once = bool(sent_to) and sent_to == served
    good = good and exactly_once
    ports = result.switch_stats.get("ports", [])
    assert isinstance(ports, list)
    lines.append(f"total: {total_ok}/{total_sent} pairs ok, exactly once: {exactly_once}, elapsed {result.elapsed_s:.1f} s")
    lines.append("switch: " + " ".join(f"{k}={sum(int(p[k]) for p in ports)}" for k in
                                       ("injected_drops", "injected_dups", "congestion_drops", "eagain", "rx", "tx")))
    lines.append(f"nodes: retransmits={retransmits} dup_dropped={dup_dropped}")
    seen = [{int(k): int(v) for k, v in MARKER_RE.findall(n.output)} for n in result.nodes]
    common = sorted(set.intersection(*(set(s) for s in seen))) if seen else []
    if common:
        spreads = [(max(s[k] for s in seen) - min(s[k] for s in seen)) / FREQ_HZ * 1e3 for k in common]
        lines.append(f"markers: {len(common)}, skew median {statistics.median(spreads):.2f} ms, "
                     f"max {max(spreads):.2f} ms")
    return lines, good


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m pyhv.host.cluster_soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", default=str(REPO / "build" / "qemu-virt"), help="built qemu-virt output dir")
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=1000, help="requests each node sends")
    parser.add_argument("--window", type=int, default=4, help="requests in flight per node (1..4)")
    parser.add_argument("--mtu", type=int, default=None, help="virtio-net host_mtu (default 1500)")
    parser.add_argument("--markers", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=600.0)
    add_fault_arguments(parser)
    args = parser.parse_args(argv)
    options = ClusterOptions(cluster="soak", cpus=1, timeout_s=args.timeout, faults=faults_from_args(args),
                             bootargs=f"pyhv.soak={args.pairs} pyhv.soak_window={args.window}", mtu=args.mtu,
                             markers=args.markers,
                             progress=lambda m: print(f"[{time.strftime('%H:%M:%S')}] {m}", file=sys.stderr))
    result = run_cluster(REPO / "targets" / "qemu-virt", Path(args.image), args.nodes, options)
    lines, good = summarise(result)
    print("\n".join(lines))
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
