# "pyhv cluster info": a small paravirtual MMIO device that lets the guest read what pyhv built for it —
# how many nodes and vCPUs, which node each vCPU lives on, how much RAM, and which pyhv it runs on. It is
# the worked example of docs/writing-a-module.md: ONE register table (CLUSTERINFO_ROWS), values read from
# the live VmConfig (pyhv/core/vmstate.py), one Static record for the device's own state.
#
# Guest view: a 4 KiB window at VmConfig.clusterinfo_base (0x0A10_0000 by default, see vmconfig.py), in the
# guest FDT as `pyhv-clusterinfo@a100000 { compatible = "pyhv,clusterinfo"; reg = <...>; }`.
#
#   offset  name            value (all registers are 32 bits, little-endian, read-only)
#   0x000   MAGIC           0x56485950, the bytes "PYHV"
#   0x004   VERSION         pyhv version, major << 16 | minor << 8 | patch (0.1.0 -> 0x00000100)
#   0x008   NR_NODES        pyhv nodes the VM spans (= its NUMA nodes)
#   0x00C   NR_VCPUS        present vCPUs
#   0x010   MAX_VCPUS       possible vCPUs (the absent ones can be hot-added later)
#   0x014   RAM_MIB         guest RAM over all regions, in MiB
#   0x018   WRITES_IGNORED  writes the guest made to this device so far
#   0x100   NODE_OF_VCPU[n] node of vCPU n (MPIDR Aff1), n < 64; 0xFFFFFFFF for n >= MAX_VCPUS
#
# Writes: every register is read-only; a 32-bit write to a register is ignored and counted in
# WRITES_IGNORED. Accesses that are not 32-bit aligned words, and offsets with no register, go to the
# shared RAZ/WI path of pyhv/core/mmio.py (read as zero, write ignored, rate-limited warning).

from typing import Final

from pyhv.lang import Static, Struct, range, u32, u64

from pyhv.core.mmio import MMIO_W32, MmioDevice, RegRow, mmio_wi_write
from pyhv.core.vmconfig import VM_MAX_VCPUS
from pyhv.core.vmstate import vm_config

CLUSTERINFO_MAGIC: Final = u32(0x56485950)      # "PYHV" read as a little-endian u32
CLUSTERINFO_VERSION: Final = u32(0x000100)      # pyhv 0.1.0 (pyhv/__init__.py VERSION; a unit test checks)
CLUSTERINFO_NO_NODE: Final = u32(0xFFFFFFFF)    # NODE_OF_VCPU of a vCPU index the VM does not have

CLUSTERINFO_MAGIC_OFF: Final = u32(0x000)
CLUSTERINFO_VERSION_OFF: Final = u32(0x004)
CLUSTERINFO_NR_NODES_OFF: Final = u32(0x008)
CLUSTERINFO_NR_VCPUS_OFF: Final = u32(0x00C)
CLUSTERINFO_MAX_VCPUS_OFF: Final = u32(0x010)
CLUSTERINFO_RAM_MIB_OFF: Final = u32(0x014)
CLUSTERINFO_WRITES_OFF: Final = u32(0x018)
CLUSTERINFO_NODE_OF_VCPU_OFF: Final = u32(0x100)
CLUSTERINFO_NODE_OF_VCPU_BYTES: Final = u32(4 * 64)    # one u32 per possible vCPU (VM_MAX_VCPUS)


class ClusterInfoState(Struct):
    writes_ignored: u64     # guest writes to a register (all read-only), since clusterinfo_reset


_info: Final = Static(ClusterInfoState)


def clusterinfo_reset() -> None:
    # At VM set-up, before any vCPU runs.
    _info.get().writes_ignored = u64(0)


def clusterinfo_writes_ignored() -> u64:
    return _info.get().writes_ignored


# --- register rows: read(vcpu, offset in row) / write(vcpu, offset in row, value) ----------------------

def _magic_read(vcpu: u32, off: u32) -> u64:
    return u64(CLUSTERINFO_MAGIC)


def _version_read(vcpu: u32, off: u32) -> u64:
    return u64(CLUSTERINFO_VERSION)


def _nr_nodes_read(vcpu: u32, off: u32) -> u64:
    return u64(vm_config().nr_numa_nodes)


def _nr_vcpus_read(vcpu: u32, off: u32) -> u64:
    return u64(vm_config().nr_vcpus)


def _max_vcpus_read(vcpu: u32, off: u32) -> u64:
    return u64(vm_config().max_vcpus)


def _ram_mib_read(vcpu: u32, off: u32) -> u64:
    cfg = vm_config()
    total = u64(0)
    for i in range(u32(0), cfg.nr_mem):
        total += cfg.mem[i].size_bytes
    return u64(u32(total >> 20))


def _writes_read(vcpu: u32, off: u32) -> u64:
    return u64(u32(_info.get().writes_ignored))


def _node_of_vcpu_read(vcpu: u32, off: u32) -> u64:
    # Row offset 4 n -> vCPU n. The node id is Aff1 of the vCPU's MPIDR (vmconfig_mpidr's layout).
    cfg = vm_config()
    n = off >> 2
    if n >= cfg.max_vcpus or n >= VM_MAX_VCPUS:
        return u64(CLUSTERINFO_NO_NODE)
    return (cfg.vcpus[n].mpidr >> 8) & 0xFF


def _ignored_write(vcpu: u32, off: u32, v: u64) -> None:
    _info.get().writes_ignored += 1
    mmio_wi_write(vcpu, off, v)


CLUSTERINFO_ROWS: Final = (
    RegRow(offset=CLUSTERINFO_MAGIC_OFF, size_bytes=u32(4), widths=MMIO_W32, read=_magic_read,
           write=_ignored_write),
    RegRow(offset=CLUSTERINFO_VERSION_OFF, size_bytes=u32(4), widths=MMIO_W32, read=_version_read,
           write=_ignored_write),
    RegRow(offset=CLUSTERINFO_NR_NODES_OFF, size_bytes=u32(4), widths=MMIO_W32, read=_nr_nodes_read,
           write=_ignored_write),
    RegRow(offset=CLUSTERINFO_NR_VCPUS_OFF, size_bytes=u32(4), widths=MMIO_W32, read=_nr_vcpus_read,
           write=_ignored_write),
    RegRow(offset=CLUSTERINFO_MAX_VCPUS_OFF, size_bytes=u32(4), widths=MMIO_W32, read=_max_vcpus_read,
           write=_ignored_write),
    RegRow(offset=CLUSTERINFO_RAM_MIB_OFF, size_bytes=u32(4), widths=MMIO_W32, read=_ram_mib_read,
           write=_ignored_write),
    RegRow(offset=CLUSTERINFO_WRITES_OFF, size_bytes=u32(4), widths=MMIO_W32, read=_writes_read,
           write=_ignored_write),
    RegRow(offset=CLUSTERINFO_NODE_OF_VCPU_OFF, size_bytes=CLUSTERINFO_NODE_OF_VCPU_BYTES, widths=MMIO_W32,
           read=_node_of_vcpu_read, write=_ignored_write),
)


def _row_count() -> u32:
    return u32(len(CLUSTERINFO_ROWS))


def _row(i: u32) -> RegRow:
    return CLUSTERINFO_ROWS[i]


CLUSTERINFO_DEVICE: Final = MmioDevice(row_count=_row_count, row=_row)
