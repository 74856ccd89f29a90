"""Guest memory accessor: IPA reads/writes through stage 2, and guest VA -> IPA through the guest's own
stage-1 tables (built in mock RAM by guestpt.py), with every failure an error code."""

from __future__ import annotations

import pytest

from pyhv.lang import u32, u64

from pyhv.arch.stage2 import stage2_map_page
from pyhv.arch.stage2_desc import S2_DEVICE, S2_READ, S2_RW
from pyhv.core.guestmem import (
    GUESTMEM_ALIGN, GUESTMEM_FAULT, GUESTMEM_NOT_RAM, GUESTMEM_OK, GUESTMEM_PERM, GUESTMEM_UNMAPPED,
    GUESTMEM_UNSUPPORTED, GuestWord, guestmem_fetch_insn, guestmem_read, guestmem_va_to_ipa, guestmem_write,
)

from .conftest import Board
from .guestpt import (
    GUEST_RAM_IPA, HOST_RAM_PA, PXN, UXN, GuestTables, enable_stage1, setup_guest_ram, tcr,
)


@pytest.fixture
def guest(board: Board) -> Board:
    setup_guest_ram(board)
    return board


def va_to_ipa(va: int, is_fetch: bool = False) -> tuple[int, int]:
    out = GuestWord()
    err = guestmem_va_to_ipa(u64(va), is_fetch, out)
    return int(err), int(out.value)


def test_reads_and_writes_reach_host_ram_through_stage2(guest: Board) -> None:
    assert guestmem_write(u64(GUEST_RAM_IPA + 0x100), u32(8), u64(0x1122_3344_5566_7788)) == GUESTMEM_OK
    assert guest.node.ram.read(HOST_RAM_PA + 0x100, 8) == bytes.fromhex("8877665544332211")
    out = GuestWord()
    for width, want in ((1, 0x88), (2, 0x7788), (4, 0x5566_7788), (8, 0x1122_3344_5566_7788)):
        assert guestmem_read(u64(GUEST_RAM_IPA + 0x100), u32(width), out) == GUESTMEM_OK
        assert out.value == want
    assert guestmem_write(u64(GUEST_RAM_IPA + 0x102), u32(2), u64(0xAAAA_BEEF)) == GUESTMEM_OK
    assert guest.node.ram.read(HOST_RAM_PA + 0x100, 4) == bytes.fromhex("8877efbe")


def test_access_errors_are_codes_not_crashes(guest: Board) -> None:
    out = GuestWord()
    assert guestmem_read(u64(GUEST_RAM_IPA + 2), u32(4), out) == GUESTMEM_ALIGN
    assert guestmem_read(u64(GUEST_RAM_IPA), u32(3), out) == GUESTMEM_ALIGN
    assert guestmem_read(u64(0x1000_0000), u32(4), out) == GUESTMEM_UNMAPPED
    assert guestmem_read(u64(1 << 45), u32(4), out) == GUESTMEM_UNMAPPED
    stage2_map_page(u64(0x0900_0000), u64(0x0900_0000), S2_RW | S2_DEVICE)
    assert guestmem_read(u64(0x0900_0000), u32(4), out) == GUESTMEM_NOT_RAM
    stage2_map_page(u64(0x2000_0000), u64(0x9000_0000), S2_READ)
    assert guestmem_write(u64(0x2000_0000), u32(4), u64(1)) == GUESTMEM_PERM
    assert guestmem_read(u64(0x2000_0000), u32(4), out) == GUESTMEM_OK


def test_with_stage1_off_va_is_ipa(guest: Board) -> None:
    guest.cpu.sysregs["sctlr_el1"] = 0
    assert va_to_ipa(0x4012_3456) == (GUESTMEM_OK, 0x4012_3456)


def test_48_bit_ttbr0_walk_uses_four_levels(guest: Board) -> None:
    pt = GuestTables(guest, 48)
    assert pt.start_level() == 0
    pt.map(0x0000_7FAB_CDE1_2000, GUEST_RAM_IPA + 0x5000)
    enable_stage1(guest, tcr(t0sz=16), ttbr0=pt.root)
    assert va_to_ipa(0x0000_7FAB_CDE1_2ABC) == (GUESTMEM_OK, GUEST_RAM_IPA + 0x5ABC)
    assert va_to_ipa(0x0000_7FAB_CDE1_3000)[0] == GUESTMEM_FAULT


def test_39_bit_region_starts_at_level_1(guest: Board) -> None:
    pt = GuestTables(guest, 39)
    assert pt.start_level() == 1
    pt.map(0x0000_0040_0060_1000, GUEST_RAM_IPA + 0x7000)
    enable_stage1(guest, tcr(t0sz=25), ttbr0=pt.root)
    assert va_to_ipa(0x0000_0040_0060_1008) == (GUESTMEM_OK, GUEST_RAM_IPA + 0x7008)
    assert va_to_ipa(0x0000_0080_0000_0000)[0] == GUESTMEM_FAULT     # beyond the 39-bit region


def test_40_bit_region_has_a_two_entry_level_0(guest: Board) -> None:
    pt = GuestTables(guest, 40)
    assert pt.start_level() == 0
    pt.map(0x0000_0080_1234_5000, GUEST_RAM_IPA + 0x9000)
    enable_stage1(guest, tcr(t0sz=24), ttbr0=pt.root)
    assert va_to_ipa(0x0000_0080_1234_5FFC) == (GUESTMEM_OK, GUEST_RAM_IPA + 0x9FFC)


def test_kernel_addresses_walk_ttbr1(guest: Board) -> None:
    low, high = GuestTables(guest, 48), GuestTables(guest, 48)
    high.map(0xFFFF_8000_1000_0000, GUEST_RAM_IPA + 0x20_0000, level=2)
    low.map(0x0000_8000_1000_0000, GUEST_RAM_IPA + 0x40_0000, level=2)
    enable_stage1(guest, tcr(t0sz=16, t1sz=16), ttbr0=low.root, ttbr1=high.root)
    assert va_to_ipa(0xFFFF_8000_1012_3456) == (GUESTMEM_OK, GUEST_RAM_IPA + 0x32_3456)   # 2 MiB block
    assert va_to_ipa(0x0000_8000_1012_3456) == (GUESTMEM_OK, GUEST_RAM_IPA + 0x52_3456)   # same index, TTBR0
    assert va_to_ipa(0xFFF0_8000_1012_3456)[0] == GUESTMEM_FAULT    # TTBR1 half, but not all ones above 48


def test_1g_block_at_level_1(guest: Board) -> None:
    pt = GuestTables(guest, 39)
    pt.map(0x0000_0000_4000_0000, 0x4000_0000, level=1)
    enable_stage1(guest, tcr(t0sz=25), ttbr0=pt.root)
    assert va_to_ipa(0x4567_89AB) == (GUESTMEM_OK, 0x4567_89AB)


def test_non_canonical_addresses_fault_unless_the_top_byte_is_ignored(guest: Board) -> None:
    pt = GuestTables(guest, 48)
    pt.map(0x1000, GUEST_RAM_IPA + 0x3000)
    enable_stage1(guest, tcr(t0sz=16), ttbr0=pt.root)
    assert va_to_ipa(0x5A00_0000_0000_1004)[0] == GUESTMEM_FAULT
    enable_stage1(guest, tcr(t0sz=16, tbi0=1), ttbr0=pt.root)
    assert va_to_ipa(0x5A00_0000_0000_1004) == (GUESTMEM_OK, GUEST_RAM_IPA + 0x3004)


def test_disabled_walks_and_bad_sizes_fault(guest: Board) -> None:
    pt = GuestTables(guest, 48)
    pt.map(0x1000, GUEST_RAM_IPA + 0x3000)
    enable_stage1(guest, tcr(t0sz=16, epd0=1), ttbr0=pt.root)
    assert va_to_ipa(0x1000)[0] == GUESTMEM_FAULT
    enable_stage1(guest, tcr(t0sz=12), ttbr0=pt.root)
    assert va_to_ipa(0x1000)[0] == GUESTMEM_FAULT


@pytest.mark.parametrize("fields", [dict(tg0=0b10), dict(tg0=0b01)])
def test_16k_and_64k_ttbr0_granules_are_unsupported(guest: Board, fields: dict[str, int]) -> None:
    enable_stage1(guest, tcr(**fields), ttbr0=GUEST_RAM_IPA)
    assert va_to_ipa(0x1000)[0] == GUESTMEM_UNSUPPORTED


@pytest.mark.parametrize("tg1", [0b01, 0b11])
def test_16k_and_64k_ttbr1_granules_are_unsupported(guest: Board, tg1: int) -> None:
    enable_stage1(guest, tcr(tg1=tg1), ttbr1=GUEST_RAM_IPA)
    assert va_to_ipa(0xFFFF_0000_0000_1000)[0] == GUESTMEM_UNSUPPORTED


def test_tables_outside_guest_ram_are_an_error_not_a_wild_read(guest: Board) -> None:
    enable_stage1(guest, tcr(t0sz=16), ttbr0=0x1234_5000)           # no stage-2 mapping there
    assert va_to_ipa(0x1000)[0] == GUESTMEM_UNMAPPED
    pt = GuestTables(guest, 48)
    pt.write(pt.root, 0x0000_00FF_0000_0000 | 3)                     # level-0 entry -> unmapped IPA
    enable_stage1(guest, tcr(t0sz=16), ttbr0=pt.root)
    assert va_to_ipa(0x1000)[0] == GUESTMEM_UNMAPPED


def test_reserved_and_level0_block_descriptors_fault(guest: Board) -> None:
    pt = GuestTables(guest, 48)
    pt.write(pt.root, GUEST_RAM_IPA | 1)                             # block at level 0: not with 4 KiB
    enable_stage1(guest, tcr(t0sz=16), ttbr0=pt.root)
    assert va_to_ipa(0x1000)[0] == GUESTMEM_FAULT
    pt2 = GuestTables(guest, 39)
    pt2.map(0x2000, GUEST_RAM_IPA)
    l3 = pt2.read(pt2.read(pt2.root) & ~0xFFF) & ~0xFFF              # the level-3 table
    pt2.write(l3 + 16, GUEST_RAM_IPA | 1)                            # 0b01 at level 3 is reserved
    enable_stage1(guest, tcr(t0sz=25), ttbr0=pt2.root)
    assert va_to_ipa(0x2000)[0] == GUESTMEM_FAULT


def test_fetch_from_a_never_executable_page_is_refused(guest: Board) -> None:
    pt = GuestTables(guest, 48)
    pt.map(0x1000, GUEST_RAM_IPA + 0x3000, extra=PXN | UXN)
    enable_stage1(guest, tcr(t0sz=16), ttbr0=pt.root)
    assert va_to_ipa(0x1000, is_fetch=True)[0] == GUESTMEM_PERM
    assert va_to_ipa(0x1000, is_fetch=False) == (GUESTMEM_OK, GUEST_RAM_IPA + 0x3000)


def test_fetch_insn_reads_the_word_at_a_guest_va(guest: Board) -> None:
    pt = GuestTables(guest, 48)
    pt.map(0x4000, GUEST_RAM_IPA + 0x3000)
    enable_stage1(guest, tcr(t0sz=16), ttbr0=pt.root)
    guest.node.ram.write(HOST_RAM_PA + 0x3010, (0xB9400441).to_bytes(4, "little"))
    out = GuestWord()
    assert guestmem_fetch_insn(u64(0x4010), out) == GUESTMEM_OK and out.value == 0xB9400441
    assert guestmem_fetch_insn(u64(0x5010), out) == GUESTMEM_FAULT
