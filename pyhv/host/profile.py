"""A sampling profiler for QEMU nodes (host tooling, not dialect): `pyhv run ... --nodes N --profile S`
samples where every CPU of every node is, every S seconds, and `pyhv prof build/<target>` says in which
function (pyhv's at EL2, the guest's at EL1/EL0) the time went.

How: each node's QEMU gets an HMP monitor on a UNIX socket (`-monitor unix:SOCK/mon<i>.sock,server,nowait`);
a thread per node sends `stop`, `info registers -a` and `cont` each period and appends one line per CPU to
OUT/profile<i>.txt: `<seconds since the run began> <cpu> <EL> <PC in hex>`. The node is stopped for the few
milliseconds the register dump takes, so the samples perturb what they measure a little (more with shorter
periods); they are for finding where the time goes, not for timing.

The report maps an EL2 PC to pyhv's symbols (`aarch64-linux-gnu-nm` of OUT/pyhv.elf) and an EL1 PC to the
guest kernel's, given its /proc/kallsyms (boot the guest with `nokaslr`, or the addresses will not match).
Samples are real CPU time only on a host with a core per vCPU: on an oversubscribed host a CPU that QEMU
does not run still shows the PC it stopped at.
"""

from __future__ import annotations

import bisect
import re
import socket
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

CPU_RE = re.compile(r"^CPU#(\d+)\s*$", re.M)
PC_RE = re.compile(r"\bPC=([0-9a-f]{16})\b")
EL_RE = re.compile(r"\bPSTATE=[0-9a-f]+ \S+ EL(\d)[ht]\b")
PROMPT = b"(qemu) "


@dataclass(frozen=True)
class Sample:
    t: float        # seconds since the sampler started
    cpu: int
    el: int
    pc: int


def monitor_socket_path(sock_dir: Path, index: int) -> Path:
    return sock_dir / f"mon{index}.sock"


def monitor_args(sock_dir: Path, index: int) -> tuple[str, ...]:
    """The QEMU arguments that give node `index` the monitor the sampler talks to."""
    return ("-monitor", f"unix:{monitor_socket_path(sock_dir, index)},server,nowait")


def parse_registers(text: str, t: float) -> list[Sample]:
    """The samples in one `info registers -a` dump: one per CPU that has a PC and a PSTATE."""
    out: list[Sample] = []
    heads = list(CPU_RE.finditer(text))
    for i, head in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
        body = text[head.end():end]
        pc, el = PC_RE.search(body), EL_RE.search(body)
        if pc is not None and el is not None:
            out.append(Sample(t, int(head.group(1)), int(el.group(1)), int(pc.group(1), 16)))
    return out


def format_sample(s: Sample) -> str:
    return f"{s.t:.3f} {s.cpu} {s.el} {s.pc:x}"


def parse_samples(text: str) -> list[Sample]:
    out = []
    for line in text.splitlines():
        f = line.split()
        if len(f) == 4:
            out.append(Sample(float(f[0]), int(f[1]), int(f[2]), int(f[3], 16)))
    return out


class _Monitor:
    """One HMP connection: `command` sends a line and returns what QEMU printed up to the next prompt."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5.0)
        self.sock.connect(str(path))
        self.buf = b""
        self._until_prompt()            # the banner

    def _until_prompt(self) -> str:
        while PROMPT not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("monitor closed")
            self.buf += chunk
        text, _, self.buf = self.buf.partition(PROMPT)
        return text.decode(errors="replace")

    def command(self, line: str) -> str:
        self.sock.sendall(line.encode() + b"\n")
        return self._until_prompt()

    def close(self) -> None:
        self.sock.close()


@dataclass
class Sampler:
    """Samples node `index` through its monitor socket every `period_s` into `out_path` until stopped.
    A node that is not up yet is retried; one that went away ends its sampler."""
    index: int
    sock_path: Path
    out_path: Path
    period_s: float
    samples: int = 0
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"prof{self.index}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _connect(self) -> _Monitor | None:
        while not self._stop.is_set():
            try:
                return _Monitor(self.sock_path)
            except OSError:
                self._stop.wait(0.1)
        return None

    def _run(self) -> None:
        started = time.monotonic()
        mon = self._connect()
        if mon is None:
            return
        with open(self.out_path, "w") as out:
            try:
                while not self._stop.wait(self.period_s):
                    mon.command("stop")
                    text = mon.command("info registers -a")
                    mon.command("cont")
                    for s in parse_registers(text, time.monotonic() - started):
                        out.write(format_sample(s) + "\n")
                        self.samples += 1
            except (OSError, ConnectionError) as err:
                self.errors.append(str(err))     # the node exited
            finally:
                mon.close()


class Symbols:
    """Address -> function name, from `nm -n` output or /proc/kallsyms (both `ADDR TYPE NAME` lines)."""

    def __init__(self, text: str) -> None:
        pairs: list[tuple[int, str]] = []
        for line in text.splitlines():
            f = line.split()
            if len(f) >= 3 and f[1] in "tTwW" and len(f[1]) == 1:
                pairs.append((int(f[0], 16), f[2]))
        pairs.sort()
        self.addrs = [a for a, _ in pairs]
        self.names = [n for _, n in pairs]
        self.wfi: set[int] = set()
        self.wfe: list[int] = []

    def set_wait_instructions(self, found: list[tuple[int, str]]) -> None:
        self.wfi = {a for a, insn in found if insn == "wfi"}
        self.wfe = sorted(a for a, insn in found if insn == "wfe")

    def name(self, addr: int) -> str | None:
        i = bisect.bisect_right(self.addrs, addr) - 1
        return self.names[i] if i >= 0 else None


WAIT_INSN_RE = re.compile(r"^\s*([0-9a-f]+):\s+[0-9a-f]{8}\s+(wfi|wfe)\b", re.M)
SPIN_WINDOW = 16        # bytes either side of a WFE that count as its loop (a ticket lock's load, compare, WFE)


def elf_symbols(elf: Path, tools: str = "aarch64-linux-gnu-") -> Symbols:
    """pyhv's functions, and where its WFI and WFE instructions are (`objdump -d`)."""
    syms = Symbols(subprocess.run([tools + "nm", "-n", str(elf)], check=True, capture_output=True, text=True).stdout)
    dis = subprocess.run([tools + "objdump", "-d", str(elf)], check=True, capture_output=True, text=True).stdout
    syms.set_wait_instructions([(int(a, 16), insn) for a, insn in WAIT_INSN_RE.findall(dis)])
    return syms


def _wait_kind(syms: Symbols, pc: int) -> str | None:
    # QEMU reports a CPU halted in WFI at the instruction after it; a CPU in a WFE loop (WFE does not sleep
    # under multi-threaded TCG) anywhere in the few instructions around the WFE.
    if syms.wfi and pc - 4 in syms.wfi:
        return "wfi"
    i = bisect.bisect_left(syms.wfe, pc - SPIN_WINDOW)
    if i < len(syms.wfe) and syms.wfe[i] <= pc + SPIN_WINDOW:
        return "wfe spin"
    return None


def where(s: Sample, hv: Symbols | None, guest: Symbols | None) -> str:
    """The bucket a sample counts in: `EL2 <pyhv function>` (with ` [wfi]` when halted in a WFI, ` [wfe spin]`
    in a WFE loop: a lock's wait), `EL1 <guest function>` or just the level."""
    table = hv if s.el == 2 else guest if s.el == 1 else None
    name = table.name(s.pc) if table is not None else None
    if name is None or table is None:
        return f"EL{s.el}"
    kind = _wait_kind(table, s.pc)
    return f"EL{s.el} {name}" + (f" [{kind}]" if kind is not None else "")


def report(samples_by_node: dict[int, list[Sample]], hv: Symbols | None, guest: Symbols | None,
           since_s: float = 0.0, top: int = 15) -> str:
    """Per node: the samples, the share at each exception level, the `top` functions."""
    lines: list[str] = []
    for node in sorted(samples_by_node):
        samples = [s for s in samples_by_node[node] if s.t >= since_s]
        lines.append(f"node {node}: {len(samples)} samples over {len({s.cpu for s in samples})} CPUs"
                     + (f" (from {since_s:g} s)" if since_s else ""))
        if not samples:
            continue
        levels = Counter(s.el for s in samples)
        lines.append("  " + ", ".join(f"EL{el} {100 * n / len(samples):.1f} %" for el, n in sorted(levels.items())))
        for name, n in Counter(where(s, hv, guest) for s in samples).most_common(top):
            lines.append(f"  {100 * n / len(samples):5.1f} %  {n:6d}  {name}")
    return "\n".join(lines) + "\n"


def load_profiles(out_dir: Path) -> dict[int, list[Sample]]:
    found: dict[int, list[Sample]] = {}
    for path in sorted(out_dir.glob("profile*.txt")):
        m = re.fullmatch(r"profile(\d+)\.txt", path.name)
        if m is not None:
            found[int(m.group(1))] = parse_samples(path.read_text())
    return found
