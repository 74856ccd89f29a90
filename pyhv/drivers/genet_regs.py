# Register map of the Broadcom GENET v5 Ethernet MAC of the BCM2711 (Raspberry Pi 4) and the IEEE 802.3
# clause 22 MII registers of its BCM54213PE PHY: offsets from the GENET's `reg` base (64 KiB window).
# Broadcom publishes no datasheet; every value below was read (for facts only, no code taken) from at
# least two independent open-source drivers, and docs/boards.md ("GENET cross-check") lists which:
#   [L] Linux drivers/net/ethernet/broadcom/genet/bcmgenet.h, bcmgenet.c, bcmmii.c
#   [U] U-Boot drivers/net/bcmgenet.c (v5 only, RPi4)
#   [F] FreeBSD sys/arm64/broadcom/genet/if_genetreg.h, if_genet.c (derived from NetBSD bcmgenetreg.h)
#   [M] Linux include/uapi/linux/mii.h and U-Boot include/linux/mii.h (clause 22 registers)
#
#   base + 0x0000  SYS      revision, port mode, RBUF/TBUF flush
#   base + 0x0080  EXT      RGMII out-of-band control
#   base + 0x0200  INTRL2_0 interrupt controller of the default queue, MDIO and link events
#   base + 0x0300  RBUF     receive buffer control
#   base + 0x0800  UMAC     the UniMAC: command, MAC address, frame length, MIB, MDIO
#   base + 0x2000  RDMA     256 receive descriptors (12 bytes each), 17 ring blocks (0x40 each), DMA regs
#   base + 0x4000  TDMA     the same for transmit
#
# Descriptors live in the device's register space, not in RAM: only frame buffers are DMA'd.

from typing import Final

from pyhv.lang import u32

# --- SYS block ---------------------------------------------------------------------------------------------
GENET_SYS_REV_CTRL: Final = u32(0x000)          # [L][U][F] bits 27:24 major revision; 6 means GENET v5
GENET_REV_MAJOR_SHIFT: Final = u32(24)          # [L][U][F]
GENET_REV_MAJOR_MASK: Final = u32(0xF)          # [L][U][F]
GENET_REV_MAJOR_V5: Final = u32(6)              # [U][F] (Linux maps 6 -> v5 as well)
GENET_SYS_PORT_CTRL: Final = u32(0x004)         # [L][U][F]
GENET_PORT_MODE_EXT_GPHY: Final = u32(3)        # [L][U][F] external gigabit PHY over RGMII
GENET_SYS_RBUF_FLUSH_CTRL: Final = u32(0x008)   # [L][U][F]
GENET_RBUF_FLUSH_RESET: Final = u32(1 << 1)     # [U][F] pulse to reset the receive buffer
GENET_SYS_TBUF_FLUSH_CTRL: Final = u32(0x00C)   # [L][U][F]

# --- EXT block ---------------------------------------------------------------------------------------------
GENET_EXT_RGMII_OOB_CTRL: Final = u32(0x08C)    # [L][U][F] (EXT 0x080 + 0x0c)
GENET_RGMII_LINK: Final = u32(1 << 4)           # [L][U][F] tell the MAC the link is up
GENET_OOB_DISABLE: Final = u32(1 << 5)          # [L][U][F] cleared: in-band status not used
GENET_RGMII_MODE_EN: Final = u32(1 << 6)        # [L][U][F] enable the RGMII block
GENET_ID_MODE_DIS: Final = u32(1 << 16)         # [L][U][F] no internal TX delay; left clear for rgmii-rxid
                                                # ([L]; [U] sets it for rgmii-rxid too: see docs/boards.md)

# --- INTRL2_0: interrupts of the default queue (ring 16) -------------------------------------------------
GENET_INTRL2_0: Final = u32(0x200)              # [L][F]
GENET_INTRL2_CPU_STAT: Final = u32(0x00)        # [L][F] raw status
GENET_INTRL2_CPU_SET: Final = u32(0x04)         # [L]
GENET_INTRL2_CPU_CLEAR: Final = u32(0x08)       # [L][F] write 1 to clear
GENET_INTRL2_CPU_MASK_STATUS: Final = u32(0x0C)  # [L][F] 1 = masked
GENET_INTRL2_CPU_MASK_SET: Final = u32(0x10)    # [L][F] write 1 to mask
GENET_INTRL2_CPU_MASK_CLEAR: Final = u32(0x14)  # [L][F] write 1 to unmask
GENET_IRQ_RXDMA_DONE: Final = u32(1 << 13)      # [L][F] RXDMA_MBDONE: MBUF_DONE_THRESH frames received
GENET_IRQ_TXDMA_DONE: Final = u32(1 << 16)      # [L][F] TXDMA_MBDONE
GENET_IRQ_MDIO_DONE: Final = u32(1 << 23)       # [L][F]
GENET_IRQ_MDIO_ERROR: Final = u32(1 << 24)      # [L][F]
GENET_IRQ_ALL: Final = u32(0xFFFFFFFF)

# --- RBUF --------------------------------------------------------------------------------------------------
GENET_RBUF_CTRL: Final = u32(0x300)             # [L][U][F]
GENET_RBUF_ALIGN_2B: Final = u32(1 << 1)        # [L][U][F] 2 pad bytes before each received frame
GENET_RBUF_64B_EN: Final = u32(1 << 0)          # [L][F] 64-byte status block before frames (kept off)
GENET_RBUF_TBUF_SIZE_CTRL: Final = u32(0x3B4)   # [L][U][F] written 1 by both drivers

# --- UMAC --------------------------------------------------------------------------------------------------
GENET_UMAC_CMD: Final = u32(0x808)              # [L][U][F]
GENET_CMD_TX_EN: Final = u32(1 << 0)            # [L][U][F]
GENET_CMD_RX_EN: Final = u32(1 << 1)            # [L][U][F]
GENET_CMD_SPEED_SHIFT: Final = u32(2)           # [L][U][F] bits 3:2: 0 = 10, 1 = 100, 2 = 1000 Mb/s
GENET_CMD_SPEED_MASK: Final = u32(3)            # [L][U][F]
GENET_CMD_HD_EN: Final = u32(1 << 10)           # [L] half duplex (cleared: full)
GENET_CMD_SW_RESET: Final = u32(1 << 13)        # [L][U][F]
GENET_CMD_LCL_LOOP_EN: Final = u32(1 << 15)     # [L][U][F] set with SW_RESET for a stable RX clock
GENET_UMAC_MAC0: Final = u32(0x80C)             # [L][U][F] MAC bytes 0..3, byte 0 most significant
GENET_UMAC_MAC1: Final = u32(0x810)             # [L][U][F] MAC bytes 4..5
GENET_UMAC_MAX_FRAME_LEN: Final = u32(0x814)    # [L][U][F]
GENET_UMAC_TX_FLUSH: Final = u32(0xB34)         # [L][U][F]
GENET_UMAC_MIB_CTRL: Final = u32(0xD80)         # [L][U][F]
GENET_MIB_RESET_ALL: Final = u32(0x7)           # [L][U][F] RX (bit 0), RUNT (bit 1), TX (bit 2)
GENET_UMAC_MDIO_CMD: Final = u32(0xE14)         # [L][U][F]
GENET_MDIO_START_BUSY: Final = u32(1 << 29)     # [L][U][F]
GENET_MDIO_READ_FAIL: Final = u32(1 << 28)      # [L][U][F]
GENET_MDIO_RD: Final = u32(1 << 27)             # [L][U] (2 << 26), [F] bit 27
GENET_MDIO_WR: Final = u32(1 << 26)             # [L][U][F]
GENET_MDIO_PMD_SHIFT: Final = u32(21)           # [L][U][F] PHY address, bits 25:21
GENET_MDIO_REG_SHIFT: Final = u32(16)           # [L][U][F] register, bits 20:16
GENET_MAX_FRAME_BYTES: Final = u32(1536)        # [L][U] ENET_MAX_MTU_SIZE: 1500 + 14 + 4 + 6 + 4 + 8

# --- DMA: descriptors, rings, controls --------------------------------------------------------------------
GENET_RDMA_DESC: Final = u32(0x2000)            # [L][U][F]
GENET_TDMA_DESC: Final = u32(0x4000)            # [L][U][F]
GENET_DESC_BYTES: Final = u32(12)               # [L][U][F] length_status, address_lo, address_hi
GENET_DESC_LEN_STATUS: Final = u32(0x0)         # [L][U][F]
GENET_DESC_ADDR_LO: Final = u32(0x4)            # [L][U][F]
GENET_DESC_ADDR_HI: Final = u32(0x8)            # [L][U][F]
GENET_TOTAL_DESCS: Final = u32(256)             # [L][U][F]
GENET_DEFAULT_QUEUE: Final = u32(16)            # [L][U][F] the descriptor ring without priority
GENET_RING_BYTES: Final = u32(0x40)             # [L][U][F]
# A ring block sits after the 256 descriptors (0xc00 bytes): ring q at DESC + 0xc00 + 0x40 * q.
GENET_RDMA_RING16: Final = u32(0x3000)          # [U][F] 0x2000 + 0xc00 + 0x40 * 16
GENET_TDMA_RING16: Final = u32(0x5000)          # [U][F]
GENET_RDMA_WRITE_PTR: Final = u32(0x00)         # [L][U][F] (rx ring)
GENET_RDMA_PROD_INDEX: Final = u32(0x08)        # [L][U][F] rx: hardware's, bits 31:16 discards
GENET_RDMA_CONS_INDEX: Final = u32(0x0C)        # [L][U][F] rx: ours
GENET_TDMA_READ_PTR: Final = u32(0x00)          # [L][U][F] (tx ring)
GENET_TDMA_CONS_INDEX: Final = u32(0x08)        # [L][U][F] tx: hardware's
GENET_TDMA_PROD_INDEX: Final = u32(0x0C)        # [L][U][F] tx: ours
GENET_DMA_RING_BUF_SIZE: Final = u32(0x10)      # [L][U][F] descriptors << 16 | buffer bytes
GENET_DMA_START_ADDR: Final = u32(0x14)         # [L][U][F] first descriptor, in 32-bit words
GENET_DMA_END_ADDR: Final = u32(0x1C)           # [L][U][F] last word of the ring's descriptors
GENET_DMA_MBUF_DONE_THRESH: Final = u32(0x24)   # [L][U] frames per RXDMA/TXDMA_DONE interrupt
GENET_TDMA_FLOW_PERIOD: Final = u32(0x28)       # [L][U][F] (tx ring)
GENET_RDMA_XON_XOFF_THRESH: Final = u32(0x28)   # [L][U][F] (rx ring) 5 << 16 | descriptors >> 4
GENET_TDMA_WRITE_PTR: Final = u32(0x2C)         # [L][U][F] (tx ring)
GENET_RDMA_READ_PTR: Final = u32(0x2C)          # [L][U][F] (rx ring)
GENET_DMA_RING_SIZE_SHIFT: Final = u32(16)      # [L][U][F]
GENET_DMA_INDEX_MASK: Final = u32(0xFFFF)       # [L][U][F] producer/consumer indices are 16-bit
GENET_DMA_DISCARD_SHIFT: Final = u32(16)        # [L] RDMA_PROD_INDEX 31:16: frames dropped, ring full
GENET_RDMA_REGS: Final = u32(0x3040)            # [U][F] 0x2000 + 0xc00 + 0x40 * 17
GENET_TDMA_REGS: Final = u32(0x5040)            # [U][F]
GENET_DMA_RING_CFG: Final = u32(0x00)           # [L][U][F] bit q: ring q enabled
GENET_DMA_CTRL: Final = u32(0x04)               # [L][U][F] bit 0 DMA enable, bit q + 1 ring q buffers
GENET_DMA_EN: Final = u32(1 << 0)               # [L][U][F]
GENET_DMA_SCB_BURST_SIZE: Final = u32(0x0C)     # [L][U][F]
GENET_DMA_BURST_BCM2711: Final = u32(8)         # [U][F] (the BCM2711 has a shorter burst than [L]'s 16)

# --- descriptor length_status bits -------------------------------------------------------------------------
GENET_DESC_LEN_SHIFT: Final = u32(16)           # [L][U][F] bits 27:16 (12 bits)
GENET_DESC_LEN_MASK: Final = u32(0xFFF)         # [L][U][F]
GENET_DESC_OWN: Final = u32(0x8000)             # [L][U][F]
GENET_DESC_EOP: Final = u32(0x4000)             # [L][U][F]
GENET_DESC_SOP: Final = u32(0x2000)             # [L][U][F]
GENET_TX_QTAG_ALL: Final = u32(0x3F << 7)       # [L][U][F] bits 12:7, all ones as both drivers write
GENET_TX_APPEND_CRC: Final = u32(0x0040)        # [L][U][F] the MAC appends the FCS
GENET_RX_ERRORS: Final = u32(0x001F)            # [L] LG 0x10, NO 0x8, RXER 0x4 ([F]), CRC 0x2, OV 0x1

# --- IEEE 802.3 clause 22 MII registers and bits ([M], the BCM54213PE implements them) --------------------
MII_BMCR: Final = u32(0)
MII_BMCR_RESET: Final = u32(1 << 15)
MII_BMCR_ANENABLE: Final = u32(1 << 12)
MII_BMCR_ANRESTART: Final = u32(1 << 9)
MII_BMSR: Final = u32(1)
MII_BMSR_LSTATUS: Final = u32(1 << 2)           # latched low: read twice for the current state
MII_BMSR_ANEGCOMPLETE: Final = u32(1 << 5)
MII_PHYSID1: Final = u32(2)
MII_PHYSID2: Final = u32(3)
MII_ADVERTISE: Final = u32(4)
MII_ADVERTISE_FULL: Final = u32(0x0141)         # 100 full (0x100), 10 full (0x40), selector 802.3 (1):
                                                # the MAC runs full duplex only
MII_LPA: Final = u32(5)
MII_LPA_100FULL: Final = u32(0x0100)
MII_LPA_10FULL: Final = u32(0x0040)
MII_CTRL1000: Final = u32(9)
MII_ADVERTISE_1000FULL: Final = u32(0x0200)     # we advertise full duplex only at 1000 Mb/s
MII_STAT1000: Final = u32(10)
MII_LPA_1000FULL: Final = u32(0x0800)
