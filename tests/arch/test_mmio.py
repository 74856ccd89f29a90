"""MMIO dispatch: region table, register rows with width rules, RAZ/WI with rate-limited warnings, and
completion of loads into the trap frame. The device is a tiny fake register table defined here."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pyhv.lang import u8, u32, u64

from pyhv.arch.frame import TrapFrame
from pyhv.core.mmio import (
    MMIO_HANDLED, MMIO_REG_BAD, MMIO_REG_FULL, MMIO_REG_OK, MMIO_REG_OVERLAP, MMIO_UNHANDLED, MMIO_W8, MMIO_W16,
    MMIO_W32, MMIO_W64, MmioAccess, MmioCatalog, MmioDevice, RegRow, mmio_complete_read, mmio_dispatch,
    mmio_load_value, mmio_raz_read, mmio_raz_wi_count, mmio_register, mmio_set_catalog, mmio_wi_write,
)

from .conftest import Board

BASE = 0x0900_0000


class FakeDevice:
    """CTRL (0x0, 32-bit only), DATA (0x8, any width), BANK[16] (0x100, 32-bit, per-vCPU), RSVD (0x200, RAZ/WI)."""

    def __init__(self) -> None:
        self.ctrl = 0
        self.data = 0x1122_3344_5566_7788
        self.writes: list[tuple[str, int, int, int]] = []
        self.rows = (
            RegRow(offset=u32(0x0), size_bytes=u32(4), widths=MMIO_W32, read=self.read_ctrl,
                   write=self.write("ctrl")),
            RegRow(offset=u32(0x100), size_bytes=u32(0x40), widths=MMIO_W32, read=self.read_bank,
                   write=self.write("bank")),
            RegRow(offset=u32(0x8), size_bytes=u32(8), widths=MMIO_W8 | MMIO_W16 | MMIO_W32 | MMIO_W64,
                   read=self.read_data, write=self.write("data")),
            RegRow(offset=u32(0x200), size_bytes=u32(4), widths=MMIO_W32, read=mmio_raz_read, write=mmio_wi_write),
        )

    def read_ctrl(self, vcpu: u32, off: u32) -> u64:
        return u64(self.ctrl)

    def read_data(self, vcpu: u32, off: u32) -> u64:
        return u64(self.data >> (8 * int(off)))

    def read_bank(self, vcpu: u32, off: u32) -> u64:
        return u64(int(vcpu) << 16 | int(off))

    def write(self, name: str) -> Callable[[u32, u32, u64], None]:
        def w(vcpu: u32, off: u32, value: u64) -> None:
            self.writes.append((name, int(vcpu), int(off), int(value)))
        return w

    def record(self) -> MmioDevice:
        return MmioDevice(row_count=lambda: u32(len(self.rows)), row=lambda i: self.rows[int(i)])


@pytest.fixture
def dev(board: Board) -> FakeDevice:
    d = FakeDevice()
    rec = d.record()
    mmio_set_catalog(MmioCatalog(device=lambda i: rec))
    assert mmio_register(u64(BASE), u64(0x1000), u32(0)) == MMIO_REG_OK
    board.cpu.sysregs["cntfrq_el0"] = 1000
    return d


def access(ipa: int, width: int, write: bool = False, value: int = 0) -> MmioAccess:
    a = MmioAccess()
    a.ipa, a.width_bytes, a.is_write, a.value = u64(ipa), u8(width), write, u64(value)
    return a


def test_reads_reach_the_row_with_the_offset_inside_it(dev: FakeDevice) -> None:
    dev.ctrl = 0xABCD
    a = access(BASE, 4)
    assert mmio_dispatch(u32(0), a) == MMIO_HANDLED and a.value == 0xABCD
    a = access(BASE + 0x108, 4)
    assert mmio_dispatch(u32(3), a) == MMIO_HANDLED and a.value == (3 << 16 | 8)


def test_rows_allow_the_widths_they_declare(dev: FakeDevice) -> None:
    for width, off, want in ((1, 0x9, 0x77), (2, 0xA, 0x5566), (4, 0xC, 0x1122_3344), (8, 0x8, dev.data)):
        a = access(BASE + off, width)
        assert mmio_dispatch(u32(0), a) == MMIO_HANDLED and a.value == want


def test_writes_pass_the_value_truncated_to_the_access_width(dev: FakeDevice) -> None:
    assert mmio_dispatch(u32(1), access(BASE + 0x8, 2, True, 0xFFFF_1234)) == MMIO_HANDLED
    assert mmio_dispatch(u32(2), access(BASE + 0x104, 4, True, 0x1_0000_0005)) == MMIO_HANDLED
    assert dev.writes == [("data", 1, 0, 0x1234), ("bank", 2, 4, 5)]


def test_a_width_the_row_forbids_is_raz_wi_with_a_warning(board: Board, dev: FakeDevice) -> None:
    dev.ctrl = 0xFFFF
    a = access(BASE, 2)
    assert mmio_dispatch(u32(0), a) == MMIO_HANDLED and a.value == 0
    assert mmio_dispatch(u32(0), access(BASE, 8, True, 1)) == MMIO_HANDLED
    assert dev.writes == []
    assert int(mmio_raz_wi_count()) == 2
    assert "width not allowed" in board.text() and "0x9000000" in board.text()


def test_an_offset_with_no_row_is_raz_wi_with_a_warning(board: Board, dev: FakeDevice) -> None:
    a = access(BASE + 0x800, 4)
    a.value = u64(99)
    assert mmio_dispatch(u32(0), a) == MMIO_HANDLED and a.value == 0
    assert "no such register" in board.text()


def test_shared_raz_wi_row_functions(dev: FakeDevice, board: Board) -> None:
    a = access(BASE + 0x200, 4)
    assert mmio_dispatch(u32(0), a) == MMIO_HANDLED and a.value == 0
    assert mmio_dispatch(u32(0), access(BASE + 0x200, 4, True, 7)) == MMIO_HANDLED
    assert board.text() == ""                       # a declared reserved row is silent


def test_an_ipa_outside_every_region_is_unhandled(dev: FakeDevice) -> None:
    assert mmio_dispatch(u32(0), access(BASE + 0x1000, 4)) == MMIO_UNHANDLED
    assert mmio_dispatch(u32(0), access(BASE - 4, 4)) == MMIO_UNHANDLED


def test_an_access_running_past_the_region_end_is_raz_wi(dev: FakeDevice) -> None:
    assert mmio_register(u64(0x0A00_0000), u64(6), u32(0)) == MMIO_REG_OK
    a = access(0x0A00_0004, 4)
    assert mmio_dispatch(u32(0), a) == MMIO_HANDLED and a.value == 0


def test_registration_refuses_overlaps_empty_ranges_and_a_full_table(dev: FakeDevice) -> None:
    assert mmio_register(u64(BASE + 0xFFC), u64(8), u32(0)) == MMIO_REG_OVERLAP
    assert mmio_register(u64(BASE - 4), u64(8), u32(0)) == MMIO_REG_OVERLAP
    assert mmio_register(u64(0x1000), u64(0), u32(0)) == MMIO_REG_BAD
    assert mmio_register(u64(0xFFFF_FFFF_FFFF_F000), u64(0x2000), u32(0)) == MMIO_REG_BAD
    for i in range(15):
        assert mmio_register(u64(0x1000_0000 + i * 0x1000), u64(0x1000), u32(0)) == MMIO_REG_OK
    assert mmio_register(u64(0x2000_0000), u64(0x1000), u32(0)) == MMIO_REG_FULL


def test_warnings_are_rate_limited_and_suppressed_ones_counted(board: Board, dev: FakeDevice) -> None:
    board.cpu.sysregs["cntpct_el0"] = 5000
    for _ in range(25):
        mmio_dispatch(u32(0), access(BASE + 0x800, 4))
    assert board.text().count("no such register") == 10
    board.cpu.sysregs["cntpct_el0"] = 6000          # one second of 1000 Hz later
    mmio_dispatch(u32(0), access(BASE + 0x800, 4))
    assert "15 similar messages suppressed" in board.text()
    assert board.text().count("no such register") == 11
    assert int(mmio_raz_wi_count()) == 26


@pytest.mark.parametrize("width,sext,x,value,want", [
    (1, False, False, 0x80, 0x80),
    (1, True, False, 0x80, 0xFFFF_FF80),             # LDRSB Wt: sign-extend to 32, upper half zero
    (1, True, True, 0x80, 0xFFFF_FFFF_FFFF_FF80),    # LDRSB Xt
    (2, True, True, 0x7FFF, 0x7FFF),
    (4, True, True, 0x8000_0000, 0xFFFF_FFFF_8000_0000),
    (4, False, False, 0xFFFF_FFFF_8000_0000, 0x8000_0000),
    (8, False, True, 0xFFFF_FFFF_FFFF_FFFF, 0xFFFF_FFFF_FFFF_FFFF),
    (8, True, False, 0x1_0000_0001, 0x1),            # a 64-bit value into a W register keeps 32 bits
])
def test_load_values_are_extended_like_the_instruction(width: int, sext: bool, x: bool, value: int,
                                                       want: int) -> None:
    a = access(0, width)
    a.value, a.sign_extend, a.sixty_four = u64(value), sext, x
    assert int(mmio_load_value(a)) == want


def test_complete_read_writes_the_register_and_steps_over_the_instruction(board: Board) -> None:
    f = TrapFrame()
    f.elr = u64(0x4000_1000)
    a = access(0, 2)
    a.value, a.sign_extend, a.sixty_four, a.reg = u64(0xFFFE), True, True, u8(7)
    mmio_complete_read(f, a)
    assert int(f.x[7]) == (1 << 64) - 2 and int(f.elr) == 0x4000_1004


def test_complete_read_into_xzr_changes_no_register(board: Board) -> None:
    f = TrapFrame()
    for i in range(31):
        f.x[i] = u64(i)
    f.sp = u64(0x1234)
    a = access(0, 4)
    a.value, a.reg = u64(0xDEAD), u8(31)
    mmio_complete_read(f, a)
    assert [int(f.x[i]) for i in range(31)] == list(range(31)) and int(f.sp) == 0x1234
    assert int(f.elr) == 4
