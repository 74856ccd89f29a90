# What this node's hardware looks like, read once from the host DTB (pyhv/core/fdt.py) at boot: CPUs
# under /cpus (MPIDR from `reg`, enable-method, cpu-release-addr), RAM from /memory, the model string.
# Drivers read their own nodes (pyhv/core/devices.py probes them); this record holds what more than one
# module needs. Capacity is fixed up front: MAX_CPUS CPUs per node; further CPUs are counted, not used.

from typing import Annotated, Final

from pyhv.lang import range, Array, Static, Struct, struct_copy, u32, u64

from pyhv.core.fdt import (
    FDT_NONE, fdt_find_prop, fdt_first_child, fdt_next_sibling, fdt_prop_len, fdt_prop_str_eq,
    fdt_prop_str_off, fdt_prop_u64, fdt_prop_value, fdt_read_cells,
)
from pyhv.core.fdt_path import fdt_path
from pyhv.core.fdt_reg import FdtReg, fdt_address_cells, fdt_reg

MAX_CPUS: Final = u32(8)                 # per-node CPU capacity (the GICv2 limit; the per-CPU block size)

ENABLE_METHOD_NONE: Final = u32(0)      # the boot CPU, or a CPU we do not know how to start
ENABLE_METHOD_PSCI: Final = u32(1)
ENABLE_METHOD_SPIN_TABLE: Final = u32(2)

MPIDR_AFF_MASK: Final = u64(0xFF00FFFFFF)   # Aff3 [39:32], Aff2 [23:16], Aff1 [15:8], Aff0 [7:0]


class HostCpu(Struct):
    mpidr: u64              # affinity fields of the cpu node's `reg`
    release_addr: u64       # spin-table cpu-release-addr (0 if none)
    enable_method: u32      # ENABLE_METHOD_*


class HostInfo(Struct):
    ncpus: u32              # CPUs we use (<= MAX_CPUS)
    ncpus_in_dtb: u32       # CPUs the DTB lists (may exceed MAX_CPUS)
    ram_base: u64           # first /memory range
    ram_size: u64           # sum of all /memory ranges
    model_off: u32          # blob offset of the model (or first compatible) string, FDT_NONE if neither
    cpus: Annotated[Array[HostCpu], 8]


_info: Final = Static(HostInfo)


def hostinfo() -> HostInfo:
    return _info.get()


def _discover_cpus(info: HostInfo) -> None:
    cpus = fdt_path("/cpus")
    if cpus == FDT_NONE:
        return
    ac = fdt_address_cells(cpus)
    node = fdt_first_child(cpus)
    while node != FDT_NONE:
        if fdt_prop_str_eq(node, "device_type", "cpu"):
            if info.ncpus < MAX_CPUS:
                cpu = info.cpus[info.ncpus]
                reg = fdt_find_prop(node, "reg")
                if reg != FDT_NONE and fdt_prop_len(reg) >= ac * 4:
                    cpu.mpidr = fdt_read_cells(fdt_prop_value(reg), ac) & MPIDR_AFF_MASK
                cpu.release_addr = fdt_prop_u64(node, "cpu-release-addr", u64(0))
                if fdt_prop_str_eq(node, "enable-method", "psci"):
                    cpu.enable_method = ENABLE_METHOD_PSCI
                elif fdt_prop_str_eq(node, "enable-method", "spin-table"):
                    cpu.enable_method = ENABLE_METHOD_SPIN_TABLE
                info.ncpus += 1
            info.ncpus_in_dtb += 1
        node = fdt_next_sibling(node)


def _discover_memory(info: HostInfo) -> None:
    reg = FdtReg()
    node = fdt_first_child(fdt_path("/"))
    while node != FDT_NONE:
        if fdt_prop_str_eq(node, "device_type", "memory"):
            i = u32(0)
            while fdt_reg(node, i, reg):
                if info.ram_size == 0:
                    info.ram_base = reg.addr
                info.ram_size += reg.size
                i += 1
        node = fdt_next_sibling(node)


def _boot_cpu_first(info: HostInfo, boot_mpidr: u64) -> None:
    # CPU index 0 is the CPU running hv_main: swap its entry to the front of the table.
    for i in range(u32(1), info.ncpus):
        if info.cpus[i].mpidr == boot_mpidr:
            tmp = HostCpu()
            struct_copy(tmp, info.cpus[0])
            struct_copy(info.cpus[0], info.cpus[i])
            struct_copy(info.cpus[i], tmp)
            return


def hostinfo_discover(boot_mpidr: u64) -> None:
    # Fill the HostInfo record from the DTB (fdt_init must have accepted the blob). `boot_mpidr` is the
    # affinity of the calling CPU, which becomes CPU index 0.
    info = _info.get()
    root = fdt_path("/")
    info.model_off = fdt_prop_str_off(root, "model")
    if info.model_off == FDT_NONE:
        info.model_off = fdt_prop_str_off(root, "compatible")
    _discover_cpus(info)
    if info.ncpus == 0:
        # A DTB without /cpus still has the CPU we run on.
        info.ncpus = u32(1)
        info.ncpus_in_dtb = u32(1)
        info.cpus[0].mpidr = boot_mpidr
    _boot_cpu_first(info, boot_mpidr)
    _discover_memory(info)
