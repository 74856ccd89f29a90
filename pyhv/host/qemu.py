"""QEMU command lines for a board record, and a runner that boots one node (host tooling, not dialect).

    qemu-virt: -M virt,virtualization=on,gic-version=N -cpu cortex-a72 -smp C -m M -kernel pyhv.bin
               (the raw Image with its arm64 header, so QEMU starts it at EL2 with the DTB address in x0)
    rpi4:      -M raspi4b -kernel sdcard/kernel8.img -dtb host.dtb
               (QEMU's raspi loader starts all cores at EL2, parks CPUs 1-3 on the spin table at 0xd8..0xf0,
               and passes the DTB in x0; its first serial port is the PL011 UART0 at 0xfe201000)

The serial console goes to a pipe (-serial stdio), streamed to our stdout (echo) and to a log file, and
captured; its input is this process's stdin (`RunOptions.stdin`: what `pyhv run` does, so a user types into
the guest), a scripted feed (`RunOptions.feed`: after the console printed a text, write bytes; the tests'
way of typing) or nothing; the host's monotonic clock at each line's arrival is kept too (`RunResult.timed_lines`, seconds since
QEMU was started), so a test can compare the guest's sense of time with the host's. `exit_status` is QEMU's
own: 0 only when the node powered itself off (PSCI SYSTEM_OFF on virt, the watchdog reset with -no-reboot on
raspi4b).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from pyhv.host.boards import Board, DtbSource, OutputFormat, load_board

QEMU = "qemu-system-aarch64"


@dataclass(frozen=True)
class RunOptions:
    gic_version: int | None = None   # None: the board's default GIC
    cpus: int | None = None          # None: the board's default_cpus
    mem: str | None = None           # None: the board's default_mem; QEMU syntax ("512M", "1G")
    timeout_s: float = 30.0
    log_path: Path | None = None
    extra_args: tuple[str, ...] = ()
    stdin: bool = False              # the console reads this process's stdin
    # (text, data): once the console's output contains `text` (each searched after the previous one's
    # match), `data` is written to the console's input (kept open until QEMU ends)
    feed: tuple[tuple[str, bytes], ...] = ()


@dataclass
class RunResult:
    command: list[str]
    exit_status: int                 # QEMU's exit status (-9 or similar when we had to kill it)
    timed_out: bool
    output: str                      # everything the node printed on its serial console
    elapsed_s: float = 0.0
    lines: list[str] = field(default_factory=list)
    # (arrival time of the line's newline in seconds since QEMU was started, line) for every console line;
    # an unterminated last line carries the time QEMU ended.
    timed_lines: list[tuple[float, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.exit_status == 0 and not self.timed_out

    def first_line(self, needle: str) -> tuple[float, str] | None:
        """(arrival time, line) of the first console line containing `needle`, or None."""
        return next(((t, line) for t, line in self.timed_lines if needle in line), None)


def _timed_lines(raw: bytes, newline_times: list[float], end_time: float) -> list[tuple[float, str]]:
    """Split raw console bytes at b"\\n" and pair each line with its newline's arrival time."""
    parts = raw.split(b"\n")
    tail = parts.pop()
    out = []
    for i, part in enumerate(parts):
        t = newline_times[i] if i < len(newline_times) else end_time
        out.append((t, part.decode("utf-8", errors="replace").replace("\r", "")))
    if tail:
        out.append((end_time, tail.decode("utf-8", errors="replace").replace("\r", "")))
    return out


def image_path(board: Board, out_dir: Path) -> Path:
    if board.output_format is OutputFormat.SD_CARD:
        return out_dir / "sdcard" / "kernel8.img"
    return out_dir / "pyhv.bin"


def qemu_command(board: Board, out_dir: Path, options: RunOptions) -> list[str]:
    """The full QEMU argv for booting this board's built image once."""
    machine = board.qemu_machine
    gic = board.gic(options.gic_version)
    if board.qemu_machine.startswith("virt"):
        machine += f",gic-version={gic.version}"
    cpus = options.cpus if options.cpus is not None else board.default_cpus
    if cpus < 1 or cpus > board.max_cpus:
        raise ValueError(f"{board.name}: {cpus} CPUs requested, the image supports 1..{board.max_cpus}")
    cmd = [QEMU, "-M", machine, "-cpu", board.cpu_model, "-smp", str(cpus)]
    mem = options.mem if options.mem is not None else board.default_mem
    if mem:
        cmd += ["-m", mem]
    cmd += ["-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot", "-net", "none",
            "-kernel", str(image_path(board, out_dir))]
    if board.dtb_source is DtbSource.GENERATED:
        cmd += ["-dtb", str(out_dir / "host.dtb")]
    return cmd + list(board.qemu_extra_args) + list(options.extra_args)


class Feeder:
    """Scripted console input (RunOptions.feed, ClusterOptions.feed): once the process's output showed a
    feed entry's text, its bytes are written to the process's stdin (QEMU's serial input), in order."""

    def __init__(self, proc: subprocess.Popen[bytes], feed: tuple[tuple[str, bytes], ...]) -> None:
        self.proc = proc
        self.pending = list(feed)
        self.seen = bytearray()         # output since the last match

    def output(self, data: bytes) -> None:
        if not self.pending:
            return
        self.seen.extend(data)
        while self.pending and self.pending[0][0].encode() in self.seen:
            needle, text = self.pending.pop(0)
            del self.seen[:self.seen.index(needle.encode()) + len(needle)]
            assert self.proc.stdin is not None
            try:
                self.proc.stdin.write(text)
                self.proc.stdin.flush()
            except BrokenPipeError:
                self.pending.clear()


def run_qemu(cmd: list[str], timeout_s: float, log_path: Path | None = None, echo: bool = False,
             stdin: bool = False, feed: tuple[tuple[str, bytes], ...] = ()) -> RunResult:
    """Run QEMU, stream its serial output, stop it after timeout_s. Never raises on guest behaviour."""
    start = time.monotonic()
    log = open(log_path, "wb") if log_path is not None else None
    chunks: list[bytes] = []
    newline_times: list[float] = []
    stdin_arg = subprocess.PIPE if feed else None if stdin else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, stdin=stdin_arg, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    feeder = Feeder(proc, feed)

    def pump() -> None:
        assert proc.stdout is not None
        while True:
            data = os.read(proc.stdout.fileno(), 4096)
            if not data:
                return
            feeder.output(data)
            now = time.monotonic() - start
            newline_times.extend([now] * data.count(b"\n"))
            chunks.append(data)
            if log is not None:
                log.write(data)
                log.flush()
            if echo:
                sys.stdout.buffer.write(data)
                sys.stdout.buffer.flush()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    timed_out = False
    try:
        status = proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        proc.kill()
        status = proc.wait()
    reader.join(timeout=5)
    if log is not None:
        log.close()
    raw = b"".join(chunks)
    elapsed = time.monotonic() - start
    text = raw.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "")
    return RunResult(cmd, status, timed_out, text, elapsed, text.splitlines(),
                     _timed_lines(raw, newline_times, elapsed))


def run_target(target_dir: Path, out_dir: Path, options: RunOptions, echo: bool = False) -> RunResult:
    """Boot the already-built image of target_dir (build/<board> in out_dir) once on QEMU."""
    board = load_board(target_dir)
    image = image_path(board, out_dir)
    if not image.exists():
        raise FileNotFoundError(f"{image} not found: build the target first (pyhv build {target_dir})")
    if options.log_path is not None:
        options.log_path.parent.mkdir(parents=True, exist_ok=True)
    return run_qemu(qemu_command(board, out_dir, options), options.timeout_s, options.log_path, echo,
                    options.stdin, options.feed)
