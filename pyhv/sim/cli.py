"""`pyhv sim --seeds N [--seed S] [--nodes K] [--faults loss=0.05,dup=0.01,...] [--burst M] [--workload echo|dsm]`:
a simulation campaign.

Runs seeds S, S+1, ... S+N-1 (S defaults to 1), each a fresh simulated cluster (pyhv/sim/scenario.py: the
echo workload; pyhv/sim/dsm_scenario.py: simulated vCPUs over the DSM, `--ops` operations each), and
prints one line per failing seed with the exact command that replays it, then a summary: seeds run,
failures, simulated frames and frames per wall-clock second.
"""

from __future__ import annotations

import argparse
import time

from pyhv.sim.dsm_scenario import run_dsm_seed
from pyhv.sim.scenario import SeedResult, run_seed
from pyhv.sim.world import Faults


def sim_main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="pyhv sim", description="deterministic cluster simulation campaign")
    ap.add_argument("--seeds", type=int, default=1, help="number of seeds to run")
    ap.add_argument("--seed", type=int, default=1, help="first seed")
    ap.add_argument("--nodes", type=int, default=3, help="nodes that form the cluster (a late joiner is added)")
    ap.add_argument("--faults", default="", help="e.g. loss=0.05,dup=0.01,reorder=0.05,drift_ppm=50,"
                    "stop=1,restart=1,asym_us=30,mtu=1500")
    ap.add_argument("--requests", type=int, default=6, help="echo requests per node")
    ap.add_argument("--burst", type=int, default=0, help="echo: first, every node sends M one-way pages to every "
                    "other, both directions at once (checked exactly once and in order; no late joiner)")
    ap.add_argument("--workload", choices=["echo", "dsm"], default="echo",
                    help="echo: request/reply between members; dsm: simulated vCPUs over the DSM")
    ap.add_argument("--ops", type=int, default=40, help="dsm: operations per simulated vCPU")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every seed")
    args = ap.parse_args(argv)
    faults = Faults().parse(args.faults)
    failures = 0
    frames = 0
    sim_ns = 0
    t0 = time.perf_counter()
    for seed in range(args.seed, args.seed + args.seeds):
        r: SeedResult
        if args.workload == "dsm":
            r = run_dsm_seed(seed, args.nodes, faults, args.ops)
        else:
            r = run_seed(seed, args.nodes, faults, args.requests, args.burst)
        frames += r.frames
        sim_ns += r.sim_ns
        if args.verbose:
            print(f"seed {seed}: {r.frames} frames, {r.sim_ns / 1e6:.1f} ms simulated, skew {r.skew_ns} ns "
                  f"(bound {r.bound_ns} ns){'' if not r.failures else ' FAILED'}")
        if r.failures:
            failures += 1
            spec = faults.spec()
            replay = f"pyhv sim --seeds 1 --seed {seed} --nodes {args.nodes} --requests {args.requests}"
            if args.burst:
                replay += f" --burst {args.burst}"
            if args.workload == "dsm":
                replay = f"pyhv sim --workload dsm --seeds 1 --seed {seed} --nodes {args.nodes} --ops {args.ops}"
            if spec:
                replay += f" --faults {spec}"
            print(f"FAIL seed {seed}: {r.failures[0].splitlines()[0]}")
            for extra in r.failures[1:4]:
                print(f"    {extra.splitlines()[0]}")
            print(f"    replay: {replay}")
    wall = time.perf_counter() - t0
    print(f"sim: {args.seeds} seeds, {failures} failed, {frames} frames simulated in {wall:.1f} s "
          f"({frames / wall if wall > 0 else 0:.0f} frames/s), {sim_ns / 1e9:.2f} s simulated")
    return 1 if failures else 0


if __name__ == "__main__":
    # `python3 -m pyhv.sim.cli ...` is the same as `pyhv sim ...`
    import sys
    raise SystemExit(sim_main(sys.argv[1:]))
