"""compiler/board_gen.py: EL2 stage-1 tables and the generated rpi4 host DTB, checked against the board
records and decoded by a real DTB tool (dtc)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from compiler.board_gen import DEVICE_BLOCK, NORMAL_BLOCK, board_header_source, host_dtb, mmu_layout
from pyhv.host.boards import Board, RegionKind, load_board

REPO = Path(__file__).resolve().parents[2]
GIB = 1 << 30
MIB2 = 2 << 20
_LOW_ATTRS = (1 << 12) - 1


def _board(name: str) -> Board:
    return load_board(REPO / "targets" / name)


def _walk(board: Board, addr: int) -> int | None:
    """Descriptor that maps addr (block descriptor at level 1 or 2), None if unmapped."""
    l1, l2 = mmu_layout(board)
    entry = l1[addr // GIB]
    if entry is None:
        entry = l2[addr // GIB][(addr % GIB) // MIB2]
    return entry or None


def test_virt_ram_is_normal_cacheable_and_uart_is_device_execute_never() -> None:
    virt = _board("qemu-virt")
    ram = _walk(virt, virt.load_addr)
    uart = _walk(virt, virt.uart_base)
    assert ram is not None and ram & _LOW_ATTRS == NORMAL_BLOCK & _LOW_ATTRS
    assert uart is not None and uart & ((1 << 48) - 1) & ~(GIB - 1) == 0 and uart & (1 << 54)
    assert uart & _LOW_ATTRS == DEVICE_BLOCK & _LOW_ATTRS


def test_rpi4_mixed_gib_uses_2mib_blocks_split_at_the_peripherals() -> None:
    rpi = _board("rpi4")
    l1, l2 = mmu_layout(rpi)
    assert l1[3] is None and 3 in l2                       # 3-4 GiB holds RAM and peripherals
    below = _walk(rpi, 0xFC00_0000 - MIB2)
    above = _walk(rpi, 0xFC00_0000)
    assert below is not None and below & _LOW_ATTRS == NORMAL_BLOCK & _LOW_ATTRS
    assert above is not None and above & _LOW_ATTRS == DEVICE_BLOCK & _LOW_ATTRS
    assert above & ~(MIB2 - 1) & ((1 << 48) - 1) == 0xFC00_0000
    for addr in (rpi.uart_base, rpi.gic(2).dist_base, rpi.watchdog_base):
        d = _walk(rpi, addr)
        assert d is not None and d & (1 << 54), hex(addr)


def test_every_region_of_every_board_is_mapped_with_its_kind() -> None:
    for name in ("qemu-virt", "rpi4"):
        board = _board(name)
        for region in board.memory_map:
            for addr in (region.base, region.end - 1):
                d = _walk(board, addr)
                assert d is not None
                normal = d & _LOW_ATTRS == NORMAL_BLOCK & _LOW_ATTRS
                assert normal == (region.kind is RegionKind.RAM), (name, hex(addr))


def test_board_header_carries_the_record_values() -> None:
    rpi = _board("rpi4")
    text = board_header_source(rpi)
    assert "#define BOARD_MAX_CPUS 4" in text
    assert f"#define BOARD_STACK_SIZE {rpi.stack_size_bytes:#x}" in text
    assert "#define BOARD_LOAD_ADDR 0x200000" in text
    assert "#define BOARD_BOOT_METHOD_SPIN_TABLE 1" in text
    assert "BOARD_BOOT_METHOD_PSCI" in board_header_source(_board("qemu-virt"))


@pytest.mark.skipif(shutil.which("dtc") is None, reason="dtc not installed")
def test_rpi4_host_dtb_decodes_with_spin_table_cpus_gic400_and_pl011(tmp_path: Path) -> None:
    blob = tmp_path / "host.dtb"
    blob.write_bytes(host_dtb(_board("rpi4")))
    dts = subprocess.run(["dtc", "-I", "dtb", "-O", "dts", str(blob)], capture_output=True, text=True,
                         check=True).stdout
    assert dts.count('enable-method = "spin-table";') == 4
    for release in ("0xd8", "0xe0", "0xe8", "0xf0"):
        assert f"cpu-release-addr = <0x00 {release}>;" in dts
    assert 'compatible = "arm,gic-400";' in dts
    assert "reg = <0x00 0xff841000 0x00 0x1000 0x00 0xff842000 0x00 0x2000" in dts
    assert "serial@fe201000" in dts and '"arm,pl011' in dts
    assert 'compatible = "brcm,bcm2835-pm-wdt";' in dts
    assert "psci" not in dts
    assert "/memreserve/\t0x0000000000000000 0x0000000000001000;" in dts
