"""A flat (non-Image) guest whose BSS and stack lie past its file end still finds its initrd and bootargs
intact (issue 13 item 4): tests/boot/raw_guest.c, linked at RAM + 0x80000 (QEMU's place for a raw binary,
and pyhv's: pyhv/core/loader.py), zeroes and fills 16 MiB of BSS, then reads /chosen from the DTB in x0 and
prints the bootargs and the initrd's length and FNV-1a hash. Run on bare QEMU first (which proves the guest
and the test right), then under pyhv; both must report what the test computed from the files it passed."""

from __future__ import annotations

from collections.abc import Callable

import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from compiler.build import BuildResult
from pyhv.host.payload import write_payload
from pyhv.host.qemu import QEMU, RunOptions, run_qemu, run_target

REPO = Path(__file__).resolve().parents[2]
SOURCE = Path(__file__).with_name("raw_guest.c")
LOAD_IPA = 0x4008_0000
BOOTARGS = "raw.test=intact after-the-bss 42"
CROSS = "aarch64-linux-gnu-"
LINKER_SCRIPT = """ENTRY(_start)
SECTIONS {
  . = 0x40080000;
  .text : { *(.text.start) *(.text*) }
  .rodata : { *(.rodata*) }
  .data : { *(.data*) }
  . = ALIGN(16);
  __bss_start = .;
  .bss (NOLOAD) : { *(.bss*) *(COMMON) . = ALIGN(16); . += 0x10000; __stack_top = .; }
  __bss_end = .;
  /DISCARD/ : { *(.comment) *(.note*) *(.eh_frame*) }
}
"""

pytestmark = pytest.mark.qemu


def _fnv1a(data: bytes) -> int:
    h = 2166136261
    for b in data:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


@pytest.fixture(scope="module")
def raw_guest(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which(CROSS + "gcc") is None or shutil.which(QEMU) is None:
        pytest.skip("needs aarch64-linux-gnu-gcc and qemu-system-aarch64")
    d = tmp_path_factory.mktemp("raw-guest")
    (d / "raw.ld").write_text(LINKER_SCRIPT)
    elf, binary = d / "raw.elf", d / "raw.bin"
    # -mstrict-align: with its MMU off the guest's data accesses are Device memory, where an unaligned
    # access faults (the DTB's 64-bit cells are only 4-byte aligned)
    subprocess.run([CROSS + "gcc", "-ffreestanding", "-nostdlib", "-nostartfiles", "-static", "-no-pie",
                    "-fno-pic", "-O2", "-mgeneral-regs-only", "-mstrict-align", "-Wall", "-Werror", "-Wl,--build-id=none", "-Wl,--no-warn-rwx-segments",
                    "-T", str(d / "raw.ld"), "-o", str(elf), str(SOURCE)], check=True)
    subprocess.run([CROSS + "objcopy", "-O", "binary", str(elf), str(binary)], check=True)
    initrd = d / "initrd.bin"
    initrd.write_bytes(random.Random(4).randbytes(1 << 20))
    return binary, initrd


def _check(output: str, binary: Path, initrd: Path) -> int:
    """The guest's report against the files; returns the initrd's IPA."""
    bss = re.search(r"raw-guest: bss 0x([0-9a-f]+)-0x([0-9a-f]+) sp 0x([0-9a-f]+)", output)
    assert bss is not None, output[-3000:]
    file_end = LOAD_IPA + binary.stat().st_size
    start, end, sp = (int(g, 16) for g in bss.groups())
    assert file_end <= start and end - start >= 16 << 20 and start < sp <= end   # all of it past the file
    assert f"raw-guest: bootargs {BOOTARGS}" in output.splitlines()
    got = re.search(r"raw-guest: initrd 0x([0-9a-f]+) (\d+) bytes fnv1a 0x([0-9a-f]+)", output)
    assert got is not None, output[-3000:]
    data = initrd.read_bytes()
    assert int(got.group(2)) == len(data) and int(got.group(3), 16) == _fnv1a(data)
    assert int(got.group(1), 16) >= end                                         # the BSS did not reach it
    assert "raw-guest: done" in output and "FAIL" not in output
    return int(got.group(1), 16)


def test_the_raw_guest_on_bare_qemu(raw_guest: tuple[Path, Path]) -> None:
    binary, initrd = raw_guest
    cmd = [QEMU, "-M", "virt", "-cpu", "cortex-a72", "-m", "512M", "-display", "none", "-monitor", "none",
           "-serial", "stdio", "-no-reboot", "-net", "none", "-kernel", str(binary), "-initrd", str(initrd),
           "-append", BOOTARGS]
    result = run_qemu(cmd, 30.0)
    assert result.ok, result.output
    _check(result.output, binary, initrd)


def test_the_raw_guest_on_pyhv_finds_its_initrd_and_bootargs(built_image: Callable[[str], BuildResult],
                                                            raw_guest: tuple[Path, Path], tmp_path: Path) -> None:
    binary, initrd = raw_guest
    build = built_image("qemu-virt")
    payload = write_payload(tmp_path / "payload.bin", binary, initrd, BOOTARGS)
    options = RunOptions(gic_version=3, cpus=1, mem="512M", timeout_s=30.0,
                         extra_args=("-serial", f"file:{tmp_path / 'pyhv.log'}", "-initrd", str(payload)))
    result = run_target(REPO / "targets" / "qemu-virt", build.out_dir, options)
    assert result.ok, result.output
    assert f"vm: kernel {LOAD_IPA:#x} ({binary.stat().st_size} bytes)" in result.output
    initrd_ipa = _check(result.output, binary, initrd)
    assert initrd_ipa >= LOAD_IPA + binary.stat().st_size + (64 << 20)          # the documented gap
