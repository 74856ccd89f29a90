# The guest console's input on the node that owns the console: the host UART that carries the guest's
# console (the PL011 named by /chosen stdout-path: QEMU virt's UART, the Raspberry Pi 4's UART0, both
# QEMU's first serial port) feeds the emulated PL011's receive FIFO (pyhv/vdev/vpl011.py, which pulls
# through Vpl011Ops.rx_get / rx_wanted; this module provides both).
#
#   host UART RX FIFO ──(RXIM/RTIM, SPI from the DTB `interrupts`, routed to this CPU)──> console_rx_irq
#       ──> vpl011_rx_ready ──> rx_get() while the guest FIFO has room ──> guest SPI on the vGIC (level)
#   guest FIFO full / receiver off ──> rx_wanted(False): host RX interrupts masked, bytes stay in the host
#       UART (QEMU then stops reading its stdin); a guest DR read makes room and pulls again.
#
# Back-pressure therefore spans the whole path and no byte is dropped on the way (ARM DDI 0183G §3.3.13
# for the host UART's interrupt conditions). The SPI is enabled on the CPU that calls console_rx_init (the
# boot CPU, which runs vCPU 0): gic_enable_spi routes an SPI to its caller. Without a usable interrupt
# the input still reaches a guest that reads FR (the vPL011 pulls on every FR read).

from typing import Final

from pyhv.lang import Static, Struct, kprint, u32, u64

from pyhv.arch.gic import GIC_PRIO_DEFAULT, gic_enable_spi, gic_nr_irqs
from pyhv.arch.traps import DeviceIrqOps
from pyhv.core.fdt import FDT_NONE, fdt_find_compatible
from pyhv.core.fdt_path import fdt_node_enabled
from pyhv.core.fdt_reg import FdtReg, fdt_intid, fdt_reg
from pyhv.drivers.pl011 import PL011_RX_NONE, pl011_rx_byte, pl011_rx_irq
from pyhv.vdev.vpl011 import VPL011_RX_NONE, vpl011_rx_ready

FIRST_SPI_INTID: Final = u32(32)


class ConsoleRx(Struct):
    base: u64               # the host UART (0: no console input)
    intid: u32              # its receive interrupt (0: none usable, the guest's FR reads pull)
    irqs: u64               # receive interrupts taken


_rx: Final = Static(ConsoleRx)


def _uart_intid(base: u64) -> u32:
    # INTID of the enabled PL011 whose first reg entry is `base`; 0 if it has no SPI we can take.
    reg = FdtReg()
    node = fdt_find_compatible(FDT_NONE, "arm,pl011")
    while node != FDT_NONE:
        if fdt_node_enabled(node) and fdt_reg(node, u32(0), reg) and reg.addr == base:
            intid = fdt_intid(node)
            if intid >= FIRST_SPI_INTID and intid < gic_nr_irqs():
                return intid
            return u32(0)
        node = fdt_find_compatible(node, "arm,pl011")
    return u32(0)


def console_rx_init(base: u64) -> None:
    # Take input from the PL011 at `base` (0: none). Its receive interrupts stay masked until the guest's
    # receiver is on (vpl011_reset asks for that through rx_wanted). On the CPU that owns the console.
    st = _rx.get()
    st.base = base
    st.intid = u32(0)
    if base == 0:
        return
    pl011_rx_irq(base, False)
    st.intid = _uart_intid(base)
    if st.intid != 0:
        gic_enable_spi(st.intid, GIC_PRIO_DEFAULT)
        kprint("vm: console input from the uart at 0x%x, irq %u -> this cpu\n", base, st.intid)
    else:
        kprint("vm: console input from the uart at 0x%x: no usable irq, read when the guest polls\n", base)


def console_rx_get() -> u32:
    # Vpl011Ops.rx_get: the host UART's next byte.
    st = _rx.get()
    if st.base == 0:
        return VPL011_RX_NONE
    c = pl011_rx_byte(st.base)
    return VPL011_RX_NONE if c == PL011_RX_NONE else c


def console_rx_wanted(on: bool) -> None:
    # Vpl011Ops.rx_wanted: unmask the host's receive interrupts while the guest FIFO has room.
    st = _rx.get()
    if st.base != 0 and st.intid != 0:
        pl011_rx_irq(st.base, on)


def console_rx_claim(intid: u32) -> bool:
    # True if `intid` is the host UART's receive interrupt (counted); the caller then feeds the vPL011.
    st = _rx.get()
    if st.intid == 0 or intid != st.intid:
        return False
    st.irqs += 1
    return True


def console_rx_irq(intid: u32) -> bool:
    # The host UART's interrupt (DeviceIrqOps.handle of a single-node VM): True if ours. A VM across nodes
    # claims it and feeds the device wherever it is (remote_uart_input).
    if not console_rx_claim(intid):
        return False
    vpl011_rx_ready()
    return True


def console_rx_irqs() -> u64:
    return _rx.get().irqs


CONSOLE_RX_IRQ_OPS: Final = DeviceIrqOps(handle=console_rx_irq)
