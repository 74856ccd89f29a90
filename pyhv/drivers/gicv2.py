# GICv2 host driver (GIC-400 on the Raspberry Pi 4, QEMU virt gic-version=2): ARM IHI 0048B, chapter 4
# ("Programmers' Model"). The distributor (GICD) is shared; the CPU interface (GICC) is banked per CPU at
# the same address, as are the SGI/PPI registers (INTIDs 0-31) of the distributor.
# DTB: compatible "arm,gic-400" / "arm,cortex-a15-gic", reg = <GICD>, <GICC>[, <GICH>, <GICV>].

from typing import Final

from pyhv.lang import range, PerCpu, Static, Struct, dsb, mmio_read32, mmio_write8, mmio_write32, panic, u8, u32, u64

from pyhv.arch.gic import GIC_PMR_ALLOW_ALL, GIC_PRIO_DEFAULT, GicOps, gic_typer_nr_irqs
from pyhv.core.fdt_reg import FdtReg, fdt_reg

GICD_CTLR: Final = u64(0x000)           # distributor control: group enables
GICD_TYPER: Final = u64(0x004)          # ITLinesNumber [4:0], CPUNumber [7:5]
GICD_ISENABLER: Final = u64(0x100)      # set-enable, 1 bit per INTID (word 0 banked per CPU)
GICD_ICENABLER: Final = u64(0x180)      # clear-enable, 1 bit per INTID
GICD_ICPENDR: Final = u64(0x280)        # clear-pending, 1 bit per INTID
GICD_IPRIORITYR: Final = u64(0x400)     # priority, 1 byte per INTID (byte-accessible)
GICD_ITARGETSR: Final = u64(0x800)      # CPU targets, 1 byte per INTID (SPIs only writable; bytes of
                                        # INTIDs 0-31 read as the calling CPU's own interface bit)
GICD_ICFGR: Final = u64(0xC00)          # configuration, 2 bits per INTID (bit 1 of a pair: 1 edge, 0 level)
GICD_SGIR: Final = u64(0xF00)           # software-generated interrupt: CPUTargetList [23:16], INTID [3:0]

GICC_CTLR: Final = u64(0x000)           # CPU interface control: group enables
GICC_PMR: Final = u64(0x004)            # priority mask
GICC_BPR: Final = u64(0x008)            # binary point (preemption grouping)
GICC_IAR: Final = u64(0x00C)            # interrupt acknowledge: INTID [9:0], source CPU [12:10]
GICC_EOIR: Final = u64(0x010)           # end of interrupt

GICD_CTLR_ENABLE: Final = u32(0x3)      # EnableGrp0 | EnableGrp1 (the non-secure view keeps bit 0 only)
GICC_CTLR_ENABLE: Final = u32(0x3)      # EnableGrp0 | EnableGrp1, IRQ signalling (FIQEn = 0)
GICC_IAR_INTID: Final = u32(0x3FF)
GICD_ALL_CPUS: Final = u8(0xFF)         # ITARGETSR byte: SPIs start targeted at every CPU interface
GICV2_PPI_ENABLE_MASK: Final = u32(0xFFFF0000)  # PPIs are INTIDs 16-31 of ISENABLER0/ICENABLER0


class Gicv2State(Struct):
    gicd: u64
    gicc: u64
    nr_irqs: u32


_gicv2: Final = Static(Gicv2State)


class Gicv2Cpu(Struct):
    iar: u32                # the last GICC_IAR value read on this CPU, source CPU ID included


_gicv2_cpu: Final = PerCpu(Gicv2Cpu)


def gicv2_probe(node: u32) -> bool:
    reg = FdtReg()
    st = _gicv2.get()
    if not fdt_reg(node, u32(0), reg):
        return False
    st.gicd = reg.addr
    if not fdt_reg(node, u32(1), reg):
        return False
    st.gicc = reg.addr
    st.nr_irqs = gic_typer_nr_irqs(mmio_read32(st.gicd + GICD_TYPER))
    return True


def gicv2_init_dist() -> None:
    # Distributor off; every SPI disabled, not pending, default priority, targeted at all CPUs; on again.
    st = _gicv2.get()
    mmio_write32(st.gicd + GICD_CTLR, u32(0))
    for word in range(u32(1), st.nr_irqs // 32):
        mmio_write32(st.gicd + GICD_ICENABLER + u64(word) * 4, u32(0xFFFFFFFF))
        mmio_write32(st.gicd + GICD_ICPENDR + u64(word) * 4, u32(0xFFFFFFFF))
    for intid in range(u32(32), st.nr_irqs):
        mmio_write8(st.gicd + GICD_IPRIORITYR + u64(intid), GIC_PRIO_DEFAULT)
        mmio_write8(st.gicd + GICD_ITARGETSR + u64(intid), GICD_ALL_CPUS)
    dsb("sy")
    mmio_write32(st.gicd + GICD_CTLR, GICD_CTLR_ENABLE)


def gicv2_init_cpu() -> None:
    # This CPU's banked PPIs off, priority mask open, no preemption grouping, interface on.
    st = _gicv2.get()
    if st.gicc == 0:
        panic("gicv2: init_cpu before probe")
    mmio_write32(st.gicd + GICD_ICENABLER, GICV2_PPI_ENABLE_MASK)
    mmio_write32(st.gicc + GICC_PMR, GIC_PMR_ALLOW_ALL)
    mmio_write32(st.gicc + GICC_BPR, u32(0))
    mmio_write32(st.gicc + GICC_CTLR, GICC_CTLR_ENABLE)


def gicv2_enable_ppi(intid: u32, prio: u8) -> None:
    if intid < 16 or intid > 31:
        panic("gicv2: enable_ppi with an INTID outside 16-31")
    st = _gicv2.get()
    mmio_write8(st.gicd + GICD_IPRIORITYR + u64(intid), prio)
    mmio_write32(st.gicd + GICD_ISENABLER, u32(1) << intid)


def gicv2_disable_ppi(intid: u32) -> None:
    if intid < 16 or intid > 31:
        panic("gicv2: disable_ppi with an INTID outside 16-31")
    mmio_write32(_gicv2.get().gicd + GICD_ICENABLER, u32(1) << intid)     # word 0 is banked per CPU


def gicv2_enable_sgi(intid: u32, prio: u8) -> None:
    if intid > 15:
        panic("gicv2: enable_sgi with an INTID outside 0-15")
    st = _gicv2.get()
    mmio_write8(st.gicd + GICD_IPRIORITYR + u64(intid), prio)
    mmio_write32(st.gicd + GICD_ISENABLER, u32(1) << intid)


def gicv2_send_sgi(mpidr: u64, intid: u32) -> None:
    # CPU interface number = Aff0 on the boards pyhv supports (QEMU virt, BCM2711's GIC-400).
    st = _gicv2.get()
    dsb("ishst")
    mmio_write32(st.gicd + GICD_SGIR, (u32(1) << (u32(mpidr & 0x7) + 16)) | (intid & 0xF))


def gicv2_enable_spi(intid: u32, prio: u8) -> None:
    # Target this CPU's interface only (the bit ITARGETSR0 reads back on it), level-sensitive, then enable.
    # The INTID is still disabled from init_dist, so ICFGR may change (IHI 0048B 4.3.13).
    st = _gicv2.get()
    if intid < 32 or intid >= st.nr_irqs:
        panic("gicv2: enable_spi with an INTID that is no SPI of this distributor")
    me = mmio_read32(st.gicd + GICD_ITARGETSR) & 0xFF
    mmio_write8(st.gicd + GICD_ITARGETSR + u64(intid), u8(me))
    cfg = st.gicd + GICD_ICFGR + u64(intid // 16) * 4
    mmio_write32(cfg, mmio_read32(cfg) & ~(u32(2) << ((intid % 16) * 2)))
    mmio_write8(st.gicd + GICD_IPRIORITYR + u64(intid), prio)
    mmio_write32(st.gicd + GICD_ISENABLER + u64(intid // 32) * 4, u32(1) << (intid % 32))


def gicv2_ack() -> u32:
    iar = mmio_read32(_gicv2.get().gicc + GICC_IAR)
    _gicv2_cpu.get().iar = iar
    return iar & GICC_IAR_INTID


def gicv2_eoi(intid: u32) -> None:
    # For an SGI, EOIR must carry the source CPU ID that IAR returned with it (IHI 0048B §4.4.5): a real
    # GIC-400 would otherwise leave the SGI active and never signal that source's SGIs again (QEMU's model
    # ignores the field). The value comes from this CPU's last acknowledge when the INTID matches.
    iar = _gicv2_cpu.get().iar
    value = iar if (iar & GICC_IAR_INTID) == intid else intid
    mmio_write32(_gicv2.get().gicc + GICC_EOIR, value)


def gicv2_nr_irqs() -> u32:
    return _gicv2.get().nr_irqs


def gicv2_version() -> u32:
    return u32(2)


GICV2_OPS: Final = GicOps(
    probe=gicv2_probe, init_dist=gicv2_init_dist, init_cpu=gicv2_init_cpu, enable_ppi=gicv2_enable_ppi,
    ack=gicv2_ack, eoi=gicv2_eoi, nr_irqs=gicv2_nr_irqs, version=gicv2_version,
    enable_sgi=gicv2_enable_sgi, send_sgi=gicv2_send_sgi, enable_spi=gicv2_enable_spi,
    disable_ppi=gicv2_disable_ppi,
)
