# GICv3 host driver (QEMU virt gic-version=3): ARM IHI 0069H, chapter 12 ("GIC Programmers' Model").
# The distributor (GICD) routes SPIs with affinity routing (ARE); SGIs/PPIs live in one redistributor
# (GICR) per CPU, found by walking the redistributor frames and matching GICR_TYPER's affinity against
# this CPU's MPIDR_EL1; the CPU interface is the ICC_* system registers.
# DTB: compatible "arm,gic-v3", reg = <GICD>, <GICR region>[, ...]; one redistributor region is used.
#
#   GICR region:  | RD_base 64K | SGI_base 64K | (+ VLPI 64K + reserved 64K when GICR_TYPER.VLPIS) | next CPU

from typing import Final

from pyhv.lang import (
    range,
    PerCpu, Static, Struct, cpu_relax, dsb, isb, mmio_read32, mmio_read64, mmio_write8, mmio_write32, mmio_write64,
    panic,
    sysreg_read, sysreg_write, u8, u32, u64,
)

from pyhv.arch.gic import GIC_PMR_ALLOW_ALL, GIC_PRIO_DEFAULT, GicOps, gic_typer_nr_irqs
from pyhv.core.fdt_reg import FdtReg, fdt_reg

GICD_CTLR: Final = u64(0x0000)          # distributor control
GICD_TYPER: Final = u64(0x0004)         # ITLinesNumber [4:0]
GICD_ICENABLER: Final = u64(0x0180)     # clear-enable, 1 bit per INTID
GICD_ICPENDR: Final = u64(0x0280)       # clear-pending, 1 bit per INTID
GICD_IPRIORITYR: Final = u64(0x0400)    # priority, 1 byte per INTID
GICD_ISENABLER: Final = u64(0x0100)     # set-enable, 1 bit per INTID
GICD_ICFGR: Final = u64(0x0C00)         # configuration, 2 bits per INTID (bit 1 of a pair: 1 edge, 0 level)
GICD_IROUTER: Final = u64(0x6000)       # 64-bit route per INTID: Aff3 [39:32], Aff2.Aff1.Aff0 [23:0], IRM [31]
GICD_IROUTER_AFF_MASK: Final = u64(0xFF00FFFFFF)    # MPIDR_EL1's affinity fields sit at the same bits
GICD_IGROUPR: Final = u64(0x0080)       # group, 1 bit per INTID (1 = non-secure group 1)
GICD_CTLR_RWP: Final = u32(1 << 31)     # register write pending
GICD_CTLR_ARE_GRP1: Final = u32(0x12)   # ARE (bit 4) | EnableGrp1 (bit 1): same bits with or without DS

GICR_TYPER: Final = u64(0x0008)         # 64-bit: affinity [63:32], Last [4], VLPIS [1]
GICR_WAKER: Final = u64(0x0014)         # ProcessorSleep [1], ChildrenAsleep [2]
GICR_SGI_BASE: Final = u64(0x10000)     # SGI_base frame: SGI/PPI registers of this redistributor
GICR_IGROUPR0: Final = u64(0x0080)      # (in SGI_base) group of INTIDs 0-31
GICR_ICENABLER0: Final = u64(0x0180)    # (in SGI_base) clear-enable of INTIDs 0-31
GICR_ISENABLER0: Final = u64(0x0100)    # (in SGI_base) set-enable of INTIDs 0-31
GICR_IPRIORITYR: Final = u64(0x0400)    # (in SGI_base) priority, 1 byte per INTID 0-31
GICR_TYPER_LAST: Final = u64(1 << 4)
GICR_TYPER_VLPIS: Final = u64(1 << 1)
GICR_WAKER_PROCESSOR_SLEEP: Final = u32(1 << 1)
GICR_WAKER_CHILDREN_ASLEEP: Final = u32(1 << 2)
GICR_FRAME_STRIDE: Final = u64(0x20000)       # RD_base + SGI_base
GICR_FRAME_STRIDE_VLPI: Final = u64(0x40000)  # + VLPI_base + reserved (GICv4)

ICC_SRE_EL2_ENABLE: Final = u64(0xF)    # SRE | DFB | DIB | Enable (lower ELs may use ICC_SRE_EL1)
ICC_IAR_INTID: Final = u64(0xFFFFFF)

_WAIT_MAX: Final = u32(1000000)         # polls of RWP / ChildrenAsleep before we panic


class Gicv3State(Struct):
    gicd: u64
    gicr: u64               # first redistributor region
    gicr_size: u64
    nr_irqs: u32


class Gicv3Cpu(Struct):
    rd: u64                 # this CPU's RD_base


_gicv3: Final = Static(Gicv3State)
_gicv3_cpu: Final = PerCpu(Gicv3Cpu)


def gicv3_probe(node: u32) -> bool:
    reg = FdtReg()
    st = _gicv3.get()
    if not fdt_reg(node, u32(0), reg):
        return False
    st.gicd = reg.addr
    if not fdt_reg(node, u32(1), reg):
        return False
    st.gicr = reg.addr
    st.gicr_size = reg.size
    st.nr_irqs = gic_typer_nr_irqs(mmio_read32(st.gicd + GICD_TYPER))
    return True


def _wait_rwp(gicd: u64) -> None:
    polls = u32(0)
    while (mmio_read32(gicd + GICD_CTLR) & GICD_CTLR_RWP) != 0:
        polls += 1
        if polls >= _WAIT_MAX:
            panic("gicv3: GICD_CTLR.RWP stuck")
        cpu_relax()


def gicv3_init_dist() -> None:
    # Distributor off; every SPI disabled, not pending, group 1, default priority; on with ARE.
    st = _gicv3.get()
    mmio_write32(st.gicd + GICD_CTLR, u32(0))
    _wait_rwp(st.gicd)
    for word in range(u32(1), st.nr_irqs // 32):
        mmio_write32(st.gicd + GICD_ICENABLER + u64(word) * 4, u32(0xFFFFFFFF))
        mmio_write32(st.gicd + GICD_ICPENDR + u64(word) * 4, u32(0xFFFFFFFF))
        mmio_write32(st.gicd + GICD_IGROUPR + u64(word) * 4, u32(0xFFFFFFFF))
    for intid in range(u32(32), st.nr_irqs):
        mmio_write8(st.gicd + GICD_IPRIORITYR + u64(intid), GIC_PRIO_DEFAULT)
    _wait_rwp(st.gicd)
    mmio_write32(st.gicd + GICD_CTLR, GICD_CTLR_ARE_GRP1)
    _wait_rwp(st.gicd)


def gicv3_mpidr_affinity(mpidr: u64) -> u32:
    # MPIDR_EL1 Aff3.Aff2.Aff1.Aff0 packed as in GICR_TYPER[63:32].
    return u32(((mpidr >> 8) & 0xFF000000) | (mpidr & 0xFFFFFF))


def gicv3_find_redistributor(mpidr: u64) -> u64:
    # RD_base of the redistributor whose GICR_TYPER affinity equals `mpidr`'s, 0 if none.
    st = _gicv3.get()
    want = gicv3_mpidr_affinity(mpidr)
    frame = st.gicr
    while frame - st.gicr < st.gicr_size:
        typer = mmio_read64(frame + GICR_TYPER)
        if u32(typer >> 32) == want:
            return frame
        if (typer & GICR_TYPER_LAST) != 0:
            return u64(0)
        frame += GICR_FRAME_STRIDE_VLPI if (typer & GICR_TYPER_VLPIS) != 0 else GICR_FRAME_STRIDE
    return u64(0)


def gicv3_init_cpu() -> None:
    # Wake this CPU's redistributor, reset its SGIs/PPIs, enable the ICC_* system register interface.
    rd = gicv3_find_redistributor(sysreg_read("mpidr_el1"))
    if rd == 0:
        panic("gicv3: no redistributor matches this CPU's MPIDR")
    _gicv3_cpu.get().rd = rd
    waker = mmio_read32(rd + GICR_WAKER)
    mmio_write32(rd + GICR_WAKER, waker & ~GICR_WAKER_PROCESSOR_SLEEP)
    polls = u32(0)
    while (mmio_read32(rd + GICR_WAKER) & GICR_WAKER_CHILDREN_ASLEEP) != 0:
        polls += 1
        if polls >= _WAIT_MAX:
            panic("gicv3: redistributor does not wake up")
        cpu_relax()
    sgi = rd + GICR_SGI_BASE
    mmio_write32(sgi + GICR_ICENABLER0, u32(0xFFFFFFFF))
    mmio_write32(sgi + GICR_IGROUPR0, u32(0xFFFFFFFF))
    sysreg_write("icc_sre_el2", sysreg_read("icc_sre_el2") | ICC_SRE_EL2_ENABLE)
    isb()
    sysreg_write("icc_pmr_el1", u64(GIC_PMR_ALLOW_ALL))
    sysreg_write("icc_bpr1_el1", u64(0))
    sysreg_write("icc_igrpen1_el1", u64(1))
    isb()


def gicv3_enable_ppi(intid: u32, prio: u8) -> None:
    if intid < 16 or intid > 31:
        panic("gicv3: enable_ppi with an INTID outside 16-31")
    sgi = _gicv3_cpu.get().rd + GICR_SGI_BASE
    mmio_write8(sgi + GICR_IPRIORITYR + u64(intid), prio)
    mmio_write32(sgi + GICR_ISENABLER0, u32(1) << intid)


def gicv3_disable_ppi(intid: u32) -> None:
    if intid < 16 or intid > 31:
        panic("gicv3: disable_ppi with an INTID outside 16-31")
    mmio_write32(_gicv3_cpu.get().rd + GICR_SGI_BASE + GICR_ICENABLER0, u32(1) << intid)


def gicv3_enable_sgi(intid: u32, prio: u8) -> None:
    if intid > 15:
        panic("gicv3: enable_sgi with an INTID outside 0-15")
    sgi = _gicv3_cpu.get().rd + GICR_SGI_BASE
    mmio_write8(sgi + GICR_IPRIORITYR + u64(intid), prio)
    mmio_write32(sgi + GICR_ISENABLER0, u32(1) << intid)


def gicv3_send_sgi(mpidr: u64, intid: u32) -> None:
    # ICC_SGI1R_EL1 (IHI 0069H 12.2.x): Aff3 [55:48], Aff2 [39:32], INTID [27:24], Aff1 [23:16],
    # TargetList [15:0] (bit n = Aff0 n; Aff0 < 16 here, so RS = 0).
    v = (((mpidr >> 32) & 0xFF) << 48) | (((mpidr >> 16) & 0xFF) << 32) | (u64(intid & 0xF) << 24) \
        | (((mpidr >> 8) & 0xFF) << 16) | (u64(1) << (mpidr & 0xF))
    dsb("ishst")
    sysreg_write("icc_sgi1r_el1", v)
    isb()


def gicv3_enable_spi(intid: u32, prio: u8) -> None:
    # Route to this CPU (IRM = 0: exactly the CPU named by the affinity), level-sensitive, then enable.
    # The INTID is still disabled from init_dist, so ICFGR may change (IHI 0069H 12.9.9).
    st = _gicv3.get()
    if intid < 32 or intid >= st.nr_irqs:
        panic("gicv3: enable_spi with an INTID that is no SPI of this distributor")
    mmio_write64(st.gicd + GICD_IROUTER + u64(intid) * 8, sysreg_read("mpidr_el1") & GICD_IROUTER_AFF_MASK)
    cfg = st.gicd + GICD_ICFGR + u64(intid // 16) * 4
    mmio_write32(cfg, mmio_read32(cfg) & ~(u32(2) << ((intid % 16) * 2)))
    mmio_write8(st.gicd + GICD_IPRIORITYR + u64(intid), prio)
    _wait_rwp(st.gicd)
    mmio_write32(st.gicd + GICD_ISENABLER + u64(intid // 32) * 4, u32(1) << (intid % 32))


def gicv3_ack() -> u32:
    return u32(sysreg_read("icc_iar1_el1") & ICC_IAR_INTID)


def gicv3_eoi(intid: u32) -> None:
    sysreg_write("icc_eoir1_el1", u64(intid))


def gicv3_nr_irqs() -> u32:
    return _gicv3.get().nr_irqs


def gicv3_version() -> u32:
    return u32(3)


GICV3_OPS: Final = GicOps(
    probe=gicv3_probe, init_dist=gicv3_init_dist, init_cpu=gicv3_init_cpu, enable_ppi=gicv3_enable_ppi,
    ack=gicv3_ack, eoi=gicv3_eoi, nr_irqs=gicv3_nr_irqs, version=gicv3_version,
    enable_sgi=gicv3_enable_sgi, send_sgi=gicv3_send_sgi, enable_spi=gicv3_enable_spi,
    disable_ppi=gicv3_disable_ppi,
)
