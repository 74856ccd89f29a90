# MDIO bus of the GENET v5 UniMAC and the link bring-up of its external PHY (a BCM54213PE on the RPi4):
# clause 22 reads and writes through UMAC_MDIO_CMD, PHY discovery, reset + autonegotiation, and the
# resolution of the negotiated speed. Register facts and their sources: genet_regs.py, docs/boards.md.
#
# MDIO transaction ([L] bcmmii.c, [U] bcmgenet_mdio_read/write): write the command (read/write, PHY
# address, register, data) with START_BUSY clear, then set START_BUSY; the MAC clears it when the
# transaction is over (about 25 us at the MDIO clock); a read whose PHY did not answer sets READ_FAIL.
# Link bring-up follows the clause 22 order both drivers' generic PHY layers use: BMCR reset (self-
# clearing), advertise the full-duplex modes (10, 100, 1000: the MAC is set up full duplex only), BMCR
# autonegotiation enable + restart; the link is up when BMSR shows link status and autonegotiation
# complete, at the best mode both ends advertise.

from typing import Final

from pyhv.lang import cpu_relax, mmio_read32, mmio_write32, range, u32, u64

from pyhv.drivers.genet_regs import (
    GENET_MDIO_PMD_SHIFT, GENET_MDIO_RD, GENET_MDIO_READ_FAIL, GENET_MDIO_REG_SHIFT, GENET_MDIO_START_BUSY,
    GENET_MDIO_WR, GENET_UMAC_MDIO_CMD, MII_ADVERTISE, MII_ADVERTISE_1000FULL, MII_ADVERTISE_FULL, MII_BMCR,
    MII_BMCR_ANENABLE, MII_BMCR_ANRESTART, MII_BMCR_RESET, MII_BMSR, MII_BMSR_ANEGCOMPLETE, MII_BMSR_LSTATUS,
    MII_CTRL1000, MII_LPA, MII_LPA_1000FULL, MII_LPA_100FULL, MII_LPA_10FULL, MII_PHYSID1,
    MII_PHYSID2, MII_STAT1000,
)

MDIO_NONE: Final = u32(0xFFFFFFFF)      # a failed read (no PHY answered, or the bus stayed busy)
MDIO_BUSY_POLLS: Final = u32(100000)    # polls of START_BUSY before the transaction counts as failed
PHY_RESET_POLLS: Final = u32(1000)      # reads of BMCR while its reset bit is still set
PHY_ADDR_COUNT: Final = u32(32)

GENET_SPEED_NONE: Final = u32(0)        # link down (or autonegotiation not finished)
GENET_SPEED_10: Final = u32(10)
GENET_SPEED_100: Final = u32(100)
GENET_SPEED_1000: Final = u32(1000)


def _mdio_wait(base: u64) -> bool:
    for _ in range(u32(0), MDIO_BUSY_POLLS):
        if (mmio_read32(base + u64(GENET_UMAC_MDIO_CMD)) & GENET_MDIO_START_BUSY) == 0:
            return True
        cpu_relax()
    return False


def _mdio_start(base: u64, cmd: u32) -> bool:
    mmio_write32(base + u64(GENET_UMAC_MDIO_CMD), cmd)
    mmio_write32(base + u64(GENET_UMAC_MDIO_CMD), cmd | GENET_MDIO_START_BUSY)
    return _mdio_wait(base)


def genet_mdio_read(base: u64, phy: u32, reg: u32) -> u32:
    # Clause 22 read of `reg` of the PHY at address `phy`: the 16-bit value, or MDIO_NONE.
    cmd = GENET_MDIO_RD | ((phy & 0x1F) << GENET_MDIO_PMD_SHIFT) | ((reg & 0x1F) << GENET_MDIO_REG_SHIFT)
    if not _mdio_start(base, cmd):
        return MDIO_NONE
    v = mmio_read32(base + u64(GENET_UMAC_MDIO_CMD))
    if (v & GENET_MDIO_READ_FAIL) != 0:
        return MDIO_NONE
    return v & 0xFFFF


def genet_mdio_write(base: u64, phy: u32, reg: u32, value: u32) -> bool:
    cmd = (GENET_MDIO_WR | ((phy & 0x1F) << GENET_MDIO_PMD_SHIFT) | ((reg & 0x1F) << GENET_MDIO_REG_SHIFT)
           | (value & 0xFFFF))
    return _mdio_start(base, cmd)


def genet_phy_id(base: u64, phy: u32) -> u32:
    # PHYSID1 << 16 | PHYSID2, or MDIO_NONE when nothing answers at `phy`.
    hi = genet_mdio_read(base, phy, MII_PHYSID1)
    lo = genet_mdio_read(base, phy, MII_PHYSID2)
    if hi == MDIO_NONE or lo == MDIO_NONE or (hi == 0xFFFF and lo == 0xFFFF) or (hi == 0 and lo == 0):
        return MDIO_NONE
    return (hi << 16) | lo


def genet_phy_find(base: u64, preferred: u32) -> u32:
    # The PHY's MDIO address: `preferred` (the RPi4 has it at 1) if something answers there, else the
    # lowest address that answers; PHY_ADDR_COUNT if none does.
    if preferred < PHY_ADDR_COUNT and genet_phy_id(base, preferred) != MDIO_NONE:
        return preferred
    for a in range(u32(0), PHY_ADDR_COUNT):
        if genet_phy_id(base, a) != MDIO_NONE:
            return a
    return PHY_ADDR_COUNT


def genet_phy_start(base: u64, phy: u32) -> bool:
    # Reset the PHY and start autonegotiation; False if the PHY does not respond or never leaves reset.
    if not genet_mdio_write(base, phy, MII_BMCR, MII_BMCR_RESET):
        return False
    left = False
    for _ in range(u32(0), PHY_RESET_POLLS):
        v = genet_mdio_read(base, phy, MII_BMCR)
        if v != MDIO_NONE and (v & MII_BMCR_RESET) == 0:
            left = True
            break
        cpu_relax()
    if not left:
        return False
    if not genet_mdio_write(base, phy, MII_ADVERTISE, MII_ADVERTISE_FULL):
        return False
    if not genet_mdio_write(base, phy, MII_CTRL1000, MII_ADVERTISE_1000FULL):
        return False
    return genet_mdio_write(base, phy, MII_BMCR, MII_BMCR_ANENABLE | MII_BMCR_ANRESTART)


def genet_phy_link_speed(base: u64, phy: u32) -> u32:
    # The link's speed in Mb/s (full duplex), GENET_SPEED_NONE while it is down. BMSR's link bit latches
    # low, so the first read reports a drop since the last look and the second the present state: a
    # link that bounced is reported down once, which re-runs the MAC's link set-up.
    first = genet_mdio_read(base, phy, MII_BMSR)
    bmsr = genet_mdio_read(base, phy, MII_BMSR)
    if first == MDIO_NONE or bmsr == MDIO_NONE or (first & MII_BMSR_LSTATUS) == 0:
        return GENET_SPEED_NONE
    if (bmsr & MII_BMSR_LSTATUS) == 0 or (bmsr & MII_BMSR_ANEGCOMPLETE) == 0:
        return GENET_SPEED_NONE
    stat1000 = genet_mdio_read(base, phy, MII_STAT1000)
    ctrl1000 = genet_mdio_read(base, phy, MII_CTRL1000)
    if (stat1000 != MDIO_NONE and ctrl1000 != MDIO_NONE and (stat1000 & MII_LPA_1000FULL) != 0
            and (ctrl1000 & MII_ADVERTISE_1000FULL) != 0):
        return GENET_SPEED_1000
    adv = genet_mdio_read(base, phy, MII_ADVERTISE)
    lpa = genet_mdio_read(base, phy, MII_LPA)
    if adv == MDIO_NONE or lpa == MDIO_NONE:
        return GENET_SPEED_NONE
    common = adv & lpa
    if (common & MII_LPA_100FULL) != 0:
        return GENET_SPEED_100
    if (common & MII_LPA_10FULL) != 0:
        return GENET_SPEED_10
    return GENET_SPEED_NONE
