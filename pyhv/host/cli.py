"""The `pyhv` command line: build, run and check the hypervisor.

    pyhv build TARGET       transpile the dialect, build the image for a board (targets/qemu-virt, targets/rpi4)
    pyhv run TARGET [...]   boot the image on QEMU, serial console on stdout; exit status is the node's
    pyhv check              mypy --strict on the sources, then the dialect checker on every dialect module
    pyhv guest build        the default Linux guest (Debian arm64 cloud kernel + busybox initramfs)
    pyhv bench compile      compiler and build speed, image size (docs/bench.md)
    pyhv bench boot         Linux boot time to init, on pyhv vs bare QEMU, as a ratio (docs/bench.md)
    pyhv bench trap         trap round trip (HVC, emulated register read) in guest counter ticks
    pyhv sim --seeds N      deterministic multi-node simulation campaign of the cluster protocol

Every failure is reported as one clear message and a non-zero exit status, never a traceback (an internal
error of ours is the exception: it says so and shows the traceback, because it is a bug to report).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_ROOT = REPO_ROOT / "build"


class CliError(Exception):
    """A user-facing failure: printed as `pyhv: error: <message>`, exit status 1."""


def _progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _target_dir(arg: str) -> Path:
    path = Path(arg)
    if not path.is_absolute() and not path.exists():
        path = REPO_ROOT / arg
    if not (path / "board.py").is_file():
        known = sorted(p.parent.name for p in (REPO_ROOT / "targets").glob("*/board.py"))
        raise CliError(f"{arg}: not a target directory (no board.py); known targets: "
                       + ", ".join(f"targets/{k}" for k in known))
    return path.resolve()


def cmd_build(args: argparse.Namespace) -> int:
    from compiler.build import BuildError, build_target

    target = _target_dir(args.target)
    out_dir = BUILD_ROOT / target.name
    try:
        result = build_target(target, out_dir, _progress)
    except BuildError as err:
        raise CliError(f"build of {target.name} failed:\n{err}") from err
    for line in result.summary():
        print(line)
    return 0


def _sdcard_payload(target: Path, out_dir: Path) -> None:
    """SD-card boards (rpi4): the packed payload also goes on the card, with its config.txt line."""
    from compiler.build import BuildError, sdcard_add_payload
    from pyhv.host.boards import OutputFormat, load_board

    board = load_board(target)
    if board.output_format is not OutputFormat.SD_CARD:
        return
    try:
        sdcard_add_payload(board, out_dir, out_dir / "payload.bin")
    except BuildError as err:
        raise CliError(str(err)) from err
    _progress(f"sd card: {out_dir / 'sdcard' / 'payload.bin'} (config.txt: initramfs at {board.payload_addr:#x})")


def cmd_run(args: argparse.Namespace) -> int:
    from pyhv.host.qemu import RunOptions, run_target

    target = _target_dir(args.target)
    out_dir = BUILD_ROOT / target.name
    if args.build:
        cmd_build(args)
    extra: tuple[str, ...] = ()
    if args.kernel is not None:
        from pyhv.host.guest import DEFAULT_BOOTARGS
        from pyhv.host.payload import PayloadError, guest_qemu_args

        append = args.append if args.append is not None else DEFAULT_BOOTARGS
        log_name = "node0.pyhv.log" if args.nodes > 1 else "pyhv.log"
        try:
            extra = guest_qemu_args(out_dir, Path(args.kernel), Path(args.initrd) if args.initrd else None, append,
                                    log_name)
        except PayloadError as err:
            raise CliError(str(err)) from err
        _progress(f"guest payload {out_dir / 'payload.bin'}; pyhv's log goes to {out_dir / log_name}")
        _sdcard_payload(target, out_dir)
    elif args.initrd is not None or args.append is not None:
        raise CliError("--initrd and --append need --kernel")
    tcg: tuple[str, ...] = ("-accel", "tcg,thread=single") if args.single_thread else ()
    if args.nodes > 1:
        return _run_cluster(args, target, out_dir, tcg, extra)
    if args.profile is not None:
        raise CliError("--profile samples the nodes of a cluster run: use it with --nodes 2 or more")
    extra += tcg
    mem = _guest_mem(args, target, out_dir) if args.kernel is not None and args.mem is not None else args.mem
    # With a guest, this process's stdin is the guest console's input (the emulated PL011's receiver).
    options = RunOptions(gic_version=args.gic, cpus=args.cpus, mem=mem,
                         timeout_s=args.timeout, log_path=out_dir / "serial.log", extra_args=extra,
                         stdin=args.kernel is not None)
    result = run_target(target, out_dir, options, echo=True)
    if result.timed_out:
        print(f"pyhv: node did not power off within {args.timeout} s (see {options.log_path})",
              file=sys.stderr)
        return 124
    return result.exit_status


def cmd_prof(args: argparse.Namespace) -> int:
    from pyhv.host.profile import Symbols, elf_symbols, load_profiles, report

    out_dir = BUILD_ROOT / _target_dir(args.target).name
    profiles = load_profiles(out_dir)
    if not profiles:
        raise CliError(f"no profile in {out_dir}: run `pyhv run {args.target} --nodes N --profile 0.25 ...` first")
    elf = out_dir / "pyhv.elf"
    hv = elf_symbols(elf) if elf.is_file() else None
    kallsyms = Path(args.kallsyms) if args.kallsyms else BUILD_ROOT / "guest" / "kallsyms"
    if args.kallsyms and not kallsyms.is_file():
        raise CliError(f"{kallsyms} not found")
    guest = Symbols(kallsyms.read_text()) if kallsyms.is_file() else None
    sys.stdout.write(report(profiles, hv, guest, args.since, args.top))
    return 0


def _guest_mem(args: argparse.Namespace, target: Path, out_dir: Path) -> str:
    """QEMU's -m for `--mem` meaning the guest's RAM: pyhv's share added (pyhv/host/guest_ram.py)."""
    from pyhv.host.boards import load_board
    from pyhv.host.guest_ram import GuestRamError, qemu_mem_for_guest

    board = load_board(target)
    if not board.default_mem:
        raise CliError(f"{board.name}: the machine's RAM is fixed ({board.qemu_machine}); run without --mem")
    elf = out_dir / "pyhv.elf"
    if not elf.is_file():
        raise CliError(f"{elf} not found: build the target first (pyhv build {target})")
    try:
        mem, note = qemu_mem_for_guest(args.mem, board, elf)
    except GuestRamError as err:
        raise CliError(str(err)) from err
    _progress(note)
    return mem


def _run_cluster(args: argparse.Namespace, target: Path, out_dir: Path, extra: tuple[str, ...],
                 guest: tuple[str, ...]) -> int:
    # One cluster. With a guest (`guest` = node 0's payload and log-UART arguments) every node is told
    # pyhv.vm=1: the nodes form the cluster, then run ONE VM across all of them (docs/cluster-vm.md);
    # node 0 owns the guest's console (this process's stdin and stdout).
    from pyhv.host.cluster_run import ClusterOptions, run_cluster
    from pyhv.host.stats_table import format_table, merge_stats, parse_stats
    from pyhv.host.switch_main import faults_from_args

    try:
        delays = tuple(float(d) for d in args.start_delays.split(",") if d) if args.start_delays else ()
        faults = faults_from_args(args, "switch-")
    except ValueError as err:
        raise CliError(f"bad switch option: {err}") from err
    options = ClusterOptions(gic_version=args.gic, cpus=args.cpus, mem=args.mem, timeout_s=args.timeout,
                             start_delays=delays, faults=faults, pcap=args.pcap, echo=True, extra_args=extra,
                             progress=_progress, node0_args=guest, stdin_node0=bool(guest),
                             mtu=args.mtu if args.mtu is not None else (9000 if guest else None),
                             bootargs="pyhv.vm=1" if guest else "", profile_s=args.profile)
    result = run_cluster(target, out_dir, args.nodes, options)
    _progress(f"switch stats in {out_dir / 'switch.json'}" + (f", capture {result.pcap_path}" if args.pcap else ""))
    logs = [n.output for n in result.nodes]
    node0_log = out_dir / "node0.pyhv.log"
    if guest and node0_log.exists():
        logs.append(node0_log.read_text(errors="replace"))
    sys.stdout.write("\n" + format_table(merge_stats([parse_stats(t) for t in logs])))
    if result.timed_out:
        print(f"pyhv: not every node powered off within {args.timeout} s (logs: {out_dir}/node*.log)",
              file=sys.stderr)
        return 124
    return next((n.exit_status or 1 for n in result.nodes if not n.ok), 0)


DIALECT_PACKAGES = ("pyhv/arch", "pyhv/core", "pyhv/drivers", "pyhv/vdev", "pyhv/cluster", "pyhv/dsm")


def dialect_modules() -> list[str]:
    """Every dialect module of the hypervisor (package __init__ files hold only a docstring)."""
    names = []
    for pkg in DIALECT_PACKAGES:
        for path in sorted((REPO_ROOT / pkg).glob("*.py")):
            if path.name != "__init__.py":
                names.append(".".join(path.relative_to(REPO_ROOT).with_suffix("").parts))
    return names


def cmd_check(args: argparse.Namespace) -> int:
    from compiler.api import main as compiler_main

    if not args.no_mypy:
        _progress("mypy --strict pyhv compiler")
        mypy = subprocess.run([sys.executable, "-m", "mypy", "--strict", "pyhv", "compiler"], cwd=REPO_ROOT)
        if mypy.returncode != 0:
            raise CliError("mypy --strict failed (see above)")
    modules = dialect_modules()
    _progress(f"dialect checker on {len(modules)} modules")
    return compiler_main(["check", "--root", str(REPO_ROOT), *modules])


def cmd_guest_kallsyms(args: argparse.Namespace) -> int:
    from pyhv.host.guest_kallsyms import KallsymsError, guest_kallsyms

    _progress("booting the guest kernel once on bare QEMU (nokaslr) to read /proc/kallsyms")
    try:
        path, count = guest_kallsyms(BUILD_ROOT / "guest")
    except KallsymsError as err:
        raise CliError(str(err)) from err
    print(f"kallsyms: {path} ({count} text symbols; profile guests booted with nokaslr)")
    return 0


def cmd_guest_build(args: argparse.Namespace) -> int:
    from pyhv.host.guest import GuestBuildError, build_guest

    try:
        guest = build_guest(BUILD_ROOT / "guest", _progress)
    except GuestBuildError as err:
        raise CliError(str(err)) from err
    print(f"kernel:   {guest.kernel} ({guest.kernel_version})")
    print(f"initrd:   {guest.initrd}")
    print(f"bootargs: {guest.bootargs}")
    return 0


def cmd_bench_compile(args: argparse.Namespace) -> int:
    from pyhv.host.bench import bench_main

    _target_dir(args.target)
    return bench_main(args.target, args.repeat)


def _bench_image(args: argparse.Namespace) -> Path:
    """build/qemu-virt, built first with --build; an error when there is no image to run."""
    target = _target_dir("targets/qemu-virt")
    if args.build:
        cmd_build(argparse.Namespace(target=str(target)))
    out_dir = BUILD_ROOT / target.name
    if not (out_dir / "pyhv.bin").is_file():
        raise CliError(f"{out_dir / 'pyhv.bin'} not found: run `pyhv build targets/qemu-virt` or pass --build")
    return out_dir


def cmd_bench_boot(args: argparse.Namespace) -> int:
    from pyhv.host.bench_guest import BenchError, bench_boot

    out_dir = _bench_image(args)
    _progress(f"boot benchmark: {args.repeat} runs on pyhv and {args.repeat} on bare QEMU")
    try:
        lines = bench_boot(out_dir, BUILD_ROOT / "guest", args.cpus, args.gic, args.repeat, args.mem)
    except BenchError as err:
        raise CliError(str(err)) from err
    print("\n".join(lines))
    return 0


def cmd_bench_trap(args: argparse.Namespace) -> int:
    from pyhv.host.bench_guest import BenchError, bench_trap

    out_dir = _bench_image(args)
    try:
        lines = bench_trap(out_dir, args.iterations, args.repeat, args.gic)
    except BenchError as err:
        raise CliError(str(err)) from err
    print("\n".join(lines))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pyhv", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    build = sub.add_parser("build", help="build the hypervisor image for a target board")
    build.add_argument("target", help="target directory, e.g. targets/qemu-virt or targets/rpi4")
    build.set_defaults(func=cmd_build)

    run = sub.add_parser("run", help="boot the built image on QEMU (serial on stdout)")
    run.add_argument("target", help="target directory, e.g. targets/qemu-virt or targets/rpi4")
    run.add_argument("--gic", type=int, choices=(2, 3), default=None,
                     help="GIC version of the QEMU virt machine (default: the board's)")
    run.add_argument("--cpus", type=int, default=None, help="number of CPUs (default: the board's)")
    run.add_argument("--mem", default=None,
                     help="with --kernel on one node: the guest's RAM (QEMU gets this plus pyhv's share, "
                          "which the launcher prints); with --nodes N, or without --kernel: each node's RAM "
                          "(a cluster VM's guest RAM is the sum of the nodes' home shares, about 3/4 of each "
                          "node after pyhv's share; every node prints its split). QEMU syntax, e.g. 256M or 1G "
                          "(default: the board's node RAM)")
    run.add_argument("--timeout", type=float, default=120.0, help="seconds before the node is stopped")
    run.add_argument("--build", action="store_true", help="build the target first")
    run.add_argument("--kernel", default=None,
                     help="boot this guest kernel (arm64 Image or flat binary) on pyhv instead of the self-test")
    run.add_argument("--initrd", default=None, help="guest initrd (with --kernel)")
    run.add_argument("--append", default=None, help="guest bootargs (with --kernel; default: the guest build's)")
    run.add_argument("--single-thread", action="store_true",
                     help="one QEMU TCG thread for all CPUs (more vCPUs than host cores: see docs/wfi-policy.md)")
    run.add_argument("--nodes", type=int, default=1, help="boot N nodes joined by the cluster switch")
    run.add_argument("--start-delays", default=None, help="per-node start delays in seconds, e.g. 2,0,1")
    run.add_argument("--pcap", action="store_true", help="capture the cluster LAN to build/<target>/lan.pcap")
    run.add_argument("--mtu", type=int, default=None,
                     help="the cluster NICs' MTU (virtio-net host_mtu); default 9000 (one guest page per frame) "
                          "with --kernel, else QEMU's 1500")
    run.add_argument("--profile", type=float, default=None, metavar="S",
                     help="sample every node's CPUs every S seconds into build/<target>/profile<i>.txt "
                          "(report: pyhv prof)")
    from pyhv.host.switch_main import add_fault_arguments

    add_fault_arguments(run, "switch-")
    run.set_defaults(func=cmd_run)

    prof = sub.add_parser("prof", help="where the CPUs of a `pyhv run --profile` spent their time")
    prof.add_argument("target", help="target directory whose build/<target>/profile*.txt to read")
    prof.add_argument("--kallsyms", default=None,
                      help="the guest's symbols (default: build/guest/kallsyms from `pyhv guest kallsyms`, if "
                           "there; the profiled guest must boot with nokaslr)")
    prof.add_argument("--since", type=float, default=0.0, help="only samples from this many seconds on")
    prof.add_argument("--top", type=int, default=15, help="functions listed per node")
    prof.set_defaults(func=cmd_prof)

    check = sub.add_parser("check", help="mypy --strict plus the dialect checker")
    check.add_argument("--no-mypy", action="store_true", help="only run the dialect checker")
    check.set_defaults(func=cmd_check)
    guest = sub.add_parser("guest", help="guest images")
    guest_sub = guest.add_subparsers(dest="guest_command", required=True)
    guest_build = guest_sub.add_parser("build", help="build the default Linux guest under build/guest/")
    guest_build.set_defaults(func=cmd_guest_build)
    guest_kallsyms = guest_sub.add_parser("kallsyms", help="the guest kernel's symbols for `pyhv prof` "
                                                           "-> build/guest/kallsyms")
    guest_kallsyms.set_defaults(func=cmd_guest_kallsyms)
    sub.add_parser("sim", help="deterministic cluster simulation campaign (pyhv sim --help)")
    sub.add_parser("hostile", help="directed hostile-frame campaign against one node (pyhv hostile --help)")

    bench = sub.add_parser("bench", help="benchmarks (results go to docs/bench.md with their command)")
    bench_sub = bench.add_subparsers(dest="bench_command", required=True)
    bench_compile = bench_sub.add_parser("compile", help="dialect compiler and build speed, image size")
    bench_compile.add_argument("target", nargs="?", default="targets/qemu-virt")
    bench_compile.add_argument("--repeat", type=int, default=5)
    bench_compile.set_defaults(func=cmd_bench_compile)
    bench_boot = bench_sub.add_parser("boot", help="Linux boot time to init on pyhv vs bare QEMU (qemu-virt)")
    bench_boot.add_argument("--cpus", type=int, default=1, help="vCPUs (and QEMU CPUs) of both runs")
    bench_boot.add_argument("--gic", type=int, choices=(2, 3), default=3)
    bench_boot.add_argument("--mem", default="512M", help="QEMU RAM of both runs")
    bench_boot.add_argument("--repeat", type=int, default=3, help="runs of each; the median is reported")
    bench_boot.add_argument("--build", action="store_true", help="build targets/qemu-virt first")
    bench_boot.set_defaults(func=cmd_bench_boot)
    bench_trap = bench_sub.add_parser("trap", help="trap round trip cost in guest counter ticks (qemu-virt)")
    bench_trap.add_argument("--iterations", type=int, default=10000, help="operations per timed loop")
    bench_trap.add_argument("--gic", type=int, choices=(2, 3), default=3)
    bench_trap.add_argument("--repeat", type=int, default=3, help="runs; the median is reported")
    bench_trap.add_argument("--build", action="store_true", help="build targets/qemu-virt first")
    bench_trap.set_defaults(func=cmd_bench_trap)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["sim"]:
        # The simulator owns its options (pyhv/sim/cli.py); `pyhv sim --help` lists them.
        from pyhv.sim.cli import sim_main

        return sim_main(argv[1:])
    if argv[:1] == ["hostile"]:
        # The hostile-frame campaign (pyhv/sim/hostile.py, issue 12); `pyhv hostile --help`.
        from pyhv.sim.hostile import hostile_main

        return hostile_main(argv[1:])
    args = _parser().parse_args(argv)
    try:
        status: int = args.func(args)
    except CliError as err:
        print(f"pyhv: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main())
