# The VM's shape from the live cluster table (issue 8 item 1; docs/vm-model.md "The VM across nodes"):
# every node of pyhv/cluster/table.py contributes its CPUs and its home share of guest RAM, and every node
# builds the same VmConfig from the same table, so they all describe one VM to the guest.
#
#   vCPUs      node i's CPUs are global vCPUs vcpu_base(i) .. vcpu_base(i) + vcpu_count(i) - 1, in table
#              order; MPIDR Aff1 = node id, Aff0 = CPU on the node; NUMA node = the node id.
#   absent     possible-but-absent vCPUs up to max_vcpus (room for nodes that join later: their CPU nodes
#              must be in the FDT from boot): node ids count, count + 1, ... with `future_node_cpus` CPUs
#              each. They sit on NUMA node 0 (a NUMA node id without memory at boot is not worth the risk
#              before hot-add exists; hot-add may give them their own node through virtio-mem later).
#   RAM        one region per node, contiguous in IPA from VM_RAM_BASE in node order, each on its node's
#              NUMA node (the DSM homes node i's region on node i); sizes are the table's ram_bytes, which
#              is the node's home share (vm_layout_node in vmlayout.py), a multiple of 2 MiB.
#   NUMA       distance 10 to itself, 20 to every other node (the FDT's distance-map).
#   GIC        GICv3: one redistributor per possible vCPU. GICv2 addresses at most 8 CPUs: possible vCPUs
#              are capped at 8, and more than 8 present ones are refused by vmconfig_validate.
#   IPA map    vmconfig.py's default one (devices below 1 GiB, RAM window to 256 GiB, hot-add window above).

from typing import Final

from pyhv.lang import kprint, range, struct_zero, u32, u64

from pyhv.cluster.table import ClusterTable
from pyhv.core.vmconfig import (
    GICV2_MAX_VCPUS, VM_MAX_NUMA_NODES, VM_MAX_VCPUS, VM_RAM_BASE, VM_RAM_WINDOW_END, VMCFG_ERR_NO_RAM,
    VMCFG_ERR_TABLE, VMCFG_ERR_VCPUS, VMCFG_OK, VmConfig, vmconfig_add_mem, vmconfig_add_vcpu,
    vmconfig_set_devices, vmconfig_set_numa_nodes, vmconfig_validate,
)

VMCFG_RAM_ALIGN_BYTES: Final = u64(0x200000)     # home shares are 2 MiB multiples (stage-2 blocks)
VMCFG_MAX_AFF1: Final = u32(256)                 # node ids must fit MPIDR Aff1


def _add_nodes(cfg: VmConfig, table: ClusterTable) -> u32:
    # Present vCPUs and RAM of every node in the table.
    ipa = VM_RAM_BASE
    present = u32(0)
    for i in range(u32(0), table.count):
        e = table.entries[i]
        if e.present != 1:
            kprint("vmconfig: cluster table entry %u is not a member\n", u32(i))
            return VMCFG_ERR_TABLE
        if e.vcpu_base != present:
            kprint("vmconfig: node %u starts at vCPU %u, expected %u\n", u32(i), e.vcpu_base, present)
            return VMCFG_ERR_TABLE
        if e.vcpu_count == 0 or e.vcpu_count > VM_MAX_VCPUS - present:
            kprint("vmconfig: node %u brings %u vCPUs (%u already, at most %u)\n", u32(i), e.vcpu_count,
                   present, VM_MAX_VCPUS)
            return VMCFG_ERR_VCPUS
        for k in range(u32(0), e.vcpu_count):
            vmconfig_add_vcpu(cfg, u32(i), u32(k), u32(i))
        present += e.vcpu_count
        if e.ram_bytes == 0:
            kprint("vmconfig: node %u brings no guest RAM\n", u32(i))
            return VMCFG_ERR_NO_RAM
        if (e.ram_bytes & (VMCFG_RAM_ALIGN_BYTES - 1)) != 0 or e.ram_bytes > VM_RAM_WINDOW_END - ipa:
            kprint("vmconfig: node %u's RAM (0x%x bytes at ipa 0x%x) is not 2 MiB aligned or leaves the RAM window\n",
                   u32(i), e.ram_bytes, ipa)
            return VMCFG_ERR_TABLE
        vmconfig_add_mem(cfg, ipa, e.ram_bytes, u32(i))
        ipa += e.ram_bytes
    cfg.nr_vcpus = present
    return VMCFG_OK


def vmconfig_cluster(cfg: VmConfig, table: ClusterTable, max_vcpus: u32, future_node_cpus: u32,
                     gic_version: u32) -> u32:
    # Build `cfg` (overwritten) for the VM the table describes, then validate it: VMCFG_OK or the first
    # problem (printed). max_vcpus: possible vCPUs wanted (at least the present ones are possible);
    # future_node_cpus: CPUs assumed per node that has not joined yet (0: no absent vCPUs).
    struct_zero(cfg)
    if table.count == 0 or table.count > VM_MAX_NUMA_NODES or table.count > VMCFG_MAX_AFF1:
        kprint("vmconfig: a cluster of %u nodes (need 1..%u)\n", table.count, VM_MAX_NUMA_NODES)
        return VMCFG_ERR_TABLE
    vmconfig_set_numa_nodes(cfg, table.count)
    err = _add_nodes(cfg, table)
    if err != VMCFG_OK:
        return err
    possible = max_vcpus if max_vcpus < VM_MAX_VCPUS else VM_MAX_VCPUS
    if gic_version == 2 and possible > GICV2_MAX_VCPUS:
        possible = GICV2_MAX_VCPUS     # GICv2 target lists: no room to grow past 8 CPUs anyway
    if future_node_cpus == 0 or possible < cfg.nr_vcpus:
        possible = cfg.nr_vcpus
    k = u32(0)
    while cfg.max_vcpus < possible and table.count + k // future_node_cpus < VMCFG_MAX_AFF1:
        vmconfig_add_vcpu(cfg, table.count + k // future_node_cpus, k % future_node_cpus, u32(0))
        k += 1
    vmconfig_set_devices(cfg, gic_version)
    return vmconfig_validate(cfg)


def vmconfig_guest_ram_bytes(cfg: VmConfig) -> u64:
    # Total guest RAM of all regions.
    total = u64(0)
    for i in range(u32(0), cfg.nr_mem):
        total += cfg.mem[i].size_bytes
    return total
