"""End-to-end boot of the real image (dialect -> C -> gcc -> link) on QEMU: qemu-virt on GICv3 and GICv2
with two CPU/RAM settings each, rpi4 on raspi4b. Every assertion reads what the image printed on its serial
console (lines documented in docs/boot-log.md) and QEMU's exit status (0 = the node powered itself off)."""

from __future__ import annotations

from collections.abc import Callable

import re
import struct
from pathlib import Path

import pytest

from compiler.build import BuildResult
from pyhv.host.qemu import RunOptions, RunResult, run_target

REPO = Path(__file__).resolve().parents[2]
BOOT_TIMEOUT_S = 30.0
TIMER_PPI = 26            # EL2 physical timer (CNTHP), PPI 10 = INTID 26, on both boards

pytestmark = pytest.mark.qemu


def _build(built_image: Callable[[str], BuildResult], target: str) -> BuildResult:
    return built_image(target)


@pytest.fixture(scope="session")
def virt_build(built_image: Callable[[str], BuildResult]) -> BuildResult:
    return _build(built_image, "qemu-virt")


@pytest.fixture(scope="session")
def rpi4_build(built_image: Callable[[str], BuildResult]) -> BuildResult:
    return _build(built_image, "rpi4")


def _boot(build: BuildResult, options: RunOptions) -> RunResult:
    target = REPO / "targets" / build.board.name
    return run_target(target, build.out_dir, options)


def _assert_common_boot_log(result: RunResult, cpus: int, gic: int) -> None:
    out = result.output
    assert not result.timed_out, f"no power-off within {BOOT_TIMEOUT_S} s:\n{out}"
    assert re.search(r"^pyhv \S+: EL2 on ", out, re.M), out
    assert re.search(rf"^cpus: {cpus}$", out, re.M), out
    m = re.search(rf"^gic: v{gic}, (\d+) irqs$", out, re.M)
    assert m and int(m.group(1)) >= 64, out
    for cpu in range(cpus):
        assert re.search(rf"^cpu {cpu}: mpidr 0x[0-9a-f]+ timer irq {TIMER_PPI} ok$", out, re.M), out
    assert re.search(r"^trap: ESR_EL2=0x[0-9a-f]+ ELR_EL2=0x[0-9a-f]+ <pyhv_trap_selftest\+0x[0-9a-f]+>$",
                     out, re.M), out
    assert re.search(r"^frame check: ok$", out, re.M), out
    assert re.search(rf"^all {cpus} cpus took a timer interrupt$", out, re.M), out
    assert result.exit_status == 0, out


@pytest.mark.parametrize("gic", [3, 2])
@pytest.mark.parametrize(("cpus", "mem", "mem_mib"), [(2, "512M", 512), (4, "1G", 1024)])
def test_qemu_virt_boots_and_powers_off(virt_build: BuildResult, tmp_path: Path, gic: int, cpus: int,
                                        mem: str, mem_mib: int) -> None:
    result = _boot(virt_build, RunOptions(gic_version=gic, cpus=cpus, mem=mem, timeout_s=BOOT_TIMEOUT_S,
                                          log_path=tmp_path / "serial.log"))
    _assert_common_boot_log(result, cpus, gic)
    assert re.search(rf"^ram: {mem_mib} MiB at 0x40000000$", result.output, re.M), result.output
    assert (tmp_path / "serial.log").read_text().replace("\r", "") == result.output


def test_rpi4_boots_on_raspi4b_and_powers_off(rpi4_build: BuildResult) -> None:
    result = _boot(rpi4_build, RunOptions(timeout_s=BOOT_TIMEOUT_S))
    _assert_common_boot_log(result, 4, 2)
    m = re.search(r"^ram: (\d+) MiB at 0x0$", result.output, re.M)
    assert m and int(m.group(1)) >= 512, result.output


def test_rpi4_sd_card_holds_an_arm64_image_and_config(rpi4_build: BuildResult) -> None:
    card = rpi4_build.out_dir / "sdcard"
    kernel = (card / "kernel8.img").read_bytes()
    text_offset, image_size, flags = struct.unpack_from("<QQQ", kernel, 8)
    assert kernel[0x38:0x3C] == b"ARM\x64"
    assert text_offset == 0 and flags & 1 == 0                 # little-endian
    assert image_size >= len(kernel) and image_size % 4096 == 0  # covers BSS and the per-CPU stacks
    config = (card / "config.txt").read_text()
    for line in ("arm_64bit=1", "kernel=kernel8.img", "enable_gic=1", "device_tree=host.dtb",
                 f"kernel_address={rpi4_build.board.load_addr:#x}"):
        assert re.search(rf"^{re.escape(line)}$", config, re.M), line
    assert (card / "host.dtb").read_bytes()[:4] == b"\xd0\x0d\xfe\xed"


def test_symbol_table_matches_the_linked_text_addresses(virt_build: BuildResult) -> None:
    gen = (virt_build.out_dir / "gen" / "symtab.S").read_text()
    entries = dict((name, int(addr, 16)) for addr, name in
                   re.findall(r"\.quad\s+(0x[0-9a-f]+), \.Lname(\d+)", gen))
    names = dict(re.findall(r"^\.Lname(\d+): \.asciz \"([^\"]+)\"$", gen, re.M))
    by_name = {names[i]: a for i, a in entries.items()}
    mapfile = (virt_build.out_dir / "pyhv.map").read_text()
    for sym in ("hv_main", "pyhv_trap_selftest", "arch_trap_sync"):
        m = re.search(rf"^\s+0x0*([0-9a-f]+)\s+{sym}$", mapfile, re.M)
        assert m, sym
        assert by_name[sym] == int(m.group(1), 16), sym
