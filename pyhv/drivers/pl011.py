# ARM PrimeCell UART (PL011) console driver: ARM DDI 0183G, chapter 3 ("Programmers Model").
# Transmit, polled: the hypervisor's own log. Receive, for the guest console's input (pyhv/core/console_rx.py):
# a byte at a time from DR while FR.RXFE is clear, and the receive interrupts (RXIM, RTIM; §3.3.13) switched
# on and off as the guest's emulated FIFO has room. They are level conditions of the UART's own FIFO
# (at/above the trigger level, or data waiting past the timeout), cleared by reading it, so the driver never
# writes ICR for them: masking leaves the bytes in the FIFO and the condition pending until unmasked. The
# baud-rate divisors (IBRD/FBRD) are left as the firmware set them: the UART reference clock is board data
# we do not know here, and QEMU ignores them.

from typing import Final

from pyhv.lang import Static, Struct, cpu_relax, mmio_read32, mmio_write32, u8, u32, u64

from pyhv.core.printk import ConsoleOps

PL011_DR: Final = u64(0x000)            # data register: write = transmit one byte
PL011_FR: Final = u64(0x018)            # flag register
PL011_LCR_H: Final = u64(0x02C)         # line control: word length, FIFO enable, parity, stop bits
PL011_CR: Final = u64(0x030)            # control: UART/TX/RX enable
PL011_IMSC: Final = u64(0x038)          # interrupt mask set/clear (1 = enabled)
PL011_ICR: Final = u64(0x044)           # interrupt clear (write 1s)

PL011_FR_BUSY: Final = u32(1 << 3)      # FR: still transmitting (FIFO or shift register not empty)
PL011_FR_RXFE: Final = u32(1 << 4)      # FR: receive FIFO empty
PL011_FR_TXFF: Final = u32(1 << 5)      # FR: transmit FIFO full
PL011_LCR_H_FEN: Final = u32(1 << 4)    # LCR_H: FIFOs enabled
PL011_LCR_H_WLEN8: Final = u32(3 << 5)  # LCR_H: 8 data bits (no parity, 1 stop bit: bits left 0 = 8N1)
PL011_CR_UARTEN: Final = u32(1 << 0)    # CR: UART enable
PL011_CR_TXE: Final = u32(1 << 8)       # CR: transmit enable
PL011_CR_RXE: Final = u32(1 << 9)       # CR: receive enable
PL011_ICR_ALL: Final = u32(0x7FF)       # ICR: every interrupt source
PL011_INT_RX: Final = u32(1 << 4)       # IMSC/RIS: receive (FIFO at or above its trigger level)
PL011_INT_RT: Final = u32(1 << 6)       # IMSC/RIS: receive timeout (data below the level, line idle)
PL011_RX_NONE: Final = u32(0x100)       # pl011_rx_byte: the receive FIFO is empty

_BUSY_WAIT_MAX: Final = u32(100000)     # polls of FR.BUSY before we reprogram anyway
_CHAR_CR: Final = u8(0x0D)
_CHAR_LF: Final = u8(0x0A)


class Pl011State(Struct):
    base: u64


_uart: Final = Static(Pl011State)


def pl011_init(base: u64) -> None:
    # Disable, let the last character drain, program 8N1 with FIFOs, mask interrupts, enable TX and RX.
    _uart.get().base = base
    mmio_write32(base + PL011_CR, u32(0))
    polls = u32(0)
    while (mmio_read32(base + PL011_FR) & PL011_FR_BUSY) != 0 and polls < _BUSY_WAIT_MAX:
        polls += 1
        cpu_relax()
    mmio_write32(base + PL011_LCR_H, PL011_LCR_H_WLEN8 | PL011_LCR_H_FEN)
    mmio_write32(base + PL011_IMSC, u32(0))
    mmio_write32(base + PL011_ICR, PL011_ICR_ALL)
    mmio_write32(base + PL011_CR, PL011_CR_UARTEN | PL011_CR_TXE | PL011_CR_RXE)


def _pl011_tx(base: u64, c: u8) -> None:
    while (mmio_read32(base + PL011_FR) & PL011_FR_TXFF) != 0:
        cpu_relax()
    mmio_write32(base + PL011_DR, u32(c))


def pl011_putc(c: u8) -> None:
    # One byte; "\n" goes out as "\r\n" for serial terminals.
    base = _uart.get().base
    if c == _CHAR_LF:
        _pl011_tx(base, _CHAR_CR)
    _pl011_tx(base, c)


def pl011_rx_byte(base: u64) -> u32:
    # The oldest received byte of the UART at `base`, or PL011_RX_NONE. DR's error bits [11:8] (framing,
    # parity, break, overrun) are dropped: the byte as received is all a console can pass on.
    if (mmio_read32(base + PL011_FR) & PL011_FR_RXFE) != 0:
        return PL011_RX_NONE
    return mmio_read32(base + PL011_DR) & 0xFF


def pl011_rx_irq(base: u64, on: bool) -> None:
    # Unmask (on) or mask the receive and receive-timeout interrupts; the other IMSC bits are kept.
    imsc = mmio_read32(base + PL011_IMSC)
    rx = PL011_INT_RX | PL011_INT_RT
    mmio_write32(base + PL011_IMSC, (imsc | rx) if on else (imsc & ~rx))


def pl011_base() -> u64:
    return _uart.get().base


PL011_CONSOLE_OPS: Final = ConsoleOps(putc=pl011_putc)
