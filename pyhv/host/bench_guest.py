"""`pyhv bench boot` and `pyhv bench trap`: what running a guest on pyhv costs (docs/bench.md).

  boot  the default Linux guest (build/guest, `pyhv guest build`) boots to its init under pyhv and, in the same
        run, the same kernel + initramfs boots on bare QEMU (same machine, vCPUs and RAM; no hypervisor, so the
        kernel is entered at EL1). The time is the host's wall clock from QEMU's start to the arrival of the line
        `pyhv-guest: init up` on the console; `pyhv.test=` is empty so init powers off at once. Runs alternate
        (pyhv, bare, pyhv, ...) so a change in the machine's load hits both; the median of each is reported.
  trap  a bare-metal guest (TRAP_GUEST, assembled with keystone) times N HVC calls (PSCI_VERSION), N reads of
        emulated registers (GICD_TYPER, the vPL011's FR) and N reads of plain RAM (the baseline: the same loop
        without a trap) with the virtual counter, prints the tick counts on its UART and powers off; the host
        turns them into ticks and nanoseconds (CNTFRQ) per operation.

Both run on QEMU TCG: the numbers compare pyhv with itself and with bare QEMU on one machine, they are not
hardware timings (every guest instruction is emulated, a trap costs what QEMU's exception emulation costs).
"""

from __future__ import annotations

import os
import re
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pyhv.host.boards import load_board
from pyhv.host.payload import guest_qemu_args, write_payload
from pyhv.host.qemu import QEMU, RunOptions, RunResult, run_qemu, run_target

REPO_ROOT = Path(__file__).resolve().parents[2]
VIRT = REPO_ROOT / "targets" / "qemu-virt"
GUEST_RAM_IPA = 0x4000_0000      # the start of guest RAM on qemu-virt
GUEST_RAW_LOAD_IPA = GUEST_RAM_IPA + 0x8_0000   # where a flat binary is entered (pyhv/core/loader.py, as QEMU)
INIT_UP = "pyhv-guest: init up"
BOOT_ARGS = "console=ttyAMA0 panic=-1 pyhv.test="
TCG_NOTE = ("QEMU TCG (software emulation) on the host that ran it: compare the rows with each other, "
            "these are not hardware timings.")


class BenchError(Exception):
    """A benchmark could not run (missing guest, a guest that did not report); the message says why."""


# --- trap round trip --------------------------------------------------------------------------------------

# (report name, register holding the value) in the order TRAP_GUEST prints them.
TRAP_FIELDS = (("n", "x22"), ("cntfrq", "x21"), ("psci", "x18"), ("hvc", "x24"), ("gicd-typer", "x25"),
               ("uart-fr", "x26"), ("ram", "x27"))
GICD_TYPER = 0x0800_0004         # the GIC distributor (emulated by pyhv, GICv2 and GICv3 alike)
UART_FR = 0x0900_0018            # the guest's PL011 flag register (emulated by pyhv)


# Console helpers of the bare-metal guests (x20 = the PL011 data register): `puts` prints the NUL-terminated
# string at x1, `puthex` x0 as 16 hex digits and a newline. Clobber x1-x3.
PRINT_HELPERS = """puts:
    ldrb w3, [x1], #1
    cbz w3, puts_end
    str w3, [x20]
    b puts
puts_end:
    ret

puthex:
    mov x2, #60
puthex_loop:
    lsr x3, x0, x2
    and x3, x3, #0xf
    cmp x3, #10
    b.lt puthex_digit
    add x3, x3, #0x57
    b puthex_out
puthex_digit:
    add x3, x3, #0x30
puthex_out:
    str w3, [x20]
    subs x2, x2, #4
    b.ge puthex_loop
    mov w3, #10
    str w3, [x20]
    ret
"""


def _timed_loop(name: str, body: str, result: str) -> str:
    return f"""
    mov x19, x22
    isb
    mrs x23, cntvct_el0
{name}_loop:
{body}
    subs x19, x19, #1
    b.ne {name}_loop
    isb
    mrs {result}, cntvct_el0
    sub {result}, {result}, x23
"""


def trap_guest_source(iterations: int) -> str:
    """The trap benchmark guest: prints `bench-trap: NAME=HEX` for every TRAP_FIELDS entry, then
    `bench-trap: done`, then PSCI SYSTEM_OFF over HVC."""
    report = "".join(f"""
    adr x1, str_{i}
    bl puts
    mov x0, {reg}
    bl puthex
""" for i, (_, reg) in enumerate(TRAP_FIELDS))
    hvc_body = "    mov x0, x28\n    hvc #0"
    strings = "".join(f'str_{i}:\n    .asciz "bench-trap: {name}="\n' for i, (name, _) in enumerate(TRAP_FIELDS))
    return f"""
    ldr x20, =0x09000000
    mrs x21, cntfrq_el0
    ldr x22, ={iterations}
    ldr x28, =0x84000000
{_timed_loop("hvc", hvc_body, "x24")}
    mov x18, x0
    ldr x9, ={GICD_TYPER:#x}
{_timed_loop("gicd", "    ldr w0, [x9]", "x25")}
    ldr x9, ={UART_FR:#x}
{_timed_loop("uart", "    ldr w0, [x9]", "x26")}
    adr x9, scratch
{_timed_loop("ram", "    ldr w0, [x9]", "x27")}
{report}
    adr x1, str_done
    bl puts
    ldr x0, =0x84000008
    hvc #0
hang:
    b hang

{PRINT_HELPERS}
{strings}str_done:
    .asciz "bench-trap: done\\n"
    .align 3
scratch:
    .quad 0
"""


def assemble(source: str, base: int = GUEST_RAW_LOAD_IPA) -> bytes:
    """A flat AArch64 binary linked at `base` (named labels only: keystone rejects numeric ones)."""
    from keystone import KS_ARCH_ARM64, KS_MODE_LITTLE_ENDIAN, Ks  # type: ignore[import-untyped]

    code, _ = Ks(KS_ARCH_ARM64, KS_MODE_LITTLE_ENDIAN).asm(source, base)
    return bytes(code)


@dataclass(frozen=True)
class TrapReport:
    iterations: int
    cntfrq: int
    psci_version: int                # what the last HVC answered (0x10001: PSCI 1.1, so pyhv handled it)
    ticks: dict[str, int]            # total counter ticks of each loop: hvc, gicd-typer, uart-fr, ram

    def per_op(self, name: str) -> float:
        return self.ticks[name] / self.iterations

    def ns_per_op(self, name: str) -> float:
        return self.per_op(name) * 1e9 / self.cntfrq


def parse_trap_report(lines: list[str]) -> TrapReport:
    """The TrapReport in TRAP_GUEST's console output; BenchError when a field is missing."""
    values: dict[str, int] = {}
    for line in lines:
        match = re.fullmatch(r"bench-trap: ([a-z-]+)=([0-9a-f]{16})", line.strip())
        if match is not None:
            values[match.group(1)] = int(match.group(2), 16)
    missing = [name for name, _ in TRAP_FIELDS if name not in values]
    if missing or "bench-trap: done" not in (line.strip() for line in lines):
        raise BenchError(f"the trap guest's report lacks {', '.join(missing) or 'its end'}")
    if values["n"] == 0 or values["cntfrq"] == 0:
        raise BenchError("the trap guest reported n=0 or cntfrq=0")
    ticks = {name: values[name] for name in ("hvc", "gicd-typer", "uart-fr", "ram")}
    return TrapReport(values["n"], values["cntfrq"], values["psci"], ticks)


def run_trap_guest(out_dir: Path, iterations: int, gic: int = 3, timeout_s: float = 60.0) -> RunResult:
    """Boot TRAP_GUEST once on the pyhv image in out_dir (1 vCPU); the raw run."""
    with tempfile.TemporaryDirectory(prefix="pyhv-trap-") as tmp:
        kernel = Path(tmp) / "trap.bin"
        kernel.write_bytes(assemble(trap_guest_source(iterations)))
        payload = write_payload(Path(tmp) / "payload.bin", kernel, None, "")
        extra = ("-serial", f"file:{Path(tmp) / 'pyhv.log'}", "-initrd", str(payload))
        return run_target(VIRT, out_dir, RunOptions(gic_version=gic, cpus=1, timeout_s=timeout_s,
                                                    extra_args=extra))


def bench_trap(out_dir: Path, iterations: int, repeat: int, gic: int = 3) -> list[str]:
    """Markdown table of the median cost per operation over `repeat` runs of the trap guest."""
    reports = []
    for _ in range(repeat):
        result = run_trap_guest(out_dir, iterations, gic)
        if not result.ok:
            raise BenchError(f"the trap guest did not power off (status {result.exit_status}):\n"
                             + result.output[-2000:])
        reports.append(parse_trap_report(result.lines))
    first = reports[0]
    rows = [("HVC PSCI_VERSION (0x84000000) round trip", "hvc"),
            (f"read of emulated GICD_TYPER ({GICD_TYPER:#x})", "gicd-typer"),
            (f"read of emulated vPL011 FR ({UART_FR:#x})", "uart-fr"),
            ("read of plain guest RAM (baseline, no trap)", "ram")]
    out = [f"pyhv trap round trip, 1 vCPU, GICv{gic}, {iterations} operations per loop, median of {repeat} "
           f"runs; counter {first.cntfrq / 1e6:g} MHz; PSCI_VERSION answered {first.psci_version:#x}",
           "",
           "| operation | guest counter ticks / op | ns / op |",
           "|---|---:|---:|"]
    for label, name in rows:
        ticks = statistics.median(r.per_op(name) for r in reports)
        ns = statistics.median(r.ns_per_op(name) for r in reports)
        out.append(f"| {label} | {ticks:.2f} | {ns:,.0f} |")
    return out + ["", TCG_NOTE]


# --- boot time --------------------------------------------------------------------------------------------

def linux_guest(guest_dir: Path) -> tuple[Path, Path]:
    kernel, initrd = guest_dir / "Image", guest_dir / "initramfs.cpio"
    if not (kernel.is_file() and initrd.is_file()):
        raise BenchError(f"no guest in {guest_dir}: run `pyhv guest build` first")
    return kernel, initrd


def bare_qemu_command(kernel: Path, initrd: Path, gic: int, cpus: int, mem: str) -> list[str]:
    """The same QEMU virt machine as pyhv's, minus the hypervisor: the kernel is QEMU's -kernel at EL1."""
    board = load_board(VIRT)
    return [QEMU, "-M", f"virt,gic-version={gic}", "-cpu", board.cpu_model, "-smp", str(cpus), "-m", mem,
            "-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot", "-net", "none",
            "-kernel", str(kernel), "-initrd", str(initrd), "-append", BOOT_ARGS]


def _runs(times: list[float]) -> str:
    return ", ".join(f"{t:.2f}" for t in times)


def _time_to_init(result: RunResult, what: str) -> float:
    hit = result.first_line(INIT_UP)
    if hit is None:
        raise BenchError(f"{what}: no `{INIT_UP}` line (status {result.exit_status}):\n{result.output[-2000:]}")
    return hit[0]


def bench_boot(out_dir: Path, guest_dir: Path, cpus: int, gic: int, repeat: int, mem: str = "512M",
               timeout_s: float = 180.0) -> list[str]:
    """Markdown table: median time from QEMU's start to `pyhv-guest: init up`, pyhv vs bare QEMU."""
    kernel, initrd = linux_guest(guest_dir)
    # More vCPUs than host cores: multi-threaded TCG starves (docs/wfi-policy.md), so both use one thread.
    single = cpus > (os.cpu_count() or 1)
    tcg = ("-accel", "tcg,thread=single") if single else ()
    pyhv_times: list[float] = []
    bare_times: list[float] = []
    with tempfile.TemporaryDirectory(prefix="pyhv-bootbench-") as tmp:
        extra = guest_qemu_args(Path(tmp), kernel, initrd, BOOT_ARGS) + tcg
        for _ in range(repeat):
            options = RunOptions(gic_version=gic, cpus=cpus, mem=mem, timeout_s=timeout_s, extra_args=extra)
            pyhv_times.append(_time_to_init(run_target(VIRT, out_dir, options), "pyhv"))
            bare = run_qemu(bare_qemu_command(kernel, initrd, gic, cpus, mem) + list(tcg), timeout_s)
            bare_times.append(_time_to_init(bare, "bare QEMU"))
    on_pyhv, on_bare = statistics.median(pyhv_times), statistics.median(bare_times)
    mode = "single-threaded TCG" if single else "multi-threaded TCG"
    return [f"boot to init (`{INIT_UP}`), {cpus} vCPU(s), GICv{gic}, {mem} RAM, {mode}, median of {repeat} "
            "alternating runs",
            "",
            "| | QEMU start -> init up, median | fastest | runs (s) |",
            "|---|---:|---:|---|",
            f"| Linux on pyhv | {on_pyhv:.2f} s | {min(pyhv_times):.2f} s | {_runs(pyhv_times)} |",
            f"| Linux on bare QEMU | {on_bare:.2f} s | {min(bare_times):.2f} s | {_runs(bare_times)} |",
            f"| ratio pyhv / bare | {on_pyhv / on_bare:.2f} | {min(pyhv_times) / min(bare_times):.2f} | |",
            "",
            "The fastest run is the one least disturbed by other load on the machine. Bare QEMU's kernel "
            "sees QEMU's whole virt machine (PCIe, virtio-mmio, RTC, flash); under pyhv it sees only the devices "
            "in pyhv's guest FDT.",
            TCG_NOTE]
