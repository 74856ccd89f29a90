"""Register-level model of the BCM2711's GENET v5 MAC with a BCM54213PE PHY on its MDIO bus.

Written from the facts in docs/boards.md ("GENET cross-check": Linux bcmgenet, U-Boot bcmgenet, FreeBSD
if_genet), not from pyhv's driver. What it models:

* SYS_REV_CTRL reads major 6 (GENET v5); the other SYS/EXT/RBUF/UMAC registers hold what is written;
  UMAC_CMD's SW_RESET holds the MAC in reset;
* the descriptor RAM of RDMA and TDMA (256 x 3 words each, in register space), ring 16's registers
  (START/END in words, RING_BUF_SIZE, producer/consumer indices, read pointers) and the DMA_CTRL /
  RING_CFG enables; the hardware-owned index (RX producer, TX consumer) starts at a configurable value
  and cannot be written (a write to RDMA_PROD_INDEX only replaces the discard count in bits 31:16);
* transmit: a write of TDMA_PROD_INDEX sends every descriptor up to it (or holds them, `tx_hold`), reading
  the buffer through the non-coherent DMA model, and advances TDMA_CONS_INDEX;
* receive (`deliver`): the frame goes into the next descriptor's buffer (2 pad bytes first with
  RBUF_ALIGN_2B), the descriptor gets length/SOP/EOP (and error bits if asked), the producer index moves;
  a full ring drops the frame and counts it in RDMA_PROD_INDEX[31:16] (saturating at 0xffff);
* INTRL2_0: status/set/clear/mask; RXDMA_DONE after MBUF_DONE_THRESH frames, TXDMA_DONE per send;
  `irq_pending()` is the SPI line;
* MDIO_CMD: START_BUSY stays set for `mdio_busy_reads` reads; reads of an absent PHY set READ_FAIL;
* the PHY: clause 22 registers, BMCR reset (self-clearing), autonegotiation against a link partner that
  finishes after `an_reads` BMSR reads, latched-low link status, `unplug()` / `plug()`.

`violations` collects what a driver did wrong (tests expect it empty).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .dma_cache import NoncoherentDma

RING16_RX = 0x3000
RING16_TX = 0x5000
RDMA_REGS = 0x3040
TDMA_REGS = 0x5040
SOP, EOP, OWN = 0x2000, 0x4000, 0x8000
IRQ_RXDMA_DONE, IRQ_TXDMA_DONE, IRQ_MDIO_DONE = 1 << 13, 1 << 16, 1 << 23
MDIO_START_BUSY, MDIO_READ_FAIL, MDIO_RD, MDIO_WR = 1 << 29, 1 << 28, 1 << 27, 1 << 26
CMD_TX_EN, CMD_RX_EN, CMD_SW_RESET = 1 << 0, 1 << 1, 1 << 13
RBUF_ALIGN_2B = 1 << 1
BMCR_RESET, BMCR_ANENABLE, BMCR_ANRESTART = 1 << 15, 1 << 12, 1 << 9
BMSR_LSTATUS, BMSR_ANEGCOMPLETE = 1 << 2, 1 << 5
BMSR_BASE = 0x7949                      # 10/100 full/half capable, extended status, AN able, extended caps


@dataclass
class PhyModel:
    """BCM54213PE-shaped clause 22 PHY (id 0x600d84a2) with a link partner on the cable."""

    partner_adv: int = 0x01E1           # what the partner advertises in ANAR terms (10/100 full/half)
    partner_1000full: bool = True
    plugged: bool = True
    an_reads: int = 2                   # BMSR reads after an autonegotiation start before it completes
    regs: dict[int, int] = field(default_factory=dict)
    reset_count: int = 0
    an_started: int = 0
    _an_left: int = -1
    _latched_down: bool = True
    _link: bool = False

    def __post_init__(self) -> None:
        self._defaults()

    def _defaults(self) -> None:
        self.regs = {0: 0x1140, 2: 0x600D, 3: 0x84A2, 4: 0x01E1, 5: 0, 9: 0x0300, 10: 0}
        self._an_left = -1
        self._link = False
        self._latched_down = True

    def _start_an(self) -> None:
        self.an_started += 1
        self._an_left = self.an_reads
        self._link = False
        self._latched_down = True
        self.regs[5] = 0
        self.regs[10] = 0

    def read(self, reg: int) -> int:
        if reg == 0:
            v = self.regs[0]
            self.regs[0] &= ~BMCR_RESET & ~BMCR_ANRESTART        # both self-clear
            return v
        if reg == 1:
            if self._an_left > 0 and self.plugged:
                self._an_left -= 1
                if self._an_left == 0:
                    self._link = True
                    self.regs[5] = self.partner_adv | 0x4000      # + ACK
                    self.regs[10] = 0x0800 if self.partner_1000full else 0
            v = BMSR_BASE
            if self._link and not self._latched_down:
                v |= BMSR_LSTATUS
            if self._link:
                v |= BMSR_ANEGCOMPLETE
            self._latched_down = False                           # latched low: cleared by the read
            return v
        return self.regs.get(reg, 0)

    def write(self, reg: int, value: int) -> None:
        if reg == 0:
            if value & BMCR_RESET:
                self.reset_count += 1
                self._defaults()
                self.regs[0] = 0x1140 | BMCR_RESET                 # reads as in reset once
                return
            self.regs[0] = value
            if value & BMCR_ANENABLE and value & BMCR_ANRESTART:
                self._start_an()
            return
        if reg in (4, 9):
            self.regs[reg] = value

    def unplug(self) -> None:
        self.plugged = False
        self._link = False
        self._latched_down = True

    def plug(self) -> None:
        self.plugged = True
        self._start_an()


class GenetModel:
    def __init__(self, dma: NoncoherentDma, *, phy: PhyModel | None = None, phy_addr: int = 1,
                 rx_prod_start: int = 0x1234, tx_cons_start: int = 0xFFF0, mdio_busy_reads: int = 2,
                 rev: int = 0x0600_0000) -> None:
        self.dma = dma
        self.phy = phy if phy is not None else PhyModel()
        self.phy_addr = phy_addr
        self.rev = rev
        self.regs: dict[int, int] = {}
        self.rx_desc = [[0, 0, 0] for _ in range(256)]
        self.tx_desc = [[0, 0, 0] for _ in range(256)]
        self.rx_prod = rx_prod_start & 0xFFFF
        self.rx_discards = 0
        self.rx_cons = 0
        self.rx_cursor = 0                  # next rx descriptor, relative to the ring start
        self.tx_cons = tx_cons_start & 0xFFFF
        self.tx_prod = 0
        self.tx_cursor = 0
        self.tx_hold = False
        self.tx_frames: list[bytes] = []
        self.tx_status: list[int] = []
        self.intr_stat = 0
        self.intr_mask = 0xFFFFFFFF
        self.rx_since_irq = 0
        self.mdio_cmd = 0
        self.mdio_busy_left = 0
        self.mdio_busy_reads = mdio_busy_reads
        self.violations: list[str] = []
        self.dropped_not_ready = 0
        self.dropped_too_long = 0
        self.writes: list[tuple[int, int]] = []

    # --- helpers ------------------------------------------------------------------------------------

    def _ring_descs(self, ring: int) -> tuple[int, int]:
        """(first descriptor, count) of ring 16 from START/END (in words)."""
        start = self.regs.get(ring + 0x14, 0) // 3
        end = self.regs.get(ring + 0x1C, 0)
        return start, (end + 1) // 3 - start

    def _enabled(self, regs: int) -> bool:
        ctrl = self.regs.get(regs + 0x04, 0)
        return bool(ctrl & 1) and bool(ctrl & (1 << 17)) and bool(self.regs.get(regs, 0) & (1 << 16))

    def _cmd(self) -> int:
        return self.regs.get(0x808, 0)

    def link_up(self) -> bool:
        return self.phy._link and self.phy.plugged

    def irq_pending(self) -> bool:
        return (self.intr_stat & ~self.intr_mask) != 0

    def _raise(self, bits: int) -> None:
        self.intr_stat |= bits

    # --- MMIO ---------------------------------------------------------------------------------------

    def read(self, offset: int, width_bytes: int) -> int:
        if width_bytes != 4:
            self.violations.append(f"{width_bytes}-byte read at {offset:#x}")
        if offset == 0x000:
            return self.rev
        if 0x200 <= offset < 0x218:
            r = offset - 0x200
            if r == 0x00:
                return self.intr_stat
            if r == 0x0C:
                return self.intr_mask
            return 0
        if offset == 0xE14:
            if self.mdio_busy_left > 0:
                self.mdio_busy_left -= 1
                if self.mdio_busy_left == 0:
                    self._mdio_finish()
            return self.mdio_cmd
        if 0x2000 <= offset < 0x2C00:
            i, w = divmod(offset - 0x2000, 4)
            return self.rx_desc[i // 3][i % 3] if w == 0 else 0
        if 0x4000 <= offset < 0x4C00:
            i, _ = divmod(offset - 0x4000, 4)
            return self.tx_desc[i // 3][i % 3]
        if offset == RING16_RX + 0x08:
            return (self.rx_discards << 16) | self.rx_prod
        if offset == RING16_RX + 0x0C:
            return self.rx_cons
        if offset == RING16_TX + 0x08:
            return self.tx_cons
        if offset == RING16_TX + 0x0C:
            return self.tx_prod
        return self.regs.get(offset, 0)

    def write(self, offset: int, width_bytes: int, value: int) -> None:
        if width_bytes != 4:
            self.violations.append(f"{width_bytes}-byte write at {offset:#x}")
        self.writes.append((offset, value))
        if 0x200 <= offset < 0x218:
            r = offset - 0x200
            if r == 0x04:
                self.intr_stat |= value
            elif r == 0x08:
                self.intr_stat &= ~value
            elif r == 0x10:
                self.intr_mask |= value
            elif r == 0x14:
                self.intr_mask &= ~value
            return
        if offset == 0xE14:
            self._mdio_write(value)
            return
        if 0x2000 <= offset < 0x2C00:
            i = (offset - 0x2000) // 4
            self.rx_desc[i // 3][i % 3] = value
            return
        if 0x4000 <= offset < 0x4C00:
            i = (offset - 0x4000) // 4
            self.tx_desc[i // 3][i % 3] = value
            return
        if offset == RING16_RX + 0x08:
            self.rx_discards = (value >> 16) & 0xFFFF           # the index itself is the hardware's
            return
        if offset == RING16_RX + 0x0C:
            self.rx_cons = value & 0xFFFF
            if (self.rx_prod - self.rx_cons) & 0xFFFF > self._ring_descs(RING16_RX)[1]:
                self.violations.append(f"rx consumer {self.rx_cons:#x} moved past the producer {self.rx_prod:#x}")
            return
        if offset == RING16_RX + 0x2C:
            self.rx_cursor = 0
        if offset == RING16_TX + 0x08:
            return                                              # the consumer index is the hardware's
        if offset == RING16_TX + 0x00:
            self.tx_cursor = 0
        self.regs[offset] = value
        if offset == RING16_TX + 0x0C:
            self.tx_prod = value & 0xFFFF
            self._transmit()

    # --- MDIO and the PHY --------------------------------------------------------------------------

    def _mdio_write(self, value: int) -> None:
        if self.mdio_busy_left > 0:
            self.violations.append("MDIO_CMD written while a transaction was in progress")
        self.mdio_cmd = value
        if value & MDIO_START_BUSY:
            self.mdio_busy_left = self.mdio_busy_reads
            if self.mdio_busy_left == 0:
                self._mdio_finish()

    def _mdio_finish(self) -> None:
        v = self.mdio_cmd
        pmd, reg = (v >> 21) & 0x1F, (v >> 16) & 0x1F
        present = pmd == self.phy_addr
        out = v & ~MDIO_START_BUSY & ~MDIO_READ_FAIL & ~0xFFFF
        if v & MDIO_RD:
            if present:
                out |= self.phy.read(reg) & 0xFFFF
            else:
                out |= MDIO_READ_FAIL | 0xFFFF
        elif v & MDIO_WR:
            if present:
                self.phy.write(reg, v & 0xFFFF)
        self.mdio_cmd = out
        self._raise(IRQ_MDIO_DONE)

    # --- transmit ----------------------------------------------------------------------------------

    def _transmit(self) -> None:
        if self.tx_hold:
            return
        self.complete_tx()

    def complete_tx(self, limit: int | None = None) -> int:
        """Send (and complete) held descriptors, at most `limit`: the number sent."""
        if self.tx_cons == self.tx_prod:
            return 0
        if not self._enabled(TDMA_REGS):
            self.violations.append("frames queued while transmit DMA is disabled")
            return 0
        first, count = self._ring_descs(RING16_TX)
        sent = 0
        while self.tx_cons != self.tx_prod and (limit is None or sent < limit):
            if (self.tx_prod - self.tx_cons) & 0xFFFF > count:
                self.violations.append("tx producer more than a ring ahead of the consumer")
                return sent
            d = self.tx_desc[first + self.tx_cursor]
            status, lo, hi = d
            n = (status >> 16) & 0xFFF
            if status & (SOP | EOP) != SOP | EOP:
                self.violations.append(f"tx descriptor {self.tx_cursor} without SOP|EOP: {status:#x}")
            if not status & 0x40:
                self.violations.append("tx descriptor without APPEND_CRC")
            if n < 60:
                self.violations.append(f"tx frame of {n} bytes (runt)")
            if not self._cmd() & CMD_TX_EN or self._cmd() & CMD_SW_RESET:
                self.violations.append("transmit while the UniMAC transmitter is disabled")
            self.tx_frames.append(self.dma.device_read((hi << 32) | lo, n))
            self.tx_status.append(status)
            self.tx_cursor = (self.tx_cursor + 1) % count
            self.tx_cons = (self.tx_cons + 1) & 0xFFFF
            self._raise(IRQ_TXDMA_DONE)
            sent += 1
        return sent

    # --- receive -----------------------------------------------------------------------------------

    def deliver(self, frame: bytes, error_bits: int = 0) -> str:
        """A frame arrives from the wire: "ok", "ring_full", "not_ready" or "too_long"."""
        cmd = self._cmd()
        if (not self.link_up() or not cmd & CMD_RX_EN or cmd & CMD_SW_RESET
                or not self._enabled(RDMA_REGS)):
            self.dropped_not_ready += 1
            return "not_ready"
        if len(frame) + 4 > self.regs.get(0x814, 1536):         # + FCS
            self.dropped_too_long += 1
            return "too_long"
        first, count = self._ring_descs(RING16_RX)
        if (self.rx_prod - self.rx_cons) & 0xFFFF >= count:
            self.rx_discards = min(self.rx_discards + 1, 0xFFFF)
            return "ring_full"
        data = (b"\0\0" if self.regs.get(0x300, 0) & RBUF_ALIGN_2B else b"") + frame
        d = self.rx_desc[first + self.rx_cursor]
        buf_len = self.regs.get(RING16_RX + 0x10, 0) & 0xFFFF
        if len(data) > buf_len:
            self.violations.append(f"rx frame of {len(data)} bytes does not fit the {buf_len}-byte buffers")
            return "too_long"
        self.dma.device_write((d[2] << 32) | d[1], data)
        flags = 0x40 if frame[:6] == b"\xff" * 6 else (0x20 if frame[0] & 1 else 0)
        d[0] = (len(data) << 16) | SOP | EOP | flags | error_bits
        self.rx_cursor = (self.rx_cursor + 1) % count
        self.rx_prod = (self.rx_prod + 1) & 0xFFFF
        self.rx_since_irq += 1
        if self.rx_since_irq >= max(1, self.regs.get(RING16_RX + 0x24, 1)):
            self.rx_since_irq = 0
            self._raise(IRQ_RXDMA_DONE)
        return "ok"
