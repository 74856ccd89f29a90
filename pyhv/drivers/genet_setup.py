# Bring-up of the GENET v5 (genet.py is the driver; register facts in genet_regs.py with their sources):
# the driver's state, the buffer pool, register and cache-maintenance helpers, and the reset and ring set-up
# sequences, in the order [L] (bcmgenet_umac_reset, init_umac, bcmgenet_init_rx/tx_ring), [U]
# (bcmgenet_umac_reset, rx/tx_ring_init) and [F] (gen_init_rxring/txring) agree on.
#
# The state is one Static per node; only CPU 0 touches it (genet.py explains why no lock is needed).

from typing import Annotated, Final

from pyhv.lang import (
    range, Array, Static, Struct, addr_of, cpu_relax, dc_op, dsb, mmio_read32, mmio_write32, u8, u32, u64,
)

from pyhv.arch.timer import timer_freq_hz, timer_now
from pyhv.drivers.genet_regs import (
    GENET_CMD_LCL_LOOP_EN, GENET_CMD_SW_RESET, GENET_DEFAULT_QUEUE, GENET_DESC_ADDR_HI, GENET_DESC_ADDR_LO,
    GENET_DESC_BYTES, GENET_DESC_LEN_SHIFT, GENET_DESC_LEN_STATUS, GENET_DESC_OWN, GENET_DMA_BURST_BCM2711,
    GENET_DMA_CTRL, GENET_DMA_EN, GENET_DMA_END_ADDR, GENET_DMA_INDEX_MASK, GENET_DMA_MBUF_DONE_THRESH,
    GENET_DMA_RING_BUF_SIZE, GENET_DMA_RING_CFG, GENET_DMA_RING_SIZE_SHIFT, GENET_DMA_SCB_BURST_SIZE,
    GENET_DMA_START_ADDR, GENET_MAX_FRAME_BYTES, GENET_MIB_RESET_ALL, GENET_RBUF_ALIGN_2B, GENET_RBUF_CTRL,
    GENET_RBUF_FLUSH_RESET, GENET_RBUF_TBUF_SIZE_CTRL, GENET_RDMA_CONS_INDEX, GENET_RDMA_DESC,
    GENET_RDMA_PROD_INDEX, GENET_RDMA_READ_PTR, GENET_RDMA_REGS, GENET_RDMA_RING16, GENET_RDMA_WRITE_PTR,
    GENET_RDMA_XON_XOFF_THRESH, GENET_SYS_RBUF_FLUSH_CTRL, GENET_TDMA_CONS_INDEX, GENET_TDMA_FLOW_PERIOD,
    GENET_TDMA_PROD_INDEX, GENET_TDMA_READ_PTR, GENET_TDMA_REGS, GENET_TDMA_RING16, GENET_TDMA_WRITE_PTR,
    GENET_UMAC_CMD, GENET_UMAC_MAC0, GENET_UMAC_MAC1, GENET_UMAC_MAX_FRAME_LEN, GENET_UMAC_MIB_CTRL,
    GENET_UMAC_TX_FLUSH,
)

RX_DESCS: Final = u32(64)               # receive ring: descriptors 0..63 of the RDMA block
TX_DESCS: Final = u32(32)               # transmit ring: descriptors 0..31 of the TDMA block
BUF_BYTES: Final = u32(2048)            # per buffer; [L][U] use 2048 too (>= 2 + GENET_MAX_FRAME_BYTES)
CACHE_LINE_BYTES: Final = u64(64)       # Cortex-A72 D-cache line (CTR_EL0.DminLine = 4)


class GenetStats(Struct):
    tx_frames: u64          # frames handed to the hardware
    rx_frames: u64          # frames returned by poll
    tx_full: u64            # sends refused: no free transmit descriptor
    tx_bad_length: u64      # sends refused: empty or longer than the MTU
    tx_no_link: u64         # sends refused: link down
    rx_errors: u64          # descriptors dropped: error bits, not one whole frame, runt or too long
    rx_overflow: u64        # frames the hardware dropped because the receive ring was full
    rx_truncated: u64       # frames longer than the caller's buffer (cut to it)
    irqs: u64               # genet_irq calls
    link_changes: u64       # up/down transitions seen


class GenetState(Struct):
    base: u64               # GENET registers
    mac: u64                # low 48 bits, first byte most significant
    pool: u64               # first buffer (cache-line aligned)
    intid: u32              # GIC INTID of INTRL2_0 (0: none known)
    phy: u32                # MDIO address of the PHY
    speed_mbps: u32         # 0 while the link is down
    ready: bool             # probe succeeded: send/poll may touch the device
    rx_cons: u32            # our RDMA consumer index (16-bit, free running)
    rx_desc: u32            # next receive descriptor (0..RX_DESCS-1)
    rx_discards: u32        # the hardware discard count last seen
    tx_prod: u32            # our TDMA producer index
    tx_cons: u32            # the hardware consumer index last seen
    tx_desc: u32            # next transmit descriptor (0..TX_DESCS-1)
    link_polls: u32         # genet_poll calls since the last PHY look
    stats: GenetStats


class GenetPool(Struct):
    # alignment slack + (RX_DESCS + TX_DESCS) * BUF_BYTES
    raw: Annotated[Array[u8], 196672]


_genet: Final = Static(GenetState)
_pool: Final = Static(GenetPool)


def genet_state() -> GenetState:
    return _genet.get()


def genet_pool_base() -> u64:
    # First buffer: the pool's start rounded up to a cache line.
    return (addr_of(_pool.get().raw) + (CACHE_LINE_BYTES - 1)) & ~(CACHE_LINE_BYTES - 1)


def genet_rd(st: GenetState, off: u32) -> u32:
    return mmio_read32(st.base + u64(off))


def genet_wr(st: GenetState, off: u32, v: u32) -> None:
    mmio_write32(st.base + u64(off), v)


def genet_delay_us(us: u32) -> None:
    # Busy-wait on the physical counter (the reset pulses need microseconds; the counter's rate is read).
    end = timer_now() + timer_freq_hz() * u64(us) // 1000000
    while timer_now() < end:
        cpu_relax()


def genet_rx_buf(st: GenetState, i: u32) -> u64:
    return st.pool + u64(i) * u64(BUF_BYTES)


def genet_tx_buf(st: GenetState, i: u32) -> u64:
    return st.pool + u64(RX_DESCS + i) * u64(BUF_BYTES)


def genet_dcache(addr: u64, n: u64, invalidate: bool, clean: bool) -> None:
    # Data-cache maintenance to the point of coherency over [addr, addr + n), line by line, then DSB.
    line = addr & ~(CACHE_LINE_BYTES - 1)
    while line < addr + n:
        if clean and invalidate:
            dc_op("civac", line)
        elif clean:
            dc_op("cvac", line)
        else:
            dc_op("ivac", line)
        line += CACHE_LINE_BYTES
    dsb("sy")


def genet_umac_reset(st: GenetState) -> None:
    # [L] bcmgenet_umac_reset / reset_umac, [U] bcmgenet_umac_reset: pulse the RBUF flush, hold the UniMAC
    # in soft reset with local loopback (a stable RX clock during reset), clear the MIB counters, set the
    # frame limit, 2-byte receive alignment.
    flush = genet_rd(st, GENET_SYS_RBUF_FLUSH_CTRL)
    genet_wr(st, GENET_SYS_RBUF_FLUSH_CTRL, flush | GENET_RBUF_FLUSH_RESET)
    genet_delay_us(u32(10))
    genet_wr(st, GENET_SYS_RBUF_FLUSH_CTRL, flush & ~GENET_RBUF_FLUSH_RESET)
    genet_delay_us(u32(10))
    genet_wr(st, GENET_SYS_RBUF_FLUSH_CTRL, u32(0))
    genet_delay_us(u32(10))
    genet_wr(st, GENET_UMAC_CMD, u32(0))
    genet_wr(st, GENET_UMAC_CMD, GENET_CMD_SW_RESET | GENET_CMD_LCL_LOOP_EN)
    genet_delay_us(u32(2))
    genet_wr(st, GENET_UMAC_CMD, u32(0))
    genet_wr(st, GENET_UMAC_MIB_CTRL, GENET_MIB_RESET_ALL)
    genet_wr(st, GENET_UMAC_MIB_CTRL, u32(0))
    genet_wr(st, GENET_UMAC_MAX_FRAME_LEN, GENET_MAX_FRAME_BYTES)
    genet_wr(st, GENET_RBUF_CTRL, genet_rd(st, GENET_RBUF_CTRL) | GENET_RBUF_ALIGN_2B)
    genet_wr(st, GENET_RBUF_TBUF_SIZE_CTRL, u32(1))


def genet_set_mac(st: GenetState, mac: u64) -> None:
    if mac == 0:
        # No address from the firmware: keep what the UniMAC holds, else a locally administered unicast
        # 02:70:79:xx:xx:xx ("py") varied by boot time, as virtio_net does.
        mac = (u64(genet_rd(st, GENET_UMAC_MAC0)) << 16) | u64(genet_rd(st, GENET_UMAC_MAC1) & 0xFFFF)
        if mac == 0 or (mac & (u64(1) << 40)) != 0:
            mac = u64(0x027079000000) | (timer_now() & 0xFFFFFF)
    st.mac = mac
    genet_wr(st, GENET_UMAC_MAC0, u32(mac >> 16))
    genet_wr(st, GENET_UMAC_MAC1, u32(mac) & 0xFFFF)


def genet_dma_disable(st: GenetState) -> None:
    genet_wr(st, GENET_TDMA_REGS + GENET_DMA_CTRL, genet_rd(st, GENET_TDMA_REGS + GENET_DMA_CTRL) & ~GENET_DMA_EN)
    genet_wr(st, GENET_RDMA_REGS + GENET_DMA_CTRL, genet_rd(st, GENET_RDMA_REGS + GENET_DMA_CTRL) & ~GENET_DMA_EN)
    genet_wr(st, GENET_UMAC_TX_FLUSH, u32(1))
    genet_delay_us(u32(10))
    genet_wr(st, GENET_UMAC_TX_FLUSH, u32(0))


def genet_rx_ring_init(st: GenetState) -> None:
    ring = GENET_RDMA_RING16
    genet_wr(st, GENET_RDMA_REGS + GENET_DMA_SCB_BURST_SIZE, GENET_DMA_BURST_BCM2711)
    genet_wr(st, ring + GENET_DMA_START_ADDR, u32(0))
    genet_wr(st, ring + GENET_RDMA_READ_PTR, u32(0))
    genet_wr(st, ring + GENET_RDMA_WRITE_PTR, u32(0))
    genet_wr(st, ring + GENET_DMA_END_ADDR, RX_DESCS * GENET_DESC_BYTES // 4 - 1)
    genet_wr(st, ring + GENET_RDMA_PROD_INDEX, u32(0))        # clears the discard count; the index stays
    st.rx_cons = genet_rd(st, ring + GENET_RDMA_PROD_INDEX) & GENET_DMA_INDEX_MASK
    genet_wr(st, ring + GENET_RDMA_CONS_INDEX, st.rx_cons)
    st.rx_desc = u32(0)
    st.rx_discards = u32(0)
    genet_wr(st, ring + GENET_DMA_RING_BUF_SIZE, (RX_DESCS << GENET_DMA_RING_SIZE_SHIFT) | BUF_BYTES)
    genet_wr(st, ring + GENET_RDMA_XON_XOFF_THRESH, (u32(5) << 16) | (RX_DESCS >> 4))
    genet_wr(st, ring + GENET_DMA_MBUF_DONE_THRESH, u32(1))
    for i in range(u32(0), RX_DESCS):
        buf = genet_rx_buf(st, i)
        genet_dcache(buf, u64(BUF_BYTES), True, True)
        d = GENET_RDMA_DESC + i * GENET_DESC_BYTES
        genet_wr(st, d + GENET_DESC_ADDR_LO, u32(buf))
        genet_wr(st, d + GENET_DESC_ADDR_HI, u32(buf >> 32))
        genet_wr(st, d + GENET_DESC_LEN_STATUS, (BUF_BYTES << GENET_DESC_LEN_SHIFT) | GENET_DESC_OWN)
    genet_wr(st, GENET_RDMA_REGS + GENET_DMA_RING_CFG, u32(1) << GENET_DEFAULT_QUEUE)


def genet_tx_ring_init(st: GenetState) -> None:
    ring = GENET_TDMA_RING16
    genet_wr(st, GENET_TDMA_REGS + GENET_DMA_SCB_BURST_SIZE, GENET_DMA_BURST_BCM2711)
    genet_wr(st, ring + GENET_DMA_START_ADDR, u32(0))
    genet_wr(st, ring + GENET_TDMA_READ_PTR, u32(0))
    genet_wr(st, ring + GENET_TDMA_WRITE_PTR, u32(0))
    genet_wr(st, ring + GENET_DMA_END_ADDR, TX_DESCS * GENET_DESC_BYTES // 4 - 1)
    st.tx_cons = genet_rd(st, ring + GENET_TDMA_CONS_INDEX) & GENET_DMA_INDEX_MASK
    st.tx_prod = st.tx_cons
    genet_wr(st, ring + GENET_TDMA_PROD_INDEX, st.tx_prod)
    st.tx_desc = u32(0)
    genet_wr(st, ring + GENET_DMA_MBUF_DONE_THRESH, u32(1))
    genet_wr(st, ring + GENET_TDMA_FLOW_PERIOD, u32(0))
    genet_wr(st, ring + GENET_DMA_RING_BUF_SIZE, (TX_DESCS << GENET_DMA_RING_SIZE_SHIFT) | BUF_BYTES)
    genet_wr(st, GENET_TDMA_REGS + GENET_DMA_RING_CFG, u32(1) << GENET_DEFAULT_QUEUE)
