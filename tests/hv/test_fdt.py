"""The FDT reader finds what hv_main needs in QEMU-virt-like and Raspberry-Pi-4-like trees."""

from __future__ import annotations

from pyhv.lang import mem_read8, u32, u64

from pyhv.core.fdt import (
    FDT_NONE, fdt_addr, fdt_find_compatible, fdt_first_child, fdt_is_compatible, fdt_next_sibling, fdt_parent,
    fdt_prop_str_eq, fdt_prop_str_off, fdt_prop_u32, fdt_prop_u64, fdt_root,
)
from pyhv.core.fdt_path import fdt_path, fdt_resolve_path_or_alias
from pyhv.core.fdt_reg import FdtReg, fdt_reg
from pyhv.core.hostinfo import ENABLE_METHOD_PSCI, ENABLE_METHOD_SPIN_TABLE, hostinfo, hostinfo_discover

from .conftest import Board
from .dtbs import GICD_BASE, GICR_BASE, RAM_BASE, RAM_SIZE, UART_BASE, rpi4_like_dtb, virt_dtb


def cstr(off: u32) -> str:
    out = bytearray()
    addr = fdt_addr(off)
    while (b := int(mem_read8(addr + len(out)))) != 0:
        out.append(b)
    return out.decode()


def test_paths_resolve_with_and_without_unit_address(board: Board) -> None:
    board.load_dtb(virt_dtb())
    assert fdt_path("/") == fdt_root()
    assert fdt_path("/cpus") != FDT_NONE
    assert fdt_path("/memory") == fdt_path("/memory@40000000") != FDT_NONE
    assert fdt_path("/cpus/cpu@2") != FDT_NONE
    assert fdt_path("/cpus/cpu@9") == FDT_NONE
    assert fdt_path("/nonexistent") == FDT_NONE
    assert fdt_path("cpus") == FDT_NONE


def test_children_siblings_and_parent_walk_the_tree(board: Board) -> None:
    board.load_dtb(virt_dtb(ncpus=3))
    cpus = fdt_path("/cpus")
    seen = []
    child = fdt_first_child(cpus)
    while child != FDT_NONE:
        assert fdt_parent(child) == cpus
        seen.append(fdt_prop_u32(child, "reg", u32(0xFFFF)))
        child = fdt_next_sibling(child)
    assert seen == [0, 1, 2]
    assert fdt_parent(cpus) == fdt_root()
    assert fdt_parent(fdt_root()) == FDT_NONE


def test_compatible_matches_any_string_of_the_list(board: Board) -> None:
    board.load_dtb(virt_dtb())
    uart = fdt_find_compatible(FDT_NONE, "arm,primecell")
    assert uart != FDT_NONE and fdt_is_compatible(uart, "arm,pl011")
    second = fdt_find_compatible(uart, "arm,pl011")
    assert second != FDT_NONE and second != uart
    assert fdt_find_compatible(second, "arm,pl011") == FDT_NONE
    assert not fdt_is_compatible(uart, "arm,pl01")     # a prefix is not a match
    assert fdt_find_compatible(FDT_NONE, "arm,gic-v3") != FDT_NONE


def test_reg_uses_the_parents_cell_sizes(board: Board) -> None:
    board.load_dtb(virt_dtb(gic=3))
    reg = FdtReg()
    gic = fdt_find_compatible(FDT_NONE, "arm,gic-v3")
    assert fdt_reg(gic, u32(0), reg) and (reg.addr, reg.size) == (GICD_BASE, 0x10000)
    assert fdt_reg(gic, u32(1), reg) and (reg.addr, reg.size) == (GICR_BASE, 0xF60000)
    assert not fdt_reg(gic, u32(2), reg)
    assert fdt_reg(fdt_path("/memory"), u32(0), reg) and (reg.addr, reg.size) == (RAM_BASE, RAM_SIZE)


def test_reg_is_translated_through_bus_ranges(board: Board) -> None:
    board.load_dtb(rpi4_like_dtb())
    reg = FdtReg()
    uart = fdt_find_compatible(FDT_NONE, "arm,pl011")
    assert fdt_reg(uart, u32(0), reg) and (reg.addr, reg.size) == (0xFE20_1000, 0x200)
    gic = fdt_find_compatible(FDT_NONE, "arm,gic-400")
    assert fdt_reg(gic, u32(1), reg) and reg.addr == 0xFF84_2000


def test_property_readers(board: Board) -> None:
    board.load_dtb(rpi4_like_dtb())
    cpu1 = fdt_path("/cpus/cpu@1")
    assert fdt_prop_u64(cpu1, "cpu-release-addr", u64(0)) == 0xE0
    assert fdt_prop_u32(cpu1, "missing", u32(7)) == 7
    assert fdt_prop_str_eq(cpu1, "enable-method", "spin-table")
    assert not fdt_prop_str_eq(cpu1, "enable-method", "spin")
    assert cstr(fdt_prop_str_off(fdt_root(), "model")) == "Raspberry Pi 4 Model B"


def test_stdout_path_resolves_paths_and_aliases(board: Board) -> None:
    board.load_dtb(rpi4_like_dtb())
    chosen = fdt_path("/chosen")
    node = fdt_resolve_path_or_alias(fdt_prop_str_off(chosen, "stdout-path"))
    assert node == fdt_find_compatible(FDT_NONE, "arm,pl011")
    board.load_dtb(virt_dtb(stdout_path="/pl011@9000000:115200n8"))
    node = fdt_resolve_path_or_alias(fdt_prop_str_off(fdt_path("/chosen"), "stdout-path"))
    reg = FdtReg()
    assert fdt_reg(node, u32(0), reg) and reg.addr == UART_BASE


def test_hostinfo_collects_cpus_memory_and_model(board: Board) -> None:
    board.load_dtb(virt_dtb(ncpus=4, mpidrs=[0x0, 0x1, 0x100, 0x101]))
    hostinfo_discover(u64(0x100))
    info = hostinfo()
    assert (info.ncpus, info.ncpus_in_dtb) == (4, 4)
    assert [int(info.cpus[i].mpidr) for i in range(4)] == [0x100, 0x1, 0x0, 0x101]   # boot CPU first
    assert all(info.cpus[i].enable_method == ENABLE_METHOD_PSCI for i in range(4))
    assert (info.ram_base, info.ram_size) == (RAM_BASE, RAM_SIZE)
    assert cstr(info.model_off) == "linux,dummy-virt"       # no model: first compatible


def test_hostinfo_reads_spin_table_cpus(board: Board) -> None:
    board.load_dtb(rpi4_like_dtb())
    hostinfo_discover(u64(0))
    info = hostinfo()
    assert info.ncpus == 4
    assert [int(info.cpus[i].release_addr) for i in range(4)] == [0xD8, 0xE0, 0xE8, 0xF0]
    assert info.cpus[3].enable_method == ENABLE_METHOD_SPIN_TABLE
    assert (info.ram_base, info.ram_size) == (0, 0x3B40_0000)


def test_more_cpus_than_max_cpus_are_ignored_with_a_warning(board: Board) -> None:
    board.load_dtb(virt_dtb(ncpus=10))
    hostinfo_discover(u64(0))
    assert (hostinfo().ncpus, hostinfo().ncpus_in_dtb) == (8, 10)
