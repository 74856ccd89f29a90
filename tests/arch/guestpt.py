"""Builds a guest's stage-1 page tables (VMSAv8-64, 4 KiB granule) in the guest RAM of a mock node, for the
guest-memory and decoder tests. Guest RAM is GUEST_RAM_IPA.. mapped by stage 2 to HOST_RAM_PA..; the
builder writes through the host addresses directly (it is the test's view of the guest, not pyhv's)."""

from __future__ import annotations

from pyhv.lang import u32, u64

from pyhv.arch.stage2 import stage2_init, stage2_map_range
from pyhv.arch.stage2_desc import S2_RWX

from .conftest import Board

POOL = 0x7000_0000
GUEST_RAM_IPA = 0x4000_0000
HOST_RAM_PA = 0x8000_0000
GUEST_RAM_SIZE = 16 << 20

PAGE = 3            # level-3 page descriptor bits[1:0]
TABLE = 3
BLOCK = 1
AF = 1 << 10
PXN, UXN = 1 << 53, 1 << 54


def setup_guest_ram(board: Board) -> None:
    board.cpu.sysregs["id_aa64mmfr0_el1"] = 0b0101
    stage2_init(u64(POOL), u32(64))
    stage2_map_range(u64(GUEST_RAM_IPA), u64(HOST_RAM_PA), u64(GUEST_RAM_SIZE), S2_RWX)


class GuestTables:
    """Allocates table pages from the top of guest RAM downward (shared by every GuestTables of a board);
    maps VAs to IPAs."""

    def __init__(self, board: Board, va_bits: int) -> None:
        self.board, self.va_bits = board, va_bits
        if board.guest_table_next == 0:
            board.guest_table_next = GUEST_RAM_IPA + GUEST_RAM_SIZE
        self.root = self.alloc()

    def alloc(self) -> int:
        self.board.guest_table_next -= 4096
        return self.board.guest_table_next

    def host(self, ipa: int) -> int:
        assert GUEST_RAM_IPA <= ipa < GUEST_RAM_IPA + GUEST_RAM_SIZE
        return ipa - GUEST_RAM_IPA + HOST_RAM_PA

    def read(self, ipa: int) -> int:
        return int.from_bytes(self.board.node.ram.read(self.host(ipa), 8), "little")

    def write(self, ipa: int, v: int) -> None:
        self.board.node.ram.write(self.host(ipa), v.to_bytes(8, "little"))

    def start_level(self) -> int:
        return 4 - (self.va_bits - 12 + 8) // 9

    def map(self, va: int, ipa: int, level: int = 3, extra: int = 0) -> None:
        table = self.root
        for lv in range(self.start_level(), level):
            shift = 12 + 9 * (3 - lv)
            slot = table + 8 * ((va >> shift) & 0x1FF)
            d = self.read(slot)
            if d & 1 == 0:
                d = self.alloc() | TABLE
                self.write(slot, d)
            table = d & 0x0000_FFFF_FFFF_F000
        shift = 12 + 9 * (3 - level)
        self.write(table + 8 * ((va >> shift) & 0x1FF), ipa | AF | extra | (PAGE if level == 3 else BLOCK))

    def raw_write(self, va_level_slot: int, v: int) -> None:
        self.write(va_level_slot, v)


def tcr(t0sz: int = 16, t1sz: int = 16, tg0: int = 0b00, tg1: int = 0b10, epd0: int = 0, epd1: int = 0,
        tbi0: int = 0, tbi1: int = 0) -> int:
    return (t0sz | (epd0 << 7) | (tg0 << 14) | (t1sz << 16) | (epd1 << 23) | (tg1 << 30)
            | (tbi0 << 37) | (tbi1 << 38))


def enable_stage1(board: Board, tcr_value: int, ttbr0: int = 0, ttbr1: int = 0) -> None:
    regs = board.cpu.sysregs
    regs["sctlr_el1"] = 1
    regs["tcr_el1"] = tcr_value
    regs["ttbr0_el1"] = ttbr0 | (0x42 << 48)        # an ASID in the top bits must not disturb the walk
    regs["ttbr1_el1"] = ttbr1
