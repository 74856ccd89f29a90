# Broadcom GENET v5 host NIC driver (BCM2711, Raspberry Pi 4): fills the cluster's NicOps slot
# (GENET_NIC_OPS) like virtio_net.py does on QEMU. One device per node: the first enabled DTB node
# compatible with "brcm,bcm2711-genet-v5" (or "brcm,genet-v5"). Broadcom publishes no datasheet: every
# register, bit and the bring-up order were cross-checked against Linux (bcmgenet.c/.h, bcmmii.c), U-Boot
# (drivers/net/bcmgenet.c) and FreeBSD (if_genet.c, if_genetreg.h, from NetBSD), read for facts only; the
# register map with per-value sources is genet_regs.py, the table docs/boards.md ("GENET cross-check").
#
# Queues: only the default queue (ring 16), one RX ring of RX_DESCS and one TX ring of TX_DESCS
# descriptors (descriptor i always points at buffer i), both starting at descriptor 0 of their DMA block.
# Descriptors are registers of the device; only frame buffers are in RAM. Producer/consumer indices are
# free-running 16-bit counters; the hardware's own index (RX producer, TX consumer) cannot be reset, so
# ours starts where the hardware's is ([U]). MTU 1500 only: a descriptor holds at most 4095 bytes and
# none of the three drivers configures jumbo frames, so pyhv does not either (docs/boards.md).
#
# Non-coherent DMA (the BCM2711's GENET does not snoop the A72's caches): before the doorbell the TX
# buffer is cleaned to the point of coherency (DC CVAC + DSB); RX buffers are cleaned and invalidated
# once at set-up (no dirty line may be written back over a frame later) and invalidated (DC IVAC) over
# the received length after the hardware produced the frame and before the CPU reads it (a line fetched
# speculatively while the DMA ran would be stale). Buffers are cache-line aligned and sized, so a
# maintenance operation never touches a neighbour's line. DMA addresses are the buffers' addresses: pyhv
# runs identity-mapped and we take the BCM2711's SCB bus to map DRAM 1:1 for this master (descriptor
# ADDRESS_HI carries bits 63:32; unverified on hardware, like everything here).
#
#   pool (64-byte aligned start P)
#   P + 0                           RX_DESCS receive buffers, BUF_BYTES each
#   P + RX_DESCS * BUF_BYTES        TX_DESCS transmit buffers
#
# Received frames: with RBUF_ALIGN_2B the hardware writes 2 pad bytes first and counts them in the
# descriptor length; the FCS is stripped (CRC forwarding left off). Frames dropped because every RX
# descriptor was still ours are counted by the hardware in RDMA_PROD_INDEX[31:16] ([L]); we add them to
# stats.rx_overflow and clear the counter before it saturates, as [L] does.
#
# Link: the PHY is polled over MDIO from genet_poll (every call while down, every LINK_POLL_EVERY calls
# while up); on a change the MAC's speed and RGMII link bit follow and one console line says so.
# Interrupts: the device's first SPI (INTRL2_0) with only RXDMA_DONE unmasked, routed to CPU 0 like
# virtio-net's; genet_irq acknowledges, genet_poll takes the frames. Only CPU 0 calls in: no locks.

from typing import Final

from pyhv.lang import cpu_relax, dmb, kprint, mem_write8, mmio_read32, range, u8, u32, u64

from pyhv.cluster.bytecopy import bytecopy
from pyhv.cluster.nic import NicOps
from pyhv.core.fdt import (
    FDT_NONE, fdt_be32, fdt_byte, fdt_find_compatible, fdt_find_prop, fdt_prop_len, fdt_prop_value,
)
from pyhv.core.fdt_path import fdt_node_enabled
from pyhv.core.fdt_reg import FdtReg, fdt_reg
from pyhv.drivers.genet_mdio import (
    GENET_SPEED_100, GENET_SPEED_1000, GENET_SPEED_NONE, PHY_ADDR_COUNT, genet_phy_find, genet_phy_id,
    genet_phy_link_speed, genet_phy_start,
)
from pyhv.drivers.genet_regs import (
    GENET_CMD_HD_EN, GENET_CMD_RX_EN, GENET_CMD_SPEED_MASK, GENET_CMD_SPEED_SHIFT, GENET_CMD_TX_EN,
    GENET_DEFAULT_QUEUE, GENET_DESC_ADDR_HI, GENET_DESC_ADDR_LO, GENET_DESC_BYTES, GENET_DESC_EOP,
    GENET_DESC_LEN_MASK, GENET_DESC_LEN_SHIFT, GENET_DESC_LEN_STATUS, GENET_DESC_SOP, GENET_DMA_CTRL,
    GENET_DMA_DISCARD_SHIFT, GENET_DMA_EN, GENET_DMA_INDEX_MASK, GENET_EXT_RGMII_OOB_CTRL, GENET_ID_MODE_DIS,
    GENET_INTRL2_0, GENET_INTRL2_CPU_CLEAR, GENET_INTRL2_CPU_MASK_CLEAR, GENET_INTRL2_CPU_MASK_SET,
    GENET_INTRL2_CPU_MASK_STATUS, GENET_INTRL2_CPU_STAT, GENET_IRQ_ALL, GENET_IRQ_RXDMA_DONE, GENET_OOB_DISABLE,
    GENET_PORT_MODE_EXT_GPHY, GENET_RDMA_CONS_INDEX, GENET_RDMA_DESC, GENET_RDMA_PROD_INDEX, GENET_RDMA_REGS,
    GENET_RDMA_RING16, GENET_REV_MAJOR_MASK, GENET_REV_MAJOR_SHIFT, GENET_REV_MAJOR_V5, GENET_RGMII_LINK,
    GENET_RGMII_MODE_EN, GENET_RX_ERRORS, GENET_SYS_PORT_CTRL, GENET_SYS_REV_CTRL, GENET_TDMA_CONS_INDEX,
    GENET_TDMA_DESC, GENET_TDMA_PROD_INDEX, GENET_TDMA_REGS, GENET_TDMA_RING16, GENET_TX_APPEND_CRC,
    GENET_TX_QTAG_ALL, GENET_UMAC_CMD,
)
from pyhv.drivers.genet_setup import (
    BUF_BYTES, RX_DESCS, TX_DESCS, GenetState, GenetStats, genet_dcache, genet_dma_disable, genet_pool_base,
    genet_rd, genet_rx_buf, genet_rx_ring_init, genet_set_mac, genet_state, genet_tx_buf, genet_tx_ring_init,
    genet_umac_reset, genet_wr,
)

RX_PAD_BYTES: Final = u32(2)            # RBUF_ALIGN_2B
ETH_HDR_BYTES: Final = u32(14)
ETH_MIN_FRAME_BYTES: Final = u32(60)    # shorter frames are zero-padded ([L] pads in software too)
GENET_MTU: Final = u32(1500)
PHY_ADDR_RPI4: Final = u32(1)           # the RPi4 DT's ethernet-phy@1; any other answering address is used
LINK_POLL_EVERY: Final = u32(4096)      # genet_poll calls between PHY looks while the link is up
_TX_WAIT_POLLS: Final = u32(10000)
_DISCARD_CLEAR_AT: Final = u32(0xC000)  # [L]: clear the 16-bit discard counter at 75 % of its range

GENET_OK: Final = u32(0)
GENET_ERR_NOT_READY: Final = u32(1)     # send before a successful probe
GENET_ERR_LENGTH: Final = u32(2)        # empty frame or longer than the MTU allows
GENET_ERR_TX_FULL: Final = u32(3)       # every transmit descriptor still owned by the hardware
GENET_ERR_NO_DEVICE: Final = u32(4)     # the registers do not identify a GENET v5
GENET_ERR_NO_PHY: Final = u32(5)        # nothing answers on the MDIO bus, or the PHY stays in reset
GENET_ERR_NO_LINK: Final = u32(6)       # send while the link is down


def genet_stats() -> GenetStats:
    return genet_state().stats


def genet_intid() -> u32:
    return genet_state().intid


def genet_link_speed() -> u32:
    return genet_state().speed_mbps


def genet_mtu() -> u32:
    return GENET_MTU


def genet_mac() -> u64:
    return genet_state().mac


# --- probe and bring-up ------------------------------------------------------------------------------------

def _node_intid(node: u32) -> u32:
    # First `interrupts` entry (a GIC with 3 cells; the GENET has two, INTRL2_0 first): SPI n is 32 + n.
    prop = fdt_find_prop(node, "interrupts")
    if prop == FDT_NONE or fdt_prop_len(prop) < 12:
        return u32(0)
    if fdt_be32(fdt_prop_value(prop)) != 0:
        return u32(0)
    return fdt_be32(fdt_prop_value(prop) + 4) + 32


def _node_mac(node: u32) -> u64:
    # `local-mac-address` (6 bytes, written by the RPi4 firmware), 0 if absent.
    prop = fdt_find_prop(node, "local-mac-address")
    if prop == FDT_NONE or fdt_prop_len(prop) != 6:
        return u64(0)
    mac = u64(0)
    for i in range(u32(0), u32(6)):
        mac = (mac << 8) | u64(fdt_byte(fdt_prop_value(prop) + i))
    return mac


def _find_node() -> u32:
    node = fdt_find_compatible(FDT_NONE, "brcm,bcm2711-genet-v5")
    while node != FDT_NONE and not fdt_node_enabled(node):
        node = fdt_find_compatible(node, "brcm,bcm2711-genet-v5")
    if node != FDT_NONE:
        return node
    node = fdt_find_compatible(FDT_NONE, "brcm,genet-v5")
    while node != FDT_NONE and not fdt_node_enabled(node):
        node = fdt_find_compatible(node, "brcm,genet-v5")
    return node


def genet_probe() -> bool:
    # Bring up the GENET the host DTB describes. False when there is none (silently: QEMU raspi4b models
    # no GENET, and the NIC probe, pyhv/cluster/nic_probe.py, says once that no NIC was found) or when it
    # cannot be brought up (with a console line saying why).
    node = _find_node()
    reg = FdtReg()
    if node == FDT_NONE:
        return False
    if not fdt_reg(node, u32(0), reg):
        kprint("genet: the ethernet node has no usable reg: no NIC\n")
        return False
    return genet_init(reg.addr, _node_intid(node), _node_mac(node)) == GENET_OK


def genet_init(base: u64, intid: u32, mac: u64) -> u32:
    # Reset and set up the GENET at `base`: GENET_OK or the reason (GENET_ERR_*) it was not taken.
    st = genet_state()
    st.ready = False
    rev = mmio_read32(base + u64(GENET_SYS_REV_CTRL))
    if ((rev >> GENET_REV_MAJOR_SHIFT) & GENET_REV_MAJOR_MASK) != GENET_REV_MAJOR_V5:
        kprint("genet: %x is not a GENET v5 (SYS_REV_CTRL %x): no NIC\n", base, rev)
        return GENET_ERR_NO_DEVICE
    st.base = base
    st.intid = intid
    st.speed_mbps = GENET_SPEED_NONE
    st.pool = genet_pool_base()
    genet_wr(st, GENET_SYS_PORT_CTRL, GENET_PORT_MODE_EXT_GPHY)
    oob = genet_rd(st, GENET_EXT_RGMII_OOB_CTRL)
    genet_wr(st, GENET_EXT_RGMII_OOB_CTRL, (oob | GENET_RGMII_MODE_EN) & ~(GENET_OOB_DISABLE | GENET_ID_MODE_DIS))
    genet_umac_reset(st)
    genet_set_mac(st, mac)
    genet_wr(st, GENET_INTRL2_0 + GENET_INTRL2_CPU_MASK_SET, GENET_IRQ_ALL)
    genet_wr(st, GENET_INTRL2_0 + GENET_INTRL2_CPU_CLEAR, GENET_IRQ_ALL)
    genet_dma_disable(st)
    genet_rx_ring_init(st)
    genet_tx_ring_init(st)
    ring_bit = u32(1) << (GENET_DEFAULT_QUEUE + 1)
    genet_wr(st, GENET_TDMA_REGS + GENET_DMA_CTRL, ring_bit | GENET_DMA_EN)
    genet_wr(st, GENET_RDMA_REGS + GENET_DMA_CTRL, genet_rd(st, GENET_RDMA_REGS + GENET_DMA_CTRL) | ring_bit | GENET_DMA_EN)
    st.phy = genet_phy_find(base, PHY_ADDR_RPI4)
    if st.phy == PHY_ADDR_COUNT or not genet_phy_start(base, st.phy):
        kprint("genet: %x: no PHY answers on the MDIO bus (or it stays in reset): no NIC\n", base)
        return GENET_ERR_NO_PHY
    genet_wr(st, GENET_INTRL2_0 + GENET_INTRL2_CPU_MASK_CLEAR, GENET_IRQ_RXDMA_DONE)
    st.link_polls = u32(0)
    st.ready = True
    kprint("genet: %x mac %012x phy %u id %x irq %u mtu %u\n", base, st.mac, st.phy, genet_phy_id(base, st.phy),
           intid, GENET_MTU)
    return GENET_OK


# --- link --------------------------------------------------------------------------------------------------

def _speed_code(speed: u32) -> u32:
    if speed == GENET_SPEED_1000:
        return u32(2)
    if speed == GENET_SPEED_100:
        return u32(1)
    return u32(0)


def genet_link_check() -> None:
    # Look at the PHY now; on a change set the MAC up for the new speed (or mark the link down) and say so.
    st = genet_state()
    if not st.ready:
        return
    st.link_polls = u32(0)
    speed = genet_phy_link_speed(st.base, st.phy)
    if speed == st.speed_mbps:
        return
    st.stats.link_changes += 1
    oob = genet_rd(st, GENET_EXT_RGMII_OOB_CTRL)
    if speed == GENET_SPEED_NONE:
        st.speed_mbps = speed
        genet_wr(st, GENET_EXT_RGMII_OOB_CTRL, oob & ~GENET_RGMII_LINK)
        kprint("genet: link down\n")
        return
    cmd = genet_rd(st, GENET_UMAC_CMD) & ~((GENET_CMD_SPEED_MASK << GENET_CMD_SPEED_SHIFT) | GENET_CMD_HD_EN)
    genet_wr(st, GENET_UMAC_CMD, cmd | (_speed_code(speed) << GENET_CMD_SPEED_SHIFT))
    genet_wr(st, GENET_EXT_RGMII_OOB_CTRL, (oob | GENET_RGMII_LINK | GENET_RGMII_MODE_EN) & ~GENET_OOB_DISABLE)
    genet_wr(st, GENET_UMAC_CMD, genet_rd(st, GENET_UMAC_CMD) | GENET_CMD_TX_EN | GENET_CMD_RX_EN)
    st.speed_mbps = speed
    kprint("genet: link up %u Mb/s full duplex\n", speed)


# --- transmit ----------------------------------------------------------------------------------------------

def _tx_in_flight(st: GenetState) -> u32:
    st.tx_cons = genet_rd(st, GENET_TDMA_RING16 + GENET_TDMA_CONS_INDEX) & GENET_DMA_INDEX_MASK
    return (st.tx_prod - st.tx_cons) & GENET_DMA_INDEX_MASK


def genet_send(addr: u64, length: u32) -> u32:
    # Copy the Ethernet frame at `addr` (no FCS: the MAC appends it) into a transmit buffer, clean it to
    # the point of coherency and hand it to the hardware. The caller keeps its buffer.
    st = genet_state()
    if not st.ready:
        return GENET_ERR_NOT_READY
    if length == 0 or length > ETH_HDR_BYTES + GENET_MTU:
        st.stats.tx_bad_length += 1
        return GENET_ERR_LENGTH
    if st.speed_mbps == GENET_SPEED_NONE:
        st.stats.tx_no_link += 1
        return GENET_ERR_NO_LINK
    polls = u32(0)
    while _tx_in_flight(st) >= TX_DESCS and polls < _TX_WAIT_POLLS:
        cpu_relax()
        polls += 1
    if _tx_in_flight(st) >= TX_DESCS:
        st.stats.tx_full += 1
        return GENET_ERR_TX_FULL
    buf = genet_tx_buf(st, st.tx_desc)
    bytecopy(buf, addr, u64(length))
    wire = length
    while wire < ETH_MIN_FRAME_BYTES:
        mem_write8(buf + u64(wire), u8(0))
        wire += 1
    genet_dcache(buf, u64(wire), False, True)
    d = GENET_TDMA_DESC + st.tx_desc * GENET_DESC_BYTES
    genet_wr(st, d + GENET_DESC_ADDR_LO, u32(buf))
    genet_wr(st, d + GENET_DESC_ADDR_HI, u32(buf >> 32))
    genet_wr(st, d + GENET_DESC_LEN_STATUS, (wire << GENET_DESC_LEN_SHIFT) | GENET_DESC_SOP | GENET_DESC_EOP
        | GENET_TX_APPEND_CRC | GENET_TX_QTAG_ALL)
    st.tx_prod = (st.tx_prod + 1) & GENET_DMA_INDEX_MASK
    st.tx_desc = (st.tx_desc + 1) % TX_DESCS
    genet_wr(st, GENET_TDMA_RING16 + GENET_TDMA_PROD_INDEX, st.tx_prod)
    st.stats.tx_frames += 1
    return GENET_OK


# --- receive -----------------------------------------------------------------------------------------------

def _rx_count_discards(st: GenetState, prod_reg: u32) -> None:
    discards = prod_reg >> GENET_DMA_DISCARD_SHIFT
    if discards != st.rx_discards:
        st.stats.rx_overflow += u64((discards - st.rx_discards) & 0xFFFF)
        st.rx_discards = discards
    if st.rx_discards >= _DISCARD_CLEAR_AT:
        genet_wr(st, GENET_RDMA_RING16 + GENET_RDMA_PROD_INDEX, u32(0))
        st.rx_discards = u32(0)


def _rx_release(st: GenetState) -> None:
    # Give the descriptor back: the buffer is clean in the cache (the CPU only read it), so the next
    # frame needs only the invalidate after its DMA.
    st.rx_cons = (st.rx_cons + 1) & GENET_DMA_INDEX_MASK
    st.rx_desc = (st.rx_desc + 1) % RX_DESCS
    genet_wr(st, GENET_RDMA_RING16 + GENET_RDMA_CONS_INDEX, st.rx_cons)


def genet_poll(addr: u64, capacity: u32) -> u32:
    # Copy the next received frame to `addr`: its length, 0 if none is waiting. A frame longer than
    # `capacity` is cut to it and its real length returned. Also the PHY's periodic look.
    st = genet_state()
    if not st.ready:
        return u32(0)
    st.link_polls += 1
    if st.speed_mbps == GENET_SPEED_NONE or st.link_polls >= LINK_POLL_EVERY:
        genet_link_check()
    prod_reg = genet_rd(st, GENET_RDMA_RING16 + GENET_RDMA_PROD_INDEX)
    _rx_count_discards(st, prod_reg)
    prod = prod_reg & GENET_DMA_INDEX_MASK
    dmb("oshld")            # the producer index before the descriptor and the buffer it covers
    while st.rx_cons != prod:
        status = genet_rd(st, GENET_RDMA_DESC + st.rx_desc * GENET_DESC_BYTES + GENET_DESC_LEN_STATUS)
        length = (status >> GENET_DESC_LEN_SHIFT) & GENET_DESC_LEN_MASK
        whole = GENET_DESC_SOP | GENET_DESC_EOP
        if ((status & whole) != whole or (status & GENET_RX_ERRORS) != 0
                or length < RX_PAD_BYTES + ETH_HDR_BYTES or length > BUF_BYTES):
            st.stats.rx_errors += 1
            _rx_release(st)
            continue
        buf = genet_rx_buf(st, st.rx_desc)
        genet_dcache(buf, u64(length), True, False)
        frame = length - RX_PAD_BYTES
        n = frame
        if n > capacity:
            n = capacity
            st.stats.rx_truncated += 1
        bytecopy(addr, buf + u64(RX_PAD_BYTES), u64(n))
        _rx_release(st)
        st.stats.rx_frames += 1
        return frame
    return u32(0)


def genet_irq() -> None:
    # The NIC's interrupt handler (CPU 0, before the GIC EOI): acknowledge the unmasked causes at INTRL2_0.
    # Received frames stay in the ring for genet_poll.
    st = genet_state()
    if not st.ready:
        return
    pending = genet_rd(st, GENET_INTRL2_0 + GENET_INTRL2_CPU_STAT) & ~genet_rd(st, GENET_INTRL2_0 + GENET_INTRL2_CPU_MASK_STATUS)
    genet_wr(st, GENET_INTRL2_0 + GENET_INTRL2_CPU_CLEAR, pending)
    st.stats.irqs += 1


GENET_NIC_OPS: Final = NicOps(send=genet_send, poll=genet_poll, mtu=genet_mtu, mac=genet_mac)
