"""Stage-2 tables: VTCR/VTTBR values, boot-time range maps with blocks, run-time per-page map/unmap/
re-protect with block splitting and break-before-make, lookup, pool exhaustion. Tables are checked with the
independent walker in refwalk.py, maintenance with the mock CPU's trace."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from pyhv.lang import Panic, u32, u64
from pyhv.lang.machine import Machine

from pyhv.arch.stage2 import (
    Stage2Lookup, stage2_init, stage2_install, stage2_lookup, stage2_map_page, stage2_map_range,
    stage2_pool_used, stage2_set_perm, stage2_unmap_page, stage2_vtcr, stage2_vttbr,
)
from pyhv.arch.stage2_desc import S2_DEVICE, S2_EXEC, S2_READ, S2_RW, S2_RWX, S2_WRITE

from .conftest import Board
from .refwalk import Leaf, walk

POOL = 0x7000_0000
GiB, MiB, KiB = 1 << 30, 1 << 20, 1 << 10
BBM = [("dsb", "ishst"), ("tlbi", "ipas2e1is"), ("dsb", "ish"), ("tlbi", "vmalle1is"), ("dsb", "ish"),
       ("isb", "")]


def init(board: Board, pages: int = 64, parange: int = 0b0100) -> None:
    # A CPU that holds the VM's VTTBR, as the VM set-up leaves every CPU (the case of a CPU that does not:
    # test_stage2_runtime.py).
    board.cpu.sysregs["id_aa64mmfr0_el1"] = 0x1120 | parange
    stage2_init(u64(POOL), u32(pages))
    stage2_install()


def leaf(board: Board, ipa: int) -> Leaf | None:
    return walk(board.node, POOL, ipa)


def kinds(trace: list[tuple[str, str, int]]) -> list[tuple[str, str]]:
    return [(k, op) for k, op, _ in trace if k in ("dsb", "tlbi", "isb")]


def test_vtcr_describes_40_bit_ipa_4k_granule_level1_start_and_cpu_pa_range(board: Board) -> None:
    init(board, parange=0b0100)
    v = int(stage2_vtcr())
    assert v & 0x3F == 24                       # T0SZ: 40-bit IPA
    assert (v >> 6) & 3 == 1                    # SL0: start at level 1
    assert (v >> 8) & 3 == 1 and (v >> 10) & 3 == 1     # IRGN0/ORGN0: write-back
    assert (v >> 12) & 3 == 3                   # SH0: inner shareable
    assert (v >> 14) & 3 == 0                   # TG0: 4 KiB
    assert (v >> 16) & 7 == 0b100               # PS = PARange read at run time (44 bits)
    assert v >> 31 & 1 == 1


def test_vtcr_ps_is_capped_at_48_bits() -> None:
    m = Machine()
    node = m.add_node()
    with m.on_cpu(node):
        node.cpus[0].sysregs["id_aa64mmfr0_el1"] = 0b0110     # 52-bit PA
        stage2_init(u64(POOL), u32(8))
        assert (int(stage2_vtcr()) >> 16) & 7 == 0b101


def test_a_cpu_with_less_than_40_bit_pa_range_is_refused(board: Board) -> None:
    board.cpu.sysregs["id_aa64mmfr0_el1"] = 0b0001
    with pytest.raises(Panic, match="physical address range"):
        stage2_init(u64(POOL), u32(8))


def test_pool_must_be_8k_aligned(board: Board) -> None:
    with pytest.raises(Panic, match="8 KiB aligned"):
        stage2_init(u64(POOL + 4096), u32(8))


def test_vttbr_holds_vmid_1_and_the_root_and_install_loads_both_registers(board: Board) -> None:
    init(board)
    assert int(stage2_vttbr()) == (1 << 48) | POOL
    stage2_install()
    assert board.cpu.sysregs["vttbr_el2"] == (1 << 48) | POOL
    assert board.cpu.sysregs["vtcr_el2"] == int(stage2_vtcr())


def test_map_range_uses_1g_and_2m_blocks_where_aligned_and_pages_elsewhere(board: Board) -> None:
    init(board)
    stage2_map_range(u64(GiB), u64(0x1_0000_0000), u64(GiB + 2 * MiB + 8 * KiB), S2_RWX)
    a, b, c = leaf(board, GiB + 0x1234), leaf(board, 2 * GiB + 0x5678), leaf(board, 2 * GiB + 2 * MiB + 0x1010)
    assert a is not None and (a.level, a.pa) == (1, 0x1_0000_1234)
    assert b is not None and (b.level, b.pa) == (2, 0x1_4000_5678)
    assert c is not None and (c.level, c.pa) == (3, 0x1_4020_1010)
    assert leaf(board, 2 * GiB + 2 * MiB + 8 * KiB) is None
    assert leaf(board, GiB - 4096) is None


def test_normal_memory_is_write_back_inner_shareable_with_access_flag_set(board: Board) -> None:
    init(board)
    stage2_map_range(u64(0x4000_0000), u64(0x8000_0000), u64(4096), S2_RW)
    d = leaf(board, 0x4000_0000)
    assert d is not None
    assert (d.memattr, d.sh, d.af, d.s2ap, d.xn) == (0b1111, 0b11, 1, 0b11, 1)


def test_device_memory_is_ngnre_and_never_executable(board: Board) -> None:
    init(board)
    stage2_map_range(u64(0x0900_0000), u64(0x0900_0000), u64(4096), S2_RWX | S2_DEVICE)
    d = leaf(board, 0x0900_0000)
    assert d is not None and (d.memattr, d.af, d.s2ap, d.xn) == (0b0001, 1, 0b11, 1)


def test_map_range_over_an_existing_mapping_panics(board: Board) -> None:
    init(board)
    stage2_map_range(u64(0x4000_0000), u64(0x8000_0000), u64(2 * MiB), S2_RW)
    with pytest.raises(Panic, match="overlaps|already mapped"):
        stage2_map_range(u64(0x4010_0000), u64(0x9000_0000), u64(4096), S2_RW)


def test_lookup_reports_pa_permissions_and_level(board: Board) -> None:
    init(board)
    stage2_map_range(u64(0x4000_0000), u64(0x8000_0000), u64(2 * MiB), S2_READ)
    out = Stage2Lookup()
    assert stage2_lookup(u64(0x4012_3456), out)
    assert (int(out.pa), int(out.perm), int(out.level)) == (0x8012_3456, int(S2_READ), 2)
    assert not stage2_lookup(u64(0x4020_0000), out)
    assert not stage2_lookup(u64(1 << 40), out)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, (1 << 28) - 1), min_size=1, max_size=8), st.integers(0, (1 << 40) - 1))
def test_lookup_agrees_with_the_reference_walker(pages: list[int], probe: int) -> None:
    m = Machine()
    node = m.add_node()
    with m.on_cpu(node):
        node.cpus[0].sysregs["id_aa64mmfr0_el1"] = 0b0101
        stage2_init(u64(POOL), u32(64))
        for i, p in enumerate(pages):
            stage2_map_page(u64(p << 12), u64(0x2_0000_0000 + (i << 12)), S2_RW)
        for ipa in [probe] + [(p << 12) | (probe & 0xFFF) for p in pages]:
            out = Stage2Lookup()
            ref = walk(node, POOL, ipa)
            assert stage2_lookup(u64(ipa), out) == (ref is not None)
            if ref is not None:
                assert int(out.pa) == ref.pa


def test_map_page_into_an_empty_slot_needs_no_tlb_maintenance(board: Board) -> None:
    init(board)
    board.cpu.trace = []
    stage2_map_page(u64(0x4000_0000), u64(0x8000_0000), S2_RW)
    assert not any(k == "tlbi" for k, _, _ in board.cpu.trace)
    d = leaf(board, 0x4000_0000)
    assert d is not None and (d.level, d.pa) == (3, 0x8000_0000)


class BreakChecker(list[tuple[str, str, int]]):
    """A cpu.trace that checks, at every TLBI and ISB, that the entry for `ipa` is already invalid."""

    def __init__(self, board: Board, ipa: int) -> None:
        super().__init__()
        self.board, self.ipa, self.checked = board, ipa, 0

    def append(self, item: tuple[str, str, int]) -> None:
        if item[0] in ("tlbi", "isb"):
            assert leaf(self.board, self.ipa) is None, f"{item} issued while the old entry is still valid"
            self.checked += 1
        super().append(item)


def test_remapping_a_page_is_break_before_make(board: Board) -> None:
    init(board)
    stage2_map_page(u64(0x4000_3000), u64(0x8000_0000), S2_RW)
    board.cpu.trace = checker = BreakChecker(board, 0x4000_3000)
    stage2_map_page(u64(0x4000_3000), u64(0x9000_0000), S2_READ)
    assert kinds(checker)[:6] == BBM
    assert [v for k, op, v in checker if op == "ipas2e1is"] == [0x4000_3000]
    assert checker.checked == 3
    d = leaf(board, 0x4000_3000)
    assert d is not None and (d.pa, d.s2ap) == (0x9000_0000, 0b01)


def test_set_perm_on_a_block_splits_it_and_changes_only_that_page(board: Board) -> None:
    init(board)
    stage2_map_range(u64(0x4000_0000), u64(0x8000_0000), u64(2 * MiB), S2_RWX)
    board.cpu.trace = []
    assert stage2_set_perm(u64(0x4005_0000), S2_READ)
    d = leaf(board, 0x4005_0000)
    assert d is not None and (d.level, d.pa, d.s2ap, d.xn) == (3, 0x8005_0000, 0b01, 1)
    for ipa in (0x4000_0000, 0x4004_f000, 0x4005_1000, 0x401f_f000):
        n = leaf(board, ipa)
        assert n is not None and (n.level, n.pa, n.s2ap, n.xn, n.memattr) == (3, 0x8000_0000 + ipa - 0x4000_0000,
                                                                              0b11, 0, 0b1111)
    # two break-before-make sequences: the block becomes a table, then the page changes
    assert kinds(board.cpu.trace).count(("tlbi", "ipas2e1is")) == 2
    out = Stage2Lookup()
    assert stage2_lookup(u64(0x4005_0000), out) and out.perm == S2_READ


def test_unmap_inside_a_1g_block_splits_down_to_pages(board: Board) -> None:
    init(board)
    stage2_map_range(u64(GiB), u64(0x1_0000_0000), u64(GiB), S2_RW)
    used = int(stage2_pool_used())
    assert stage2_unmap_page(u64(GiB + 0x0123_4000))
    assert leaf(board, GiB + 0x0123_4000) is None
    near = leaf(board, GiB + 0x0123_5000)
    far = leaf(board, GiB + 0x2000_0000)
    assert near is not None and (near.level, near.pa) == (3, 0x1_0123_5000)
    assert far is not None and (far.level, far.pa) == (2, 0x1_2000_0000)
    assert int(stage2_pool_used()) == used + 2


def test_unmap_and_set_perm_of_unmapped_pages_report_false(board: Board) -> None:
    init(board)
    board.cpu.trace = []
    assert not stage2_unmap_page(u64(0x4000_0000))
    assert not stage2_set_perm(u64(0x4000_0000), S2_RW)
    assert board.cpu.trace == []


def test_set_perm_keeps_device_memory_type(board: Board) -> None:
    init(board)
    stage2_map_page(u64(0x0900_0000), u64(0x0900_0000), S2_RW | S2_DEVICE)
    assert stage2_set_perm(u64(0x0900_0000), S2_READ | S2_EXEC)
    d = leaf(board, 0x0900_0000)
    assert d is not None and (d.memattr, d.s2ap, d.xn) == (0b0001, 0b01, 1)


def test_write_only_and_no_access_permissions(board: Board) -> None:
    init(board)
    stage2_map_page(u64(0x4000_0000), u64(0x8000_0000), S2_WRITE)
    d = leaf(board, 0x4000_0000)
    assert d is not None and d.s2ap == 0b10
    assert stage2_set_perm(u64(0x4000_0000), u32(0))
    d = leaf(board, 0x4000_0000)
    assert d is not None and d.s2ap == 0     # valid but inaccessible: a permission fault, not a translation fault


def test_pool_exhaustion_panics_clearly(board: Board) -> None:
    init(board, pages=4)
    stage2_map_page(u64(0x4000_0000), u64(0x8000_0000), S2_RW)      # uses the 2 remaining pages
    with pytest.raises(Panic, match="pool exhausted"):
        stage2_map_page(u64(0x8000_0000), u64(0x8000_0000), S2_RW)


def test_misaligned_addresses_panic(board: Board) -> None:
    init(board)
    with pytest.raises(Panic, match="4 KiB aligned"):
        stage2_map_page(u64(0x4000_0800), u64(0x8000_0000), S2_RW)
