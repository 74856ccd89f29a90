"""Register-level PL011 model (ARM DDI 0183G §3.3) for driver tests: enough of DR/FR/LCR_H/CR/IMSC/ICR.

Transmitted bytes land in `tx` only while CR.UARTEN and CR.TXE are set (writes to DR otherwise go to
`dropped`, as the real UART ignores them). `busy_reads` / `full_reads` make FR report BUSY / TXFF for that
many reads, so tests can check the driver waits.
"""

from __future__ import annotations

DR, FR, IBRD, FBRD, LCR_H, CR, IMSC, ICR = 0x00, 0x18, 0x24, 0x28, 0x2C, 0x30, 0x38, 0x44
FR_BUSY, FR_TXFF, FR_TXFE = 1 << 3, 1 << 5, 1 << 7
CR_UARTEN, CR_TXE, CR_RXE = 1 << 0, 1 << 8, 1 << 9


class Pl011Model:
    def __init__(self) -> None:
        self.regs = {LCR_H: 0, CR: CR_UARTEN | CR_TXE | CR_RXE, IMSC: 0x7FF, IBRD: 13, FBRD: 1}
        self.tx = bytearray()
        self.dropped = bytearray()
        self.busy_reads = 0
        self.full_reads = 0
        self.fr_reads = 0
        self.writes: list[tuple[int, int]] = []
        self.pending_irqs = 0x7FF

    def read(self, offset: int, width_bytes: int) -> int:
        if offset == FR:
            self.fr_reads += 1
            fr = FR_TXFE
            if self.busy_reads > 0:
                self.busy_reads -= 1
                fr |= FR_BUSY
            if self.full_reads > 0:
                self.full_reads -= 1
                fr = (fr | FR_TXFF) & ~FR_TXFE
            return fr
        return self.regs.get(offset, 0)

    def write(self, offset: int, width_bytes: int, value: int) -> None:
        self.writes.append((offset, value))
        if offset == DR:
            enabled = self.regs[CR] & (CR_UARTEN | CR_TXE) == CR_UARTEN | CR_TXE
            (self.tx if enabled else self.dropped).append(value & 0xFF)
        elif offset == ICR:
            self.pending_irqs &= ~value
        else:
            self.regs[offset] = value

    def text(self) -> str:
        return self.tx.decode("utf-8", errors="replace")
