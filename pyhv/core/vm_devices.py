# The devices of the VM and the glue between them and this node (docs/vm-model.md): the MMIO catalogue,
# the guest console's host side, the vGIC's kicks, the vPSCI power hooks of a one-node VM, the trap hooks,
# and vm_setup_devices, which registers all of it for vm_state().cfg. Shared by the one-node VM (vm.py) and
# the VM across nodes (vm_cluster.py), which replaces the kick and power hooks with the cross-node ones
# (remote_vm_init).

from typing import Final

from pyhv.lang import (
    cpu_relax, i32, kprint, mmio_read32, mmio_write32, range, u8, u32, u64,
)

from pyhv.arch.gic import gic_send_sgi
from pyhv.arch.stage2 import stage2_map_range
from pyhv.arch.stage2_desc import S2_DEVICE, S2_RW
from pyhv.arch.traps import GuestTrapOps
from pyhv.core.fdt import FDT_NONE, fdt_find_compatible
from pyhv.core.fdt_path import fdt_node_enabled
from pyhv.core.fdt_reg import FdtReg, fdt_reg
from pyhv.core.console_rx import console_rx_get, console_rx_irqs, console_rx_wanted
from pyhv.core.guestfault import GUESTFAULT_ABSENT_OPS, guestfault_installed, guestfault_set_ops
from pyhv.core.hostinfo import hostinfo
from pyhv.core.mmio import MMIO_REG_OK, MmioCatalog, MmioDevice, mmio_register, mmio_set_catalog
from pyhv.core.power import power_off
from pyhv.core.printk import printk_set_console
from pyhv.core.vcpu import VCPU_KICK_SGI, vcpu_is_current, vcpu_trap_irq, vcpu_trap_sync
from pyhv.core.vmconfig import (
    CLUSTERINFO_SIZE, GIC_DIST_SIZE, GICV2_CPU_SIZE, UART_SIZE, vmconfig_gic_redist_size,
)
from pyhv.core.vmstate import vm_state
from pyhv.core.vpsci import VPSCI_RET_INTERNAL_FAILURE, VPSCI_RET_SUCCESS, VcpuPowerOps
from pyhv.drivers.bcm2835_aux_uart import AUX_UART_CONSOLE_OPS, aux_uart_init
from pyhv.drivers.pl011 import pl011_init
from pyhv.vdev.vgic import VGIC_OK, VgicHostOps, vgic_init, vgic_inject, vgic_set_host_ops, vgic_set_vcpu_mpidr
from pyhv.vdev.vgic_lr import vgic_set_lr_ops
from pyhv.vdev.vgic_lr_v2 import VGIC_V2_LR_OPS, vgic_v2_set_gich
from pyhv.vdev.vgic_lr_v3 import VGIC_V3_LR_OPS
from pyhv.vdev.vgicv2_dist import VGICV2_DIST_DEVICE
from pyhv.vdev.vgicv3_dist import VGICV3_DIST_DEVICE
from pyhv.vdev.vgicv3_redist import VGICV3_REDIST_DEVICE, vgicv3_redist_reset
from pyhv.vdev.vpl011 import VPL011_DEVICE, Vpl011Ops, vpl011_rx_bytes, vpl011_rx_full_holds

# A user module outside pyhv/ (docs/writing-a-module.md): the compiler finds it from the repository root.
from examples.clusterinfo.clusterinfo import CLUSTERINFO_DEVICE, clusterinfo_reset

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


def vm_log_console(console_base: u64) -> None:
    # Once the guest owns the console UART, pyhv's log moves to the second PL011 (QEMU virt with two
    # -serial) or the mini UART (rpi4); without either it stays on the console, interleaved with the guest.
    log_uart = _second_uart(console_base)
    if log_uart != 0:
        kprint("vm: pyhv log continues on the pl011 at 0x%x; the guest console is 0x%x\n", log_uart,
               console_base)
        pl011_init(log_uart)
        return
    log_uart = _aux_uart()
    if log_uart != 0:
        kprint("vm: pyhv log continues on the mini uart at 0x%x; the guest console is 0x%x\n", log_uart,
               console_base)
        aux_uart_init(log_uart)
        printk_set_console(AUX_UART_CONSOLE_OPS)


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
