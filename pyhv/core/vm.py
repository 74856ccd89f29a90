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
    Static, Struct, cpu_relax, dc_op, dsb, i32, ic_op, irq_wait, isb, kprint, mem_read8, mem_read64, mem_write8,
    mem_write64, mmio_read32, mmio_write32, range, symbol_addr, u8, u32, u64,
)

from pyhv.arch.gic import GIC_PRIO_DEFAULT, gic_enable_sgi, gic_send_sgi, gic_version
from pyhv.arch.stage2 import (
    stage2_init, stage2_install, stage2_map_range, stage2_pool_pages, stage2_pool_pages_for, stage2_pool_used,
)
from pyhv.arch.stage2_desc import S2_DEVICE, S2_RW, S2_RWX
from pyhv.arch.traps import GuestTrapOps, trap_set_device_irq_ops, trap_set_guest_ops
from pyhv.core.console_rx import (
    CONSOLE_RX_IRQ_OPS, console_rx_get, console_rx_init, console_rx_irqs, console_rx_wanted,
)
from pyhv.core.fdt import FDT_NONE, fdt_find_compatible, fdt_prop_u64
from pyhv.core.fdt_path import fdt_node_enabled, fdt_path
from pyhv.core.fdt_reg import FdtReg, fdt_reg
from pyhv.core.fdt_write import FDT_W_OK
from pyhv.core.guest_fdt import guest_fdt_build
from pyhv.core.guestfault import GUESTFAULT_ABSENT_OPS, guestfault_installed, guestfault_set_ops
from pyhv.core.hostinfo import HostInfo, hostinfo
from pyhv.core.loader import LOADER_OK, KernelImage, loader_parse_image, loader_place
from pyhv.core.mmio import MMIO_REG_OK, MmioCatalog, MmioDevice, mmio_register, mmio_set_catalog
from pyhv.core.payload import PAYLOAD_OK, Payload, payload_looks_valid, payload_parse, payload_report
from pyhv.core.power import power_off
from pyhv.core.printk import printk_set_console
from pyhv.core.vcpu import VCPU_KICK_SGI, vcpu_is_current, vcpu_run, vcpu_trap_irq, vcpu_trap_sync
from pyhv.core.vmconfig import (
    CLUSTERINFO_SIZE, GIC_DIST_SIZE, GICV2_CPU_SIZE, UART_SIZE, VMCFG_OK, vmconfig_gic_redist_size,
    VmConfig, vmconfig_set_bootargs_at, vmconfig_single_node, vmconfig_validate,
)
from pyhv.core.vmlayout import VMLAYOUT_OK, NodeLayout, vm_layout_node, vm_layout_print
from pyhv.core.vmstate import vm_ipa_to_host, vm_state
from pyhv.core.vpsci import (
    VPSCI_RET_INTERNAL_FAILURE, VPSCI_RET_SUCCESS, VcpuPowerOps, VpsciBoot, vpsci_init, vpsci_set_power_ops,
    vpsci_vcpu_started,
)
from pyhv.drivers.bcm2835_aux_uart import AUX_UART_CONSOLE_OPS, aux_uart_init
from pyhv.drivers.pl011 import pl011_init
from pyhv.vdev.vgic import VGIC_OK, VgicHostOps, vgic_init, vgic_inject, vgic_set_host_ops, vgic_set_vcpu_mpidr
from pyhv.vdev.vgic_lr import vgic_set_lr_ops
from pyhv.vdev.vgic_lr_v2 import VGIC_V2_LR_OPS, vgic_v2_set_gich
from pyhv.vdev.vgic_lr_v3 import VGIC_V3_LR_OPS
from pyhv.vdev.vgicv2_dist import VGICV2_DIST_DEVICE
from pyhv.vdev.vgicv3_dist import VGICV3_DIST_DEVICE
from pyhv.vdev.vgicv3_redist import VGICV3_REDIST_DEVICE, vgicv3_redist_reset
from pyhv.vdev.vpl011 import (
    VPL011_DEVICE, Vpl011Ops, vpl011_reset, vpl011_rx_bytes, vpl011_rx_full_holds, vpl011_set_ops,
)

# A user module outside pyhv/ (docs/writing-a-module.md): the compiler finds it from the repository root.
from examples.clusterinfo.clusterinfo import CLUSTERINFO_DEVICE, clusterinfo_reset

VM_DTB_BYTES: Final = u64(0x10000)          # room for the guest DTB
SZ_8K: Final = u64(0x2000)
CACHE_LINE_BYTES: Final = u64(64)
FIRST_SPI: Final = u32(32)

DEV_GICD_V3: Final = u32(0)                 # MMIO catalogue indices
DEV_GICR_V3: Final = u32(1)
DEV_UART: Final = u32(2)
DEV_GICD_V2: Final = u32(3)
DEV_CLUSTERINFO: Final = u32(4)

PL011_DR: Final = u64(0x000)                # the host UART the guest console drains into (ARM DDI 0183)
PL011_FR: Final = u64(0x018)
PL011_FR_TXFF: Final = u32(1 << 5)

VM_OK: Final = u32(0)
VM_ERR_PAYLOAD: Final = u32(1)
VM_ERR_MEMORY: Final = u32(2)
VM_ERR_CONFIG: Final = u32(3)
VM_ERR_LOADER: Final = u32(4)
VM_ERR_GIC: Final = u32(5)


class VmBoot(Struct):
    payload: Payload
    image: KernelImage
    payload_base: u64
    payload_size: u64
    layout: NodeLayout


_boot: Final = Static(VmBoot)


# --- devices the VM owns -----------------------------------------------------------------------------------

def _device(i: u32) -> MmioDevice:
    if i == DEV_GICD_V3:
        return VGICV3_DIST_DEVICE
    if i == DEV_GICR_V3:
        return VGICV3_REDIST_DEVICE
    if i == DEV_GICD_V2:
        return VGICV2_DIST_DEVICE
    if i == DEV_CLUSTERINFO:
        return CLUSTERINFO_DEVICE
    return VPL011_DEVICE


VM_CATALOG: Final = MmioCatalog(device=_device)


def _guest_tx(c: u8) -> None:
    # A byte the guest wrote to its PL011: straight to the host UART (the guest sends its own CR LF).
    base = vm_state().guest_uart_base
    if base == 0:
        return
    while (mmio_read32(base + PL011_FR) & PL011_FR_TXFF) != 0:
        cpu_relax()
    mmio_write32(base + PL011_DR, u32(c))


def _guest_uart_irq(level: bool) -> None:
    vgic_inject(u32(0), FIRST_SPI + vm_state().cfg.uart_spi, level)


VM_UART_OPS: Final = Vpl011Ops(tx=_guest_tx, irq=_guest_uart_irq, rx_get=console_rx_get,
                               rx_wanted=console_rx_wanted)


def _kick(vcpu: u32) -> None:
    # An interrupt was queued for `vcpu`: unless that is us (we flush before returning to the guest anyway),
    # a physical SGI makes its CPU exit the guest (or leave irq_wait) and flush its list registers.
    if vcpu_is_current(vcpu) or vcpu >= hostinfo().ncpus:
        return
    gic_send_sgi(hostinfo().cpus[vcpu].mpidr, VCPU_KICK_SGI)


VM_VGIC_HOST_OPS: Final = VgicHostOps(kick=_kick)


def _cpu_on(vcpu: u32) -> i32:
    # Its physical CPU sleeps in vm_secondary_main (or in a CPU_OFF wait): an SGI ends its irq_wait().
    if vcpu >= hostinfo().ncpus:
        return VPSCI_RET_INTERNAL_FAILURE
    if not vcpu_is_current(vcpu):
        gic_send_sgi(hostinfo().cpus[vcpu].mpidr, VCPU_KICK_SGI)
    return VPSCI_RET_SUCCESS


def _system_off() -> None:
    kprint("vm: console input %u bytes, %u host uart irqs, guest fifo full %u times\n", vpl011_rx_bytes(),
           console_rx_irqs(), vpl011_rx_full_holds())
    kprint("pyhv: the guest powered off\n")
    power_off()


def _system_reset() -> None:
    kprint("pyhv: the guest asked for a reset; pyhv cannot reset a VM yet, powering off\n")
    power_off()


VM_POWER_OPS: Final = VcpuPowerOps(cpu_on=_cpu_on, system_off=_system_off, system_reset=_system_reset)
VM_TRAP_OPS: Final = GuestTrapOps(sync=vcpu_trap_sync, irq=vcpu_trap_irq)


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


def _second_uart(first: u64) -> u64:
    # Base of an enabled PL011 other than `first` (QEMU virt with two -serial), 0 if none.
    reg = FdtReg()
    node = fdt_find_compatible(FDT_NONE, "arm,pl011")
    while node != FDT_NONE:
        if fdt_node_enabled(node) and fdt_reg(node, u32(0), reg) and reg.addr != first:
            return reg.addr
        node = fdt_find_compatible(node, "arm,pl011")
    return u64(0)


def _aux_uart() -> u64:
    # Base of an enabled BCM2835 mini UART (rpi4: pyhv's log once the guest owns the PL011), 0 if none.
    reg = FdtReg()
    node = fdt_find_compatible(FDT_NONE, "brcm,bcm2835-aux-uart")
    if node == FDT_NONE or not fdt_node_enabled(node) or not fdt_reg(node, u32(0), reg):
        return u64(0)
    return reg.addr


def _gicv2_frame(index: u32) -> u64:
    # reg entry `index` of the host GICv2 node: 2 = GICH (hypervisor control), 3 = GICV (virtual CPU if).
    reg = FdtReg()
    node = fdt_find_compatible(FDT_NONE, "arm,cortex-a15-gic")
    if node == FDT_NONE:
        node = fdt_find_compatible(FDT_NONE, "arm,gic-400")
    if node == FDT_NONE or not fdt_reg(node, index, reg):
        return u64(0)
    return reg.addr


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
    if b.payload.bootargs_size != 0:
        vmconfig_set_bootargs_at(cfg, b.payload.bootargs_addr, u32(b.payload.bootargs_size))
    if vmconfig_validate(cfg) != VMCFG_OK:
        return VM_ERR_CONFIG
    st.nr_vcpus = info.ncpus
    st.guest_uart_base = console_base
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


def vm_setup_devices() -> u32:
    # The vGIC, the MMIO regions and the device catalogue for vm_state().cfg (public for the unit tests).
    cfg = vm_state().cfg
    if vgic_init(cfg.gic_version, cfg.max_vcpus, cfg.nr_spis) != VGIC_OK:
        return VM_ERR_GIC
    for v in range(u32(0), cfg.max_vcpus):
        vgic_set_vcpu_mpidr(v, cfg.vcpus[v].mpidr)
    vgic_set_host_ops(VM_VGIC_HOST_OPS)
    if not guestfault_installed():
        guestfault_set_ops(GUESTFAULT_ABSENT_OPS)   # one node: all RAM is mapped (a DSM installs its own)
    mmio_set_catalog(VM_CATALOG)
    ok = mmio_register(cfg.uart_base, UART_SIZE, DEV_UART) == MMIO_REG_OK
    if cfg.clusterinfo_base != 0:
        clusterinfo_reset()
        ok = ok and mmio_register(cfg.clusterinfo_base, CLUSTERINFO_SIZE, DEV_CLUSTERINFO) == MMIO_REG_OK
    if cfg.gic_version == 3:
        vgic_set_lr_ops(VGIC_V3_LR_OPS)
        vgicv3_redist_reset()
        ok = ok and mmio_register(cfg.gicd_base, GIC_DIST_SIZE, DEV_GICD_V3) == MMIO_REG_OK
        ok = ok and mmio_register(cfg.gicr_base, vmconfig_gic_redist_size(cfg), DEV_GICR_V3) == MMIO_REG_OK
    else:
        gich = _gicv2_frame(u32(2))
        gicv = _gicv2_frame(u32(3))
        if gich == 0 or gicv == 0:
            kprint("vm: the host GICv2 has no virtualization frames (GICH/GICV) in the DTB\n")
            return VM_ERR_GIC
        vgic_v2_set_gich(gich)
        vgic_set_lr_ops(VGIC_V2_LR_OPS)
        ok = ok and mmio_register(cfg.gicd_base, GIC_DIST_SIZE, DEV_GICD_V2) == MMIO_REG_OK
        stage2_map_range(cfg.gicc_base, gicv, GICV2_CPU_SIZE, S2_RW | S2_DEVICE)
    return VM_OK if ok else VM_ERR_GIC


def vm_prepare(console_base: u64) -> u32:
    # Everything before the first guest entry, on the boot CPU. VM_OK or a VM_ERR_* (already reported).
    info = hostinfo()
    b = _boot.get()
    st = vm_state()
    err = payload_parse(b.payload_base, b.payload_size, b.payload)
    if err != PAYLOAD_OK:
        payload_report(err)
        return VM_ERR_PAYLOAD
    log_uart = _second_uart(console_base)
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
    if err != VM_OK:
        return err
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
    console_rx_init(console_base)       # host input -> the vPL011 (before its reset masks the host RX irq)
    trap_set_device_irq_ops(CONSOLE_RX_IRQ_OPS)
    vpl011_set_ops(VM_UART_OPS)
    vpl011_reset()
    vpsci_init(cfg, u32(0))
    vpsci_set_power_ops(VM_POWER_OPS)
    kprint("vm: %u vcpus, %u MiB ram at ipa 0x%x (host 0x%x), gic v%u\n", cfg.nr_vcpus,
           u32(cfg.mem[0].size_bytes >> 20), cfg.mem[0].ipa_base, st.ram_host_base, cfg.gic_version)
    kprint("vm: kernel 0x%x (%u bytes), initrd 0x%x (%u bytes), dtb 0x%x\n",
           cfg.kernel_ipa, b.payload.kernel_size, cfg.initrd_ipa, b.payload.initrd_size, cfg.dtb_ipa)
    kprint("vm: stage-2 table pool %u pages (%u KiB, worst case for page-by-page mapping of the ram), %u used\n",
           u32(stage2_pool_pages()), u32(stage2_pool_pages() * 4), u32(stage2_pool_used()))
    if log_uart != 0:
        kprint("vm: pyhv log continues on the pl011 at 0x%x; the guest console is 0x%x\n", log_uart,
               console_base)
        pl011_init(log_uart)
    else:
        log_uart = _aux_uart()
        if log_uart != 0:
            kprint("vm: pyhv log continues on the mini uart at 0x%x; the guest console is 0x%x\n", log_uart,
                   console_base)
            aux_uart_init(log_uart)
            printk_set_console(AUX_UART_CONSOLE_OPS)
    trap_set_guest_ops(VM_TRAP_OPS)
    st.active = True
    return VM_OK


def vm_start() -> None:
    # On the boot CPU after vm_prepare: become vCPU 0 at the kernel entry with x0 = DTB.
    cfg = vm_state().cfg
    vcpu_run(u32(0), cfg.kernel_ipa, cfg.dtb_ipa)


def vm_secondary_main(cpu: u64) -> None:
    # Physical CPU `cpu` runs vCPU `cpu`: sleep in irq_wait() until the guest's PSCI CPU_ON of it (the
    # kick SGI from _cpu_on), then enter. (WFE would do too on hardware, but QEMU's TCG treats WFE as a
    # mere yield, so waiting CPUs would spin and starve the running ones.)
    boot = VpsciBoot()
    stage2_install()                    # the VM's VMID on this CPU before it may issue a stage-2 TLBI
    gic_enable_sgi(VCPU_KICK_SGI, GIC_PRIO_DEFAULT)
    while not vpsci_vcpu_started(u32(cpu), boot):
        irq_wait()
    vcpu_run(u32(cpu), boot.entry, boot.context_id)
