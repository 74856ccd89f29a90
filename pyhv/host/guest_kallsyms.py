"""The guest kernel's symbols for the profiler (host tooling, not dialect): `pyhv guest kallsyms` boots the
default guest kernel once on bare QEMU (no hypervisor) with `nokaslr` and a one-file initramfs whose /init
prints /proc/kallsyms, and keeps the text symbols in build/guest/kallsyms. Debian's kernel package ships
only a placeholder System.map (the real one is in the -dbg package), so the running kernel is asked.

The addresses are those of a `nokaslr` boot: a profiled guest must be booted with `nokaslr` too
(`pyhv run ... --append "... nokaslr"`), or its EL1 samples will not match."""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

from pyhv.host.bench_guest import bare_qemu_command
from pyhv.host.cpio import CpioWriter
from pyhv.host.qemu import run_qemu

BEGIN, END = "pyhv-kallsyms: begin", "pyhv-kallsyms: end"
INIT = f"""#!/bin/sh
/bin/busybox mount -t proc proc /proc
echo 0 > /proc/sys/kernel/kptr_restrict
echo "{BEGIN}"
/bin/busybox grep ' [tTwW] ' /proc/kallsyms
echo "{END}"
/bin/busybox poweroff -f
"""
SYMBOL_RE = re.compile(r"^[0-9a-f]{16} [tTwW] \S+", re.M)


class KallsymsError(Exception):
    pass


def extract_kallsyms(kernel: Path, busybox: bytes, out: Path, timeout_s: float = 300.0) -> int:
    """Boot `kernel` on bare QEMU, write its text symbols to `out`; the number of symbols."""
    with tempfile.TemporaryDirectory(prefix="pyhv-kallsyms-") as tmp:
        cpio = CpioWriter()
        for d in ("bin", "proc"):
            cpio.add_dir(d)
        cpio.add_file("bin/busybox", busybox, 0o755)
        cpio.add_symlink("bin/sh", "busybox")
        cpio.add_file("init", INIT.encode(), 0o755)
        initrd = Path(tmp) / "kallsyms.cpio"
        initrd.write_bytes(cpio.finish())
        cmd = bare_qemu_command(kernel, initrd, 3, 1, "512M")
        cmd[cmd.index("-append") + 1] = "console=ttyAMA0 nokaslr panic=-1 quiet"
        result = run_qemu(cmd, timeout_s)
    text = result.output.replace("\r", "")
    begin, end = text.find(BEGIN), text.find(END)
    if begin < 0 or end < begin:
        raise KallsymsError(f"the guest did not print its symbols (status {result.exit_status}):\n{text[-2000:]}")
    lines = SYMBOL_RE.findall(text[begin:end])
    if not lines or all(line.startswith("0000000000000000") for line in lines):
        raise KallsymsError("the guest printed no symbol addresses (kptr_restrict?)")
    out.write_text("\n".join(lines) + "\n")
    return len(lines)


def guest_kallsyms(guest_dir: Path) -> tuple[Path, int]:
    """guest_dir/kallsyms from the guest build in guest_dir (`pyhv guest build`): its path and symbol count."""
    kernel = guest_dir / "Image"
    debs = sorted((guest_dir / "debs").glob("busybox-static_*.deb"))
    if not kernel.is_file() or not debs:
        raise KallsymsError(f"no guest build in {guest_dir}: run `pyhv guest build` first")
    with tempfile.TemporaryDirectory(prefix="pyhv-busybox-") as tmp:
        subprocess.run(["dpkg-deb", "-x", str(debs[-1]), tmp], check=True, capture_output=True)
        busybox = (Path(tmp) / "bin" / "busybox").read_bytes()
    out = guest_dir / "kallsyms"
    return out, extract_kallsyms(kernel, busybox, out)
