# BCM2835/BCM2711 "mini UART" (UART1 of the auxiliary block) as a transmit-only, polled console: pyhv's own
# log on the Raspberry Pi 4 once the guest owns the PL011 (docs/vm-model.md, "Consoles"). Register facts
# from the BCM2711 ARM peripherals datasheet, §2.2 (mini UART registers, offsets from the UART's base
# 0x7e215040 = aux block + 0x40): IO data at +0x00, LSR at +0x14 with bit 5 "transmitter can accept a byte".
# DTB: compatible "brcm,bcm2835-aux-uart". QEMU raspi4b connects it to its second serial port. The baud
# rate (derived from the VPU core clock) is left as the firmware set it (`enable_uart=1`).

from typing import Final

from pyhv.lang import Static, Struct, cpu_relax, mmio_read32, mmio_write32, u8, u32, u64

from pyhv.core.printk import ConsoleOps

AUX_MU_IO: Final = u64(0x00)            # write = transmit one byte
AUX_MU_LSR: Final = u64(0x14)           # line status
AUX_MU_LSR_TX_EMPTY: Final = u32(1 << 5)
_CHAR_CR: Final = u8(0x0D)
_CHAR_LF: Final = u8(0x0A)


class AuxUartState(Struct):
    base: u64


_aux: Final = Static(AuxUartState)


def aux_uart_init(base: u64) -> None:
    # Remember the UART's base (the node's reg, e.g. 0xfe215040); the firmware enabled and clocked it.
    _aux.get().base = base


def _aux_tx(base: u64, c: u8) -> None:
    while (mmio_read32(base + AUX_MU_LSR) & AUX_MU_LSR_TX_EMPTY) == 0:
        cpu_relax()
    mmio_write32(base + AUX_MU_IO, u32(c))


def aux_uart_putc(c: u8) -> None:
    # One byte; "\n" goes out as "\r\n".
    base = _aux.get().base
    if base == 0:
        return
    if c == _CHAR_LF:
        _aux_tx(base, _CHAR_CR)
    _aux_tx(base, c)


AUX_UART_CONSOLE_OPS: Final = ConsoleOps(putc=aux_uart_putc)
