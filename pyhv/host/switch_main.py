"""`python3 -m pyhv.host.switch`: the cluster switch as its own process (host tooling, not dialect).

Runs until SIGTERM/SIGINT; SIGUSR1 writes the stats JSON to --stats (default DIR/stats.json), and so does
the exit. `--control CMD` talks to a running switch instead (stats | marker | garbage KIND [PORT]).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from types import FrameType

from pyhv.host.switch import DEFAULT_QUEUE_FRAMES, Switch, switch_request
from pyhv.host.switch_faults import (
    FaultConfig, parse_bandwidth, parse_duration, parse_probability,
)
from pyhv.host.switch_frames import GARBAGE_KINDS


def add_fault_arguments(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    """The fault options (shared with `pyhv run --nodes N`, which prefixes them with 'switch-')."""
    p = f"--{prefix}"
    parser.add_argument(f"{p}seed", type=int, default=0, help="seed of every random fault decision")
    parser.add_argument(f"{p}loss", type=parse_probability, default=0.0, help="drop probability per copy (0.05 or 5%%)")
    parser.add_argument(f"{p}dup", type=parse_probability, default=0.0, help="duplication probability per copy")
    parser.add_argument(f"{p}reorder", type=parse_probability, default=0.0,
                        help="probability a copy is held back behind the next one")
    parser.add_argument(f"{p}delay", type=parse_duration, default=0.0, help="fixed delay (e.g. 200us, 2ms)")
    parser.add_argument(f"{p}jitter", type=parse_duration, default=0.0, help="extra uniform delay in [0, J]")
    parser.add_argument(f"{p}bandwidth", type=parse_bandwidth, default=None,
                        help="per-port link rate: 1g (1 Gb/s serialisation), 100m, 10g or bits/s")
    parser.add_argument(f"{p}garbage", type=parse_probability, default=0.0,
                        help="probability a malformed frame follows a copy")
    parser.add_argument(f"{p}garbage-kinds", default="",
                        help="comma-separated subset of: " + ",".join(GARBAGE_KINDS))


def faults_from_args(args: argparse.Namespace, prefix: str = "") -> FaultConfig:
    p = prefix.replace("-", "_")
    kinds = tuple(k for k in str(getattr(args, f"{p}garbage_kinds")).split(",") if k)
    bad = [k for k in kinds if k not in GARBAGE_KINDS]
    if bad:
        raise ValueError(f"unknown garbage kinds {bad}; kinds: {', '.join(GARBAGE_KINDS)}")
    return FaultConfig(seed=getattr(args, f"{p}seed"), loss=getattr(args, f"{p}loss"), dup=getattr(args, f"{p}dup"),
                       reorder=getattr(args, f"{p}reorder"), delay_s=getattr(args, f"{p}delay"),
                       jitter_s=getattr(args, f"{p}jitter"), bandwidth=getattr(args, f"{p}bandwidth"),
                       garbage=getattr(args, f"{p}garbage"), garbage_kinds=kinds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m pyhv.host.switch", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, required=True, help="socket directory (short path: 108-byte limit)")
    parser.add_argument("--ports", type=int, default=2)
    parser.add_argument("--pcap", type=Path, default=None, help="write every frame sent to a port here")
    parser.add_argument("--stats", type=Path, default=None, help="stats JSON file (default DIR/stats.json)")
    parser.add_argument("--cluster", default="pyhv", help="cluster name (the marker's cluster_id)")
    parser.add_argument("--queue", type=int, default=DEFAULT_QUEUE_FRAMES, help="switch queue per port, frames")
    parser.add_argument("--control", default=None, help="send this command to a running switch and print the reply")
    add_fault_arguments(parser)
    args = parser.parse_args(argv)
    if args.control is not None:
        print(json.dumps(switch_request(args.dir, args.control), indent=1))
        return 0
    try:
        faults = faults_from_args(args)
    except ValueError as err:
        parser.error(str(err))
    stats_path = args.stats if args.stats is not None else args.dir / "stats.json"
    switch = Switch(args.ports, args.dir, faults, args.pcap, args.cluster, args.queue, stats_path)

    def on_dump(signum: int, frame: FrameType | None) -> None:
        switch.request_dump()

    def on_stop(signum: int, frame: FrameType | None) -> None:
        switch.stop(timeout_s=0)

    signal.signal(signal.SIGUSR1, on_dump)
    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    print(f"switch: {args.ports} ports in {args.dir}, stats in {stats_path}", file=sys.stderr, flush=True)
    switch.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
