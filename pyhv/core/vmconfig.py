# What the guest sees (docs/vm-model.md, "Records"): vCPUs, RAM, NUMA topology, GIC, UART, virtio-mmio
# slots, bootargs and where the kernel/initrd/DTB go. Kept apart from the host description (hostinfo.py):
# the guest FDT (fdt_write.py) and the vPSCI (vpsci.py) read only this record.
#
# vCPUs: `max_vcpus` are possible (all appear in the guest FDT), the first `nr_vcpus` are present. A vCPU's
# MPIDR is Aff1 = node id, Aff0 = CPU on that node. SPIs are numbered from 0 (INTID = 32 + spi), as in the
# FDT's `interrupts` cells. Capacities are fixed up front (VM_MAX_*).
#
# Default guest IPA map (vmconfig_single_node), the one QEMU's `virt` machine uses, so guests already know it:
#
#   0x0800_0000  GICD (64 KiB)       0x0801_0000  GICC, GICv2 (8 KiB)
#   0x080A_0000  GICR, GICv3 (128 KiB per possible vCPU)
#   0x0900_0000  PL011 (4 KiB), SPI 1
#   0x0A00_0000  virtio-mmio slots (512 B each), SPI 16 + slot
#   0x0A10_0000  pyhv cluster info (4 KiB, examples/clusterinfo; free in QEMU virt's map too)
#   0x4000_0000  RAM: one region per cluster node, contiguous, in node order (vmconfig_cluster.py), all
#                below VM_RAM_WINDOW_END (256 GiB)
#   0x40_0000_0000  hot-add window (256 GiB, VM_HOTPLUG_*): reserved for a future virtio-mem region (RAM of
#                nodes that join a running VM); nothing is mapped there today
#   0x80_0000_0000 .. 0xFF_FFFF_FFFF (40-bit IPA): unused

from typing import Annotated, Final

from pyhv.lang import range, Array, Struct, kprint, mem_read8, str_byte, u8, u32, u64

VM_MAX_VCPUS: Final = u32(64)
VM_MAX_MEM_REGIONS: Final = u32(16)
VM_MAX_NUMA_NODES: Final = u32(16)
VM_MAX_VIRTIO: Final = u32(8)
VM_MAX_HOLES: Final = u32(8)
VM_BOOTARGS_MAX: Final = u32(256)        # bytes, NUL included
GICV2_MAX_VCPUS: Final = u32(8)          # GICv2 target lists have 8 bits
NUMA_LOCAL_DISTANCE: Final = u8(10)      # Linux's LOCAL_DISTANCE: distance of a node to itself
NUMA_REMOTE_DISTANCE: Final = u8(20)     # default distance between two different nodes

GIC_DIST_SIZE: Final = u64(0x10000)      # GICD frame (GICv3: 64 KiB; GICv2 uses the first 4 KiB)
GICV2_CPU_SIZE: Final = u64(0x2000)      # GICC frame
GICV3_REDIST_SIZE: Final = u64(0x20000)  # one redistributor: RD_base + SGI_base frames
UART_SIZE: Final = u64(0x1000)
VIRTIO_MMIO_SIZE: Final = u64(0x200)
CLUSTERINFO_SIZE: Final = u64(0x1000)   # examples/clusterinfo register window

VM_GICD_BASE: Final = u64(0x08000000)
VM_GICC_BASE: Final = u64(0x08010000)
VM_GICR_BASE: Final = u64(0x080A0000)
VM_UART_BASE: Final = u64(0x09000000)
VM_UART_SPI: Final = u32(1)
VM_VIRTIO_BASE: Final = u64(0x0A000000)
VM_VIRTIO_SPI: Final = u32(16)
VM_CLUSTERINFO_BASE: Final = u64(0x0A100000)
VM_RAM_BASE: Final = u64(0x40000000)
VM_RAM_WINDOW_END: Final = u64(0x4000000000)     # guest RAM regions end at or below 256 GiB
VM_HOTPLUG_BASE: Final = u64(0x4000000000)       # hot-add window (virtio-mem later)
VM_HOTPLUG_SIZE: Final = u64(0x4000000000)       # 256 GiB
VM_NR_SPIS: Final = u32(64)

# vmconfig_validate results
VMCFG_OK: Final = u32(0)
VMCFG_ERR_VCPUS: Final = u32(1)          # no vCPU, more present than possible, or over VM_MAX_VCPUS
VMCFG_ERR_GICV2_VCPUS: Final = u32(2)    # GICv2 with more than 8 possible vCPUs
VMCFG_ERR_GIC_VERSION: Final = u32(3)
VMCFG_ERR_NO_RAM: Final = u32(4)         # no RAM region, or a region of size zero
VMCFG_ERR_OVERLAP: Final = u32(5)        # two guest-visible regions overlap
VMCFG_ERR_MPIDR: Final = u32(6)          # duplicate MPIDR
VMCFG_ERR_NUMA: Final = u32(7)           # bad node count, node id or distance
VMCFG_ERR_SPI: Final = u32(8)            # SPI out of range or shared
VMCFG_ERR_CAPACITY: Final = u32(9)       # a count exceeds its VM_MAX_* array
VMCFG_ERR_TABLE: Final = u32(10)         # the cluster table does not describe a VM (vmconfig_cluster.py)


class VmVcpu(Struct):
    mpidr: u64          # affinity as the guest sees it (MPIDR_EL1 without bit 31)
    numa_node: u32


class VmMemRegion(Struct):
    ipa_base: u64
    size_bytes: u64
    numa_node: u32


class VmRange(Struct):
    base: u64           # IPA
    size_bytes: u64


class VmVirtio(Struct):
    base: u64           # IPA of the slot's 512-byte register window
    spi: u32


class VmConfig(Struct):
    nr_vcpus: u32                                   # present vCPUs: indices [0, nr_vcpus)
    max_vcpus: u32                                  # possible vCPUs: indices [0, max_vcpus)
    vcpus: Annotated[Array[VmVcpu], 64]
    nr_mem: u32
    mem: Annotated[Array[VmMemRegion], 16]
    nr_numa_nodes: u32
    distance: Annotated[Array[u8], 256]             # [from * VM_MAX_NUMA_NODES + to]
    gic_version: u32                                # 2 or 3
    nr_spis: u32
    gicd_base: u64
    gicc_base: u64                                  # GICv2 only
    gicr_base: u64                                  # GICv3 only: max_vcpus redistributors
    uart_base: u64
    uart_spi: u32
    nr_virtio: u32
    virtio: Annotated[Array[VmVirtio], 8]
    nr_holes: u32
    holes: Annotated[Array[VmRange], 8]            # IPA windows no guest image may occupy
    bootargs: Annotated[Array[u8], 256]             # NUL-terminated
    kernel_ipa: u64                                 # placement, filled by loader.py
    kernel_size_bytes: u64
    initrd_ipa: u64
    initrd_size_bytes: u64                          # 0: no initrd
    dtb_ipa: u64
    dtb_size_bytes: u64
    clusterinfo_base: u64                           # examples/clusterinfo window; 0: absent
    hotplug_base: u64                               # reserved hot-add IPA window (no mapping yet); 0: none
    hotplug_size_bytes: u64


def vmconfig_mpidr(node: u32, cpu: u32) -> u64:
    # Aff1 = node id, Aff0 = CPU on that node.
    return (u64(node & 0xFF) << 8) | u64(cpu & 0xFF)


def vmconfig_distance(cfg: VmConfig, a: u32, b: u32) -> u8:
    return cfg.distance[a * VM_MAX_NUMA_NODES + b]


def vmconfig_set_distance(cfg: VmConfig, a: u32, b: u32, d: u8) -> None:
    # Symmetric: sets a->b and b->a.
    cfg.distance[a * VM_MAX_NUMA_NODES + b] = d
    cfg.distance[b * VM_MAX_NUMA_NODES + a] = d


def vmconfig_set_numa_nodes(cfg: VmConfig, n: u32) -> None:
    # n nodes with the default distances (10 to itself, 20 to the others).
    cfg.nr_numa_nodes = n
    for a in range(u32(0), VM_MAX_NUMA_NODES):
        for b in range(u32(0), VM_MAX_NUMA_NODES):
            cfg.distance[a * VM_MAX_NUMA_NODES + b] = NUMA_LOCAL_DISTANCE if a == b else NUMA_REMOTE_DISTANCE


def vmconfig_add_vcpu(cfg: VmConfig, node: u32, cpu: u32, numa_node: u32) -> u32:
    # Append a possible vCPU; returns its index (VM_MAX_VCPUS when full). Present-ness is nr_vcpus.
    i = cfg.max_vcpus
    if i >= VM_MAX_VCPUS:
        return VM_MAX_VCPUS
    cfg.vcpus[i].mpidr = vmconfig_mpidr(node, cpu)
    cfg.vcpus[i].numa_node = numa_node
    cfg.max_vcpus = i + 1
    return i


def vmconfig_add_mem(cfg: VmConfig, ipa_base: u64, size_bytes: u64, numa_node: u32) -> bool:
    if cfg.nr_mem >= VM_MAX_MEM_REGIONS:
        return False
    r = cfg.mem[cfg.nr_mem]
    r.ipa_base = ipa_base
    r.size_bytes = size_bytes
    r.numa_node = numa_node
    cfg.nr_mem += 1
    return True


def vmconfig_add_virtio(cfg: VmConfig, base: u64, spi: u32) -> bool:
    if cfg.nr_virtio >= VM_MAX_VIRTIO:
        return False
    cfg.virtio[cfg.nr_virtio].base = base
    cfg.virtio[cfg.nr_virtio].spi = spi
    cfg.nr_virtio += 1
    return True


def vmconfig_add_hole(cfg: VmConfig, base: u64, size_bytes: u64) -> bool:
    if cfg.nr_holes >= VM_MAX_HOLES:
        return False
    cfg.holes[cfg.nr_holes].base = base
    cfg.holes[cfg.nr_holes].size_bytes = size_bytes
    cfg.nr_holes += 1
    return True


def vmconfig_set_bootargs(cfg: VmConfig, s: str) -> bool:
    # Copy a string constant; False (and bootargs cut) when it does not fit.
    i = u32(0)
    while i < VM_BOOTARGS_MAX - 1:
        c = str_byte(s, u64(i))
        cfg.bootargs[i] = c
        if c == 0:
            return True
        i += 1
    cfg.bootargs[i] = u8(0)
    return str_byte(s, u64(i)) == 0


def vmconfig_set_bootargs_at(cfg: VmConfig, addr: u64, max_bytes: u32) -> bool:
    # Copy a NUL-terminated string from host memory (e.g. the host DTB's /chosen/bootargs value).
    i = u32(0)
    while i < VM_BOOTARGS_MAX - 1 and i < max_bytes:
        c = mem_read8(addr + u64(i))
        cfg.bootargs[i] = c
        if c == 0:
            return True
        i += 1
    cfg.bootargs[i] = u8(0)
    return i < max_bytes and mem_read8(addr + u64(i)) == 0


def vmconfig_mem_end(cfg: VmConfig, i: u32) -> u64:
    return cfg.mem[i].ipa_base + cfg.mem[i].size_bytes


def vmconfig_ipa_in_ram(cfg: VmConfig, ipa: u64, size_bytes: u64) -> bool:
    # [ipa, ipa + size_bytes) lies inside one RAM region.
    for i in range(u32(0), cfg.nr_mem):
        r = cfg.mem[i]
        if ipa >= r.ipa_base and size_bytes <= r.size_bytes and ipa - r.ipa_base <= r.size_bytes - size_bytes:
            return True
    return False


def vmconfig_find_mpidr(cfg: VmConfig, mpidr: u64) -> u32:
    # Index of the possible vCPU with this affinity, VM_MAX_VCPUS if none.
    for i in range(u32(0), cfg.max_vcpus):
        if cfg.vcpus[i].mpidr == mpidr:
            return u32(i)
    return VM_MAX_VCPUS


def vmconfig_gic_redist_size(cfg: VmConfig) -> u64:
    return GICV3_REDIST_SIZE * u64(cfg.max_vcpus)


def vmconfig_set_devices(cfg: VmConfig, gic_version: u32) -> None:
    # The default IPA map's devices (table above), cluster info and the hot-add window included; no virtio
    # slot, empty bootargs.
    cfg.gic_version = gic_version
    cfg.nr_spis = VM_NR_SPIS
    cfg.gicd_base = VM_GICD_BASE
    cfg.gicc_base = VM_GICC_BASE
    cfg.gicr_base = VM_GICR_BASE
    cfg.uart_base = VM_UART_BASE
    cfg.uart_spi = VM_UART_SPI
    cfg.clusterinfo_base = VM_CLUSTERINFO_BASE
    cfg.hotplug_base = VM_HOTPLUG_BASE
    cfg.hotplug_size_bytes = VM_HOTPLUG_SIZE
    cfg.bootargs[0] = u8(0)


def vmconfig_single_node(cfg: VmConfig, nr_vcpus: u32, max_vcpus: u32, ram_size_bytes: u64,
                         gic_version: u32) -> None:
    # Today's VM: one node, vCPUs 0..max_vcpus-1 on node 0 (present: the first nr_vcpus), one RAM region
    # at VM_RAM_BASE, one NUMA node, the default IPA map (vmconfig_set_devices).
    # Call vmconfig_validate afterwards: out-of-range arguments are reported there.
    for i in range(u32(0), max_vcpus if max_vcpus < VM_MAX_VCPUS else VM_MAX_VCPUS):
        vmconfig_add_vcpu(cfg, u32(0), u32(i), u32(0))
    cfg.max_vcpus = max_vcpus
    cfg.nr_vcpus = nr_vcpus
    vmconfig_set_numa_nodes(cfg, u32(1))
    vmconfig_add_mem(cfg, VM_RAM_BASE, ram_size_bytes, u32(0))
    vmconfig_set_devices(cfg, gic_version)


# --- validation ---------------------------------------------------------------------------------------------

class _Ranges(Struct):
    n: u32
    r: Annotated[Array[VmRange], 32]     # RAM + GICD + GICC/GICR + UART + virtio + cluster info + hot-add


def _push_range(ranges: _Ranges, base: u64, size_bytes: u64) -> None:
    ranges.r[ranges.n].base = base
    ranges.r[ranges.n].size_bytes = size_bytes
    ranges.n += 1


def _ranges_overlap(a: VmRange, b: VmRange) -> bool:
    return a.base < b.base + b.size_bytes and b.base < a.base + a.size_bytes


def _validate_vcpus(cfg: VmConfig) -> u32:
    if cfg.max_vcpus == 0 or cfg.nr_vcpus == 0 or cfg.max_vcpus > VM_MAX_VCPUS:
        kprint("vmconfig: need 1..%u possible vCPUs and at least one present (have %u of %u)\n",
               VM_MAX_VCPUS, cfg.nr_vcpus, cfg.max_vcpus)
        return VMCFG_ERR_VCPUS
    if cfg.nr_vcpus > cfg.max_vcpus:
        kprint("vmconfig: %u present vCPUs but only %u possible\n", cfg.nr_vcpus, cfg.max_vcpus)
        return VMCFG_ERR_VCPUS
    if cfg.gic_version != 2 and cfg.gic_version != 3:
        kprint("vmconfig: GIC version %u is not 2 or 3\n", cfg.gic_version)
        return VMCFG_ERR_GIC_VERSION
    if cfg.gic_version == 2 and cfg.max_vcpus > GICV2_MAX_VCPUS:
        kprint("vmconfig: GICv2 addresses at most 8 vCPUs (%u possible)\n", cfg.max_vcpus)
        return VMCFG_ERR_GICV2_VCPUS
    for i in range(u32(0), cfg.max_vcpus):
        if cfg.vcpus[i].numa_node >= cfg.nr_numa_nodes:
            kprint("vmconfig: vCPU %u is on NUMA node %u of %u\n", u32(i), cfg.vcpus[i].numa_node, cfg.nr_numa_nodes)
            return VMCFG_ERR_NUMA
        for j in range(i + 1, cfg.max_vcpus):
            if cfg.vcpus[i].mpidr == cfg.vcpus[j].mpidr:
                kprint("vmconfig: vCPUs %u and %u share MPIDR 0x%x\n", u32(i), u32(j), cfg.vcpus[i].mpidr)
                return VMCFG_ERR_MPIDR
    return VMCFG_OK


def _validate_numa(cfg: VmConfig) -> u32:
    if cfg.nr_numa_nodes == 0 or cfg.nr_numa_nodes > VM_MAX_NUMA_NODES:
        kprint("vmconfig: %u NUMA nodes (need 1..%u)\n", cfg.nr_numa_nodes, VM_MAX_NUMA_NODES)
        return VMCFG_ERR_NUMA
    for a in range(u32(0), cfg.nr_numa_nodes):
        for b in range(u32(0), cfg.nr_numa_nodes):
            d = vmconfig_distance(cfg, u32(a), u32(b))
            # Linux (numa_set_distance) wants exactly 10 to itself and more than 10 elsewhere.
            if (a == b and d != NUMA_LOCAL_DISTANCE) or (a != b and d <= NUMA_LOCAL_DISTANCE):
                kprint("vmconfig: NUMA distance %u -> %u is %u\n", u32(a), u32(b), d)
                return VMCFG_ERR_NUMA
            if d != vmconfig_distance(cfg, u32(b), u32(a)):
                kprint("vmconfig: NUMA distances %u <-> %u are not symmetric\n", u32(a), u32(b))
                return VMCFG_ERR_NUMA
    return VMCFG_OK


def _validate_mem(cfg: VmConfig) -> u32:
    if cfg.nr_mem == 0:
        kprint("vmconfig: the guest has zero RAM\n")
        return VMCFG_ERR_NO_RAM
    for i in range(u32(0), cfg.nr_mem):
        r = cfg.mem[i]
        if r.size_bytes == 0:
            kprint("vmconfig: RAM region %u has zero RAM\n", u32(i))
            return VMCFG_ERR_NO_RAM
        if r.numa_node >= cfg.nr_numa_nodes:
            kprint("vmconfig: RAM region %u is on NUMA node %u of %u\n", u32(i), r.numa_node, cfg.nr_numa_nodes)
            return VMCFG_ERR_NUMA
    return VMCFG_OK


def _validate_spis(cfg: VmConfig) -> u32:
    if cfg.uart_spi >= cfg.nr_spis:
        kprint("vmconfig: UART SPI %u is not below %u\n", cfg.uart_spi, cfg.nr_spis)
        return VMCFG_ERR_SPI
    for i in range(u32(0), cfg.nr_virtio):
        spi = cfg.virtio[i].spi
        if spi >= cfg.nr_spis or spi == cfg.uart_spi:
            kprint("vmconfig: virtio slot %u has SPI %u (out of range or shared)\n", u32(i), spi)
            return VMCFG_ERR_SPI
        for j in range(i + 1, cfg.nr_virtio):
            if cfg.virtio[j].spi == spi:
                kprint("vmconfig: virtio slots %u and %u share SPI %u\n", u32(i), u32(j), spi)
                return VMCFG_ERR_SPI
    return VMCFG_OK


def _validate_overlaps(cfg: VmConfig) -> u32:
    rs = _Ranges()
    for i in range(u32(0), cfg.nr_mem):
        _push_range(rs, cfg.mem[i].ipa_base, cfg.mem[i].size_bytes)
    _push_range(rs, cfg.gicd_base, GIC_DIST_SIZE)
    if cfg.gic_version == 2:
        _push_range(rs, cfg.gicc_base, GICV2_CPU_SIZE)
    else:
        _push_range(rs, cfg.gicr_base, vmconfig_gic_redist_size(cfg))
    _push_range(rs, cfg.uart_base, UART_SIZE)
    for i in range(u32(0), cfg.nr_virtio):
        _push_range(rs, cfg.virtio[i].base, VIRTIO_MMIO_SIZE)
    if cfg.clusterinfo_base != 0:
        _push_range(rs, cfg.clusterinfo_base, CLUSTERINFO_SIZE)
    if cfg.hotplug_size_bytes != 0:
        _push_range(rs, cfg.hotplug_base, cfg.hotplug_size_bytes)
    for i in range(u32(0), rs.n):
        a = rs.r[i]
        if a.base + a.size_bytes < a.base:
            kprint("vmconfig: region 0x%x (+0x%x) wraps around\n", a.base, a.size_bytes)
            return VMCFG_ERR_OVERLAP
        for j in range(i + 1, rs.n):
            b = rs.r[j]
            if _ranges_overlap(a, b):
                kprint("vmconfig: regions 0x%x (+0x%x) and 0x%x (+0x%x) overlap\n", a.base, a.size_bytes,
                       b.base, b.size_bytes)
                return VMCFG_ERR_OVERLAP
    return VMCFG_OK


def vmconfig_validate(cfg: VmConfig) -> u32:
    # VMCFG_OK, or the first problem found (also printed).
    if cfg.nr_mem > VM_MAX_MEM_REGIONS or cfg.nr_virtio > VM_MAX_VIRTIO or cfg.nr_holes > VM_MAX_HOLES:
        kprint("vmconfig: a region count exceeds its capacity\n")
        return VMCFG_ERR_CAPACITY
    err = _validate_numa(cfg)
    if err == VMCFG_OK:
        err = _validate_vcpus(cfg)
    if err == VMCFG_OK:
        err = _validate_mem(cfg)
    if err == VMCFG_OK:
        err = _validate_spis(cfg)
    if err == VMCFG_OK:
        err = _validate_overlaps(cfg)
    return err
