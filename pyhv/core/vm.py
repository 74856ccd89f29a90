# Setting up this node's one VM from the guest payload, then starting it (docs/vm-model.md, "The VM on one
# node"). Called by hv_main when the host DTB's /chosen initrd is a pyhv payload (pyhv/core/payload.py);
# without one the node runs the boot self-test instead.
#
# Host RAM (QEMU virt, -m M)                       Guest IPA map (vmconfig.py, QEMU virt's own layout)
#   ram_base            +-----------------------+    0x0800_0000 GICD, GICR (v3) / GICC -> host GICV (v2)
#   ram_base + 2 MiB    | pyhv image, stacks    |    0x0900_0000 PL011 (emulated, SPI 1)
#   _end (8 KiB align)  | stage-2 table pool    |    0x4000_0000 RAM: M - reserved
#   + reserved (2 MiB)  +-----------------------+ <- IPA 0x4000_0000 (2 MiB aligned: block mappings)
#                       | guest RAM             |      Image kernel at IPA 0x4000_0000 + text_offset (raw:
#                       |  (payload, host DTB   |      + 0x80000), initrd, DTB: pyhv/core/loader.py
#                       |   sit here until the  |
#                       |   guest overwrites)   |
#   ram_base + M        +-----------------------+
#
# pyhv's reservation is sized at boot (vmlayout.py: up to _end plus the stage-2 pool, rounded up to 2 MiB,
# printed as "vm: host RAM ..."), so the guest's MemTotal is about M minus that minus what the kernel itself
# reserves. The payload is copied out forwards: every destination
# lies below its source (checked), so no part is overwritten before it was copied.

from typing import Final

from pyhv.lang import (
    Static, Struct, dc_op, dsb, ic_op, irq_wait, isb, kprint, mem_read8, mem_read64, mem_write8, mem_write64,
    range, symbol_addr, u32, u64,
)

from pyhv.arch.gic import GIC_PRIO_DEFAULT, gic_enable_sgi, gic_version
from pyhv.arch.stage2 import (
    stage2_init, stage2_install, stage2_map_range, stage2_pool_pages, stage2_pool_pages_for, stage2_pool_used,
)
from pyhv.arch.stage2_desc import S2_RWX
from pyhv.arch.traps import trap_set_device_irq_ops, trap_set_guest_ops
from pyhv.core.console_rx import CONSOLE_RX_IRQ_OPS, console_rx_init
from pyhv.core.fdt import FDT_NONE, fdt_prop_u64
from pyhv.core.fdt_path import fdt_path
from pyhv.core.fdt_write import FDT_W_OK
from pyhv.core.guest_fdt import guest_fdt_build
from pyhv.core.hostinfo import HostInfo, hostinfo
from pyhv.core.loader import LOADER_OK, KernelImage, loader_parse_image, loader_place
from pyhv.core.payload import PAYLOAD_OK, Payload, payload_looks_valid, payload_parse, payload_report
from pyhv.core.vcpu import VCPU_KICK_SGI, vcpu_run
from pyhv.core.vm_devices import (
    VM_ERR_CONFIG, VM_ERR_LOADER, VM_ERR_MEMORY, VM_ERR_PAYLOAD, VM_OK, VM_POWER_OPS, VM_TRAP_OPS, VM_UART_OPS,
    vm_log_console, vm_setup_devices,
)
from pyhv.core.vmconfig import (
    VMCFG_OK, VmConfig, vmconfig_set_bootargs_at, vmconfig_single_node, vmconfig_validate,
)
from pyhv.core.vmlayout import VMLAYOUT_OK, NodeLayout, vm_layout_node, vm_layout_print
from pyhv.core.vmstate import vm_cpu_set_index, vm_ipa_to_host, vm_state
from pyhv.core.vpsci import VpsciBoot, vpsci_init, vpsci_set_power_ops, vpsci_vcpu_started
from pyhv.vdev.vpl011 import vpl011_reset, vpl011_set_ops

VM_DTB_BYTES: Final = u64(0x10000)          # room for the guest DTB
SZ_8K: Final = u64(0x2000)
CACHE_LINE_BYTES: Final = u64(64)


class VmBoot(Struct):
    payload: Payload
    image: KernelImage
    payload_base: u64
    payload_size: u64
    layout: NodeLayout


_boot: Final = Static(VmBoot)


# --- set-up ------------------------------------------------------------------------------------------------

def vm_find_payload() -> bool:
    # Is the host DTB's /chosen initrd a pyhv payload? Remembers where it is.
    chosen = fdt_path("/chosen")
    if chosen == FDT_NONE:
        return False
    start = fdt_prop_u64(chosen, "linux,initrd-start", u64(0))
    end = fdt_prop_u64(chosen, "linux,initrd-end", u64(0))
    if start == 0 or end <= start or not payload_looks_valid(start, end - start):
        return False
    b = _boot.get()
    b.payload_base = start
    b.payload_size = end - start
    return True


def _copy(dst: u64, src: u64, n: u64) -> None:
    # Forward copy (safe when dst <= src), then clean the destination to the point of coherency: the guest
    # starts with its MMU and caches off (booting.rst).
    i = u64(0)
    while i + 8 <= n:
        mem_write64(dst + i, mem_read64(src + i))
        i += 8
    while i < n:
        mem_write8(dst + i, mem_read8(src + i))
        i += 1
    _clean(dst, n)


def _clean(addr: u64, n: u64) -> None:
    line = addr & ~(CACHE_LINE_BYTES - 1)
    while line < addr + n:
        dc_op("cvac", line)
        line += CACHE_LINE_BYTES


def _setup_memory(info: HostInfo) -> u32:
    st = vm_state()
    pool = (symbol_addr("_end") + SZ_8K - 1) & ~(SZ_8K - 1)
    lay = _boot.get().layout
    # One node: no DSM metadata, no cache pool (the cluster VM passes its own sizes, docs/dsm.md). The
    # guest's RAM is below the host's, so the stage-2 bound for the host RAM covers it.
    pool_pages = stage2_pool_pages_for(info.ram_size)
    if vm_layout_node(info.ram_size, u64(0), u32(1), pool - info.ram_base, u64(pool_pages), u64(0),
                      lay) != VMLAYOUT_OK:
        return VM_ERR_MEMORY
    vm_layout_print(lay)
    st.ram_host_base = info.ram_base + lay.home_offset
    return VM_OK


def vm_stage2_pool_pages(cfg: VmConfig) -> u32:
    # Stage-2 table pages for every RAM region of `cfg` mapped page by page in the worst case: the bound
    # of pyhv/arch/stage2.py for their total size; each region after the first adds at most two level-2
    # and two level-3 tables (one for rounding its size up, one for an unaligned start).
    total = u64(0)
    for i in range(u32(0), cfg.nr_mem):
        total += cfg.mem[i].size_bytes
    extra = u32(0) if cfg.nr_mem == 0 else (cfg.nr_mem - 1) * 4
    return stage2_pool_pages_for(total) + extra


def _setup_stage2(cfg: VmConfig) -> u32:
    # The table pool right after the image, sized from the guest IPA space; then VTCR/VTTBR on this CPU
    # (the other CPUs install them in vm_secondary_main before anything else).
    pool = (symbol_addr("_end") + SZ_8K - 1) & ~(SZ_8K - 1)
    pages = vm_stage2_pool_pages(cfg)
    if pool + u64(pages) * 4096 > vm_state().ram_host_base:
        kprint("vm: %u stage-2 table pages do not fit in pyhv's reservation (%u KiB)\n", pages,
               u32((vm_state().ram_host_base - pool) >> 10))
        return VM_ERR_MEMORY
    stage2_init(pool, pages)
    stage2_install()
    return VM_OK


def _setup_config(info: HostInfo, console_base: u64) -> u32:
    st = vm_state()
    b = _boot.get()
    cfg = st.cfg
    ram = b.layout.home_bytes
    vmconfig_single_node(cfg, info.ncpus, info.ncpus, ram, gic_version())
    if vm_set_bootargs() != VM_OK:
        return VM_ERR_CONFIG
    st.nr_vcpus = info.ncpus
    st.guest_uart_base = console_base
    return vm_place_guest()


def vm_set_bootargs() -> u32:
    # The payload's bootargs into vm_state().cfg (already built), then validate it.
    cfg = vm_state().cfg
    b = _boot.get()
    if b.payload.bootargs_size != 0:
        vmconfig_set_bootargs_at(cfg, b.payload.bootargs_addr, u32(b.payload.bootargs_size))
    if vmconfig_validate(cfg) != VMCFG_OK:
        return VM_ERR_CONFIG
    return VM_OK


def vm_place_guest() -> u32:
    # Where the kernel, initrd and DTB go in the guest's first RAM region (vm_state().ram_host_base is its
    # host address), checked against where the payload lies now (the copy runs forwards).
    b = _boot.get()
    cfg = vm_state().cfg
    if loader_parse_image(b.payload.kernel_addr, b.payload.kernel_size, b.image) != LOADER_OK:
        return VM_ERR_LOADER
    if loader_place(cfg, b.image, b.payload.initrd_size, VM_DTB_BYTES) != LOADER_OK:
        return VM_ERR_LOADER
    k_dst = vm_ipa_to_host(cfg.kernel_ipa)
    i_dst = vm_ipa_to_host(cfg.initrd_ipa)
    if k_dst > b.payload.kernel_addr or k_dst + b.payload.kernel_size > b.payload_base + b.payload_size or \
            (b.payload.initrd_size != 0 and (i_dst > b.payload.initrd_addr or
                                             k_dst + b.payload.kernel_size > b.payload.initrd_addr)):
        kprint("vm: the payload at 0x%x lies where the guest images go; give the node more RAM\n",
               b.payload_base)
        return VM_ERR_MEMORY
    return VM_OK


def vm_parse_payload() -> u32:
    # The payload vm_find_payload found, parsed (kernel, initrd, bootargs). VM_OK or VM_ERR_PAYLOAD (reported).
    b = _boot.get()
    err = payload_parse(b.payload_base, b.payload_size, b.payload)
    if err != PAYLOAD_OK:
        payload_report(err)
        return VM_ERR_PAYLOAD
    return VM_OK


def vm_load_guest() -> u32:
    # Copy the kernel and initrd to their guest addresses and write the guest DTB (vm_place_guest first),
    # clean them to the point of coherency, and report. The first RAM region must be mapped already.
    b = _boot.get()
    cfg = vm_state().cfg
    _copy(vm_ipa_to_host(cfg.kernel_ipa), b.payload.kernel_addr, b.payload.kernel_size)
    if b.payload.initrd_size != 0:
        _copy(vm_ipa_to_host(cfg.initrd_ipa), b.payload.initrd_addr, b.payload.initrd_size)
    if guest_fdt_build(cfg, vm_ipa_to_host(cfg.dtb_ipa), u32(VM_DTB_BYTES)) != FDT_W_OK:
        kprint("vm: the guest DTB does not fit in %u bytes\n", u32(VM_DTB_BYTES))
        return VM_ERR_CONFIG
    _clean(vm_ipa_to_host(cfg.dtb_ipa), VM_DTB_BYTES)
    dsb("sy")
    ic_op("iallu")
    isb()
    kprint("vm: kernel 0x%x (%u bytes), initrd 0x%x (%u bytes), dtb 0x%x\n",
           cfg.kernel_ipa, b.payload.kernel_size, cfg.initrd_ipa, b.payload.initrd_size, cfg.dtb_ipa)
    return VM_OK


def vm_activate() -> None:
    # Last step of the set-up: guest traps go to the vCPU code from now on.
    trap_set_guest_ops(VM_TRAP_OPS)
    vm_state().active = True


def vm_prepare(console_base: u64) -> u32:
    # Everything before the first guest entry, on the boot CPU. VM_OK or a VM_ERR_* (already reported).
    info = hostinfo()
    st = vm_state()
    err = vm_parse_payload()
    if err == VM_OK:
        err = _setup_memory(info)
    if err == VM_OK:
        err = _setup_config(info, console_base)
    if err == VM_OK:
        err = _setup_stage2(st.cfg)
    if err != VM_OK:
        return err
    cfg = st.cfg
    stage2_map_range(cfg.mem[0].ipa_base, st.ram_host_base, cfg.mem[0].size_bytes, S2_RWX)
    err = vm_setup_devices()
    if err == VM_OK:
        err = vm_load_guest()
    if err != VM_OK:
        return err
    console_rx_init(console_base)       # host input -> the vPL011 (before its reset masks the host RX irq)
    trap_set_device_irq_ops(CONSOLE_RX_IRQ_OPS)
    vpl011_set_ops(VM_UART_OPS)
    vpl011_reset()
    vpsci_init(cfg, u32(0))
    vpsci_set_power_ops(VM_POWER_OPS)
    kprint("vm: %u vcpus, %u MiB ram at ipa 0x%x (host 0x%x), gic v%u\n", cfg.nr_vcpus,
           u32(cfg.mem[0].size_bytes >> 20), cfg.mem[0].ipa_base, st.ram_host_base, cfg.gic_version)
    kprint("vm: stage-2 table pool %u pages (%u KiB, worst case for page-by-page mapping of the ram), %u used\n",
           u32(stage2_pool_pages()), u32(stage2_pool_pages() * 4), u32(stage2_pool_used()))
    vm_log_console(console_base)
    vm_activate()
    return VM_OK


def vm_start() -> None:
    # On the boot CPU after vm_prepare: become vCPU 0 at the kernel entry with x0 = DTB.
    cfg = vm_state().cfg
    vcpu_run(u32(0), cfg.kernel_ipa, cfg.dtb_ipa)


def vm_secondary_main(cpu: u64) -> None:
    # Physical CPU `cpu` runs vCPU vcpu_base + `cpu` (vcpu_base = 0 on one node; the node's first global
    # vCPU in a cluster): sleep in irq_wait() until the guest's PSCI CPU_ON of it (the kick SGI), then
    # enter. (WFE would do too on hardware, but QEMU's TCG treats WFE as a mere yield, so waiting CPUs would
    # spin and starve the running ones.) On a cluster node's CPU 0 the interrupts that end the waits also
    # serve the cluster (the NIC's, the EL2 timer's: vm_cluster.py).
    boot = VpsciBoot()
    vcpu = vm_state().vcpu_base + u32(cpu)
    vm_cpu_set_index(u32(cpu))
    stage2_install()                    # the VM's VMID on this CPU before it may issue a stage-2 TLBI
    gic_enable_sgi(VCPU_KICK_SGI, GIC_PRIO_DEFAULT)
    while not vpsci_vcpu_started(vcpu, boot):
        irq_wait()
    vcpu_run(vcpu, boot.entry, boot.context_id)
