"""Run the bidirectional one-way page burst on real QEMU nodes and print its throughput (host tooling, not
dialect; numbers for docs/bench.md). Boots N one-CPU nodes of an already-built qemu-virt image on the switch
with `pyhv.burst=PAGES`: every node sends PAGES one-way 4112-byte messages to every other at once
(pyhv/cluster/burst.py), then powers off.

    python3 -m pyhv.host.cluster_burst --image build/qemu-virt --nodes 2 --pages 1000 [--mtu 9000] [--loss 2%]

Prints per node: pages sent and received (exactly once, in order), the burst's duration, the send rate, the
most messages parked at once, refused frames and retransmits. Exit status 0 only if every node completed
and got exactly PAGES from every other, none bad.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from pyhv.host.cluster_run import ClusterOptions, run_cluster
from pyhv.host.switch_main import add_fault_arguments, faults_from_args

REPO = Path(__file__).resolve().parents[2]
FREQ_HZ = 62_500_000
DONE_RE = re.compile(r"^burst: done sent=(\d+) bytes=(\d+) ticks=(\d+) complete=(\d) parked_max=(\d+) "
                     r"refused=(\d+) retransmits=(\d+)$", re.M)
GOT_RE = re.compile(r"^burst: from node (\d+) got (\d+) bad=(\d+)$", re.M)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="cluster_burst", description=__doc__.splitlines()[0])
    ap.add_argument("--image", type=Path, default=REPO / "build" / "qemu-virt")
    ap.add_argument("--nodes", type=int, default=2)
    ap.add_argument("--pages", type=int, default=1000)
    ap.add_argument("--mtu", type=int, default=None)
    ap.add_argument("--timeout", type=float, default=300.0)
    add_fault_arguments(ap)
    args = ap.parse_args(argv)
    options = ClusterOptions(cluster="burst", cpus=1, timeout_s=args.timeout, faults=faults_from_args(args),
                             bootargs=f"pyhv.burst={args.pages}", mtu=args.mtu)
    result = run_cluster(REPO / "targets" / "qemu-virt", args.image, args.nodes, options)
    good = result.ok
    for n in result.nodes:
        done = DONE_RE.search(n.output)
        got = GOT_RE.findall(n.output)
        if done is None:
            print(f"node {n.index}: no burst summary (exit {n.exit_status}); see {n.log_path}")
            good = False
            continue
        sent, nbytes, ticks, complete, parked, refused, retx = (int(x) for x in done.groups())
        secs = ticks / FREQ_HZ
        ok = complete == 1 and len(got) == args.nodes - 1 and all(int(k) == args.pages and int(b) == 0
                                                                  for _i, k, b in got)
        good = good and ok
        print(f"node {n.index}: sent {sent} pages in {secs:.2f} s ({nbytes * 8 / secs / 1e6:.0f} Mb/s), received "
              f"{', '.join(f'{k} from {i} ({b} bad)' for i, k, b in got)}; parked_max={parked} refused={refused} "
              f"retransmits={retx}{'' if ok else ' FAILED'}")
    print(f"burst: {args.nodes} nodes x {args.pages} pages each way, mtu {args.mtu or 1500}, "
          f"{'exactly once, in order' if good else 'FAILED'} ({result.elapsed_s:.1f} s wall)")
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
