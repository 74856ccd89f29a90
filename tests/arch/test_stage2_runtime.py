"""Stage-2 at run time (pyhv/arch/stage2.py): the table pool sized from the IPA space and never exhausted by
page-by-page mapping, TLB maintenance with the VM's VMID from a CPU that never ran a vCPU, and the I-cache
sync for pages that arrive and may be executed. Tables are checked with the independent walker in
refwalk.py, maintenance with the mock CPU's trace."""

from __future__ import annotations

from pyhv.lang import u32, u64

from pyhv.arch.stage2 import (
    stage2_init, stage2_install, stage2_map_page, stage2_map_range, stage2_pool_pages_for, stage2_pool_used,
    stage2_set_perm, stage2_sync_icache, stage2_unmap_page, stage2_vttbr,
)
from pyhv.arch.stage2_desc import S2_READ, S2_RWX

from .conftest import Board
from .refwalk import walk

POOL = 0x7_0000_0000
HOST = 0x1_0000_0000
GiB, MiB, PAGE = 1 << 30, 1 << 20, 4096


def _init(board: Board, pages: int) -> None:
    board.cpu.sysregs["id_aa64mmfr0_el1"] = 0b0101
    stage2_init(u64(POOL), u32(pages))


def test_pool_size_covers_root_device_windows_and_one_table_per_1g_and_2m_slot() -> None:
    # root 2 + device allowance 8 + level-2: ceil(B/1G)+1 + level-3: ceil(B/2M)+1
    assert int(stage2_pool_pages_for(u64(496 * MiB))) == 2 + 8 + (1 + 1) + (248 + 1)
    assert int(stage2_pool_pages_for(u64(4 * GiB + PAGE))) == 2 + 8 + (5 + 1) + (2049 + 1)
    # the old fixed pool (256 pages) could not map ~500 MiB page by page
    assert int(stage2_pool_pages_for(u64(500 * MiB))) > 256


def test_every_page_of_a_large_unaligned_region_maps_unmaps_and_remaps_within_the_sized_pool(
        board: Board) -> None:
    # 66 MiB starting one page past a 2 MiB boundary, crossing a 1 GiB boundary: the worst alignment.
    size = 66 * MiB
    base = 2 * GiB - 32 * MiB + PAGE
    pages = int(stage2_pool_pages_for(u64(size)))
    _init(board, pages)                         # exactly the computed size, nothing spare
    stage2_install()
    for off in range(0, size, PAGE):
        stage2_map_page(u64(base + off), u64(HOST + off), S2_RWX)
    used = int(stage2_pool_used())
    assert used <= pages
    for off in (0, PAGE * 4097, size - PAGE):
        leaf = walk(board.node, POOL, base + off)
        assert leaf is not None and (leaf.pa, leaf.level) == (HOST + off, 3)
    for off in range(0, size, PAGE):
        assert stage2_unmap_page(u64(base + off))
    assert walk(board.node, POOL, base) is None and walk(board.node, POOL, base + size - PAGE) is None
    for off in range(size - PAGE, -1, -PAGE):  # again, backwards, read-only
        stage2_map_page(u64(base + off), u64(HOST + off), S2_READ)
    assert int(stage2_pool_used()) == used     # tables are reused, never allocated twice for one slot


def test_breaking_boot_time_blocks_page_by_page_stays_within_the_pool(board: Board) -> None:
    # RAM mapped with 2 MiB blocks at boot; the DSM then evicts / write-protects every page of it.
    size = 8 * MiB
    _init(board, int(stage2_pool_pages_for(u64(size))))
    stage2_install()
    stage2_map_range(u64(GiB), u64(HOST), u64(size), S2_RWX)
    for off in range(0, size, 2 * PAGE):
        assert stage2_set_perm(u64(GiB + off), S2_READ)
        assert stage2_unmap_page(u64(GiB + off + PAGE))
    leaf = walk(board.node, POOL, GiB + 2 * PAGE)
    assert leaf is not None and leaf.s2ap == 0b01 and walk(board.node, POOL, GiB + 3 * PAGE) is None


def _record_vttbr(board: Board, cpu_index: int) -> list[tuple[str, str, int]]:
    cpu = board.node.cpus[cpu_index]
    trace: list[tuple[str, str, int]] = []
    cpu.trace = trace

    def write(v: int) -> None:
        cpu.sysregs["vttbr_el2"] = v
        trace.append(("msr", "vttbr_el2", v))

    cpu.write_hooks["vttbr_el2"] = write
    return trace


def test_a_cpu_that_never_ran_a_vcpu_invalidates_with_the_vms_vmid(board: Board) -> None:
    _init(board, 16)
    stage2_map_page(u64(GiB), u64(HOST), S2_RWX)
    with board.machine.on_cpu(board.node, 1):       # CPU 1: no vcpu_run, no stage2_install
        trace = _record_vttbr(board, 1)
        assert stage2_unmap_page(u64(GiB))
    tlbis = [i for i, (k, _, _) in enumerate(trace) if k == "tlbi"]
    assert [trace[i][1] for i in tlbis] == ["ipas2e1is", "vmalle1is"] and trace[tlbis[0]][2] == GiB
    loads = [i for i, (k, _, _) in enumerate(trace) if k == "msr"]
    assert loads and loads[-1] < tlbis[0]
    vttbr = trace[loads[-1]][2]
    assert vttbr >> 48 == 1 and vttbr == int(stage2_vttbr())          # VMID 1, the VM's root
    assert ("isb", "", 0) in trace[loads[-1]:tlbis[0]]               # the VMID is in effect for the TLBI
    assert board.node.cpus[1].sysregs["vtcr_el2"] != 0


def test_a_cpu_holding_the_vmid_does_not_reload_it(board: Board) -> None:
    _init(board, 16)
    stage2_install()
    stage2_map_page(u64(GiB), u64(HOST), S2_RWX)
    trace = _record_vttbr(board, 0)
    stage2_map_page(u64(GiB), u64(HOST + PAGE), S2_READ)
    assert not [t for t in trace if t[0] == "msr"]
    assert [t[1] for t in trace if t[0] == "tlbi"] == ["ipas2e1is", "vmalle1is"]


def test_icache_sync_cleans_every_dcache_line_to_pou_then_invalidates_the_icache_everywhere(
        board: Board) -> None:
    board.cpu.sysregs["ctr_el0"] = 0x8444_C004          # Cortex-A72: DminLine = 4 (16 words = 64 bytes)
    board.cpu.trace = trace = []
    stage2_sync_icache(u64(HOST + 5 * PAGE + 0x123))
    cleans = [v for k, op, v in trace if (k, op) == ("dc", "cvau")]
    assert cleans == list(range(HOST + 5 * PAGE, HOST + 6 * PAGE, 64))
    tail = [(k, op) for k, op, _ in trace if k != "dc"]
    assert tail == [("dsb", "ish"), ("ic", "ialluis"), ("dsb", "ish"), ("isb", "")]
    assert trace.index(("dsb", "ish", 0)) > max(i for i, t in enumerate(trace) if t[0] == "dc")
