# GICv3 list-register backend: the ICH_*_EL2 system registers of the virtual CPU interface (ARM IHI 0069H
# §12.4 "The GIC virtual CPU interface system registers": ICH_LR<n>_EL2, ICH_HCR_EL2, ICH_VTR_EL2,
# ICH_MISR_EL2, ICH_AP<m>R<n>_EL2, ICH_VMCR_EL2). The guest talks to the ICV_* view of the same state
# through its ICC_* accesses (HCR_EL2.IMO/FMO = 1); only ICC_SGI*R_EL1 writes trap (vgicv3_sysreg.py).
#
#   ICH_LR<n>_EL2:  63-62 State | 61 HW | 60 Group | 55-48 Priority | 44-32 pINTID (HW=1) | 41 EOI (HW=0)
#                   | 31-0 vINTID

from typing import Final

from pyhv.lang import range, isb, panic, sysreg_read, sysreg_write, u8, u32, u64

from pyhv.vdev.vgic_lr import LrOps, LrState

ICH_LR_VINTID_MASK: Final = u64(0xFFFFFFFF)     # [31:0] virtual INTID
ICH_LR_PINTID_SHIFT: Final = u64(32)            # [44:32] physical INTID, when HW = 1
ICH_LR_PINTID_MASK: Final = u64(0x1FFF)
ICH_LR_EOI: Final = u64(1 << 41)                # maintenance interrupt on EOI, when HW = 0
ICH_LR_PRIORITY_SHIFT: Final = u64(48)          # [55:48] priority
ICH_LR_PRIORITY_MASK: Final = u64(0xFF)
ICH_LR_GROUP: Final = u64(1 << 60)              # group 1
ICH_LR_HW: Final = u64(1 << 61)                 # hardware-linked: deactivation reaches pINTID
ICH_LR_STATE_SHIFT: Final = u64(62)             # [63:62] 0 invalid, 1 pending, 2 active, 3 both
ICH_LR_STATE_MASK: Final = u64(0x3)

ICH_HCR_EN: Final = u64(1 << 0)                 # virtual CPU interface enabled
ICH_HCR_UIE: Final = u64(1 << 1)                # maintenance interrupt when at most one LR is valid
ICH_VTR_LISTREGS_MASK: Final = u64(0x1F)        # [4:0] number of LRs minus one


def vgic_v3_lr_encode(lr: LrState) -> u64:
    v = u64(lr.vintid) & ICH_LR_VINTID_MASK
    v = v | ((u64(lr.priority) & ICH_LR_PRIORITY_MASK) << ICH_LR_PRIORITY_SHIFT)
    v = v | ((u64(lr.state) & ICH_LR_STATE_MASK) << ICH_LR_STATE_SHIFT)
    if lr.group1:
        v = v | ICH_LR_GROUP
    if lr.hw:
        v = v | ICH_LR_HW | ((u64(lr.pintid) & ICH_LR_PINTID_MASK) << ICH_LR_PINTID_SHIFT)
    elif lr.eoi_maint:
        v = v | ICH_LR_EOI
    return v


def vgic_v3_lr_decode(v: u64, lr: LrState) -> None:
    lr.vintid = u32(v & ICH_LR_VINTID_MASK)
    lr.priority = u8((v >> ICH_LR_PRIORITY_SHIFT) & ICH_LR_PRIORITY_MASK)
    lr.state = u8((v >> ICH_LR_STATE_SHIFT) & ICH_LR_STATE_MASK)
    lr.group1 = (v & ICH_LR_GROUP) != 0
    lr.hw = (v & ICH_LR_HW) != 0
    lr.pintid = u32((v >> ICH_LR_PINTID_SHIFT) & ICH_LR_PINTID_MASK) if lr.hw else u32(0)
    lr.eoi_maint = not lr.hw and (v & ICH_LR_EOI) != 0
    lr.source = u8(0)


def _ich_lr_read(n: u32) -> u64:
    # ICH_LR<n>_EL2 names are instruction operands, so each index is its own literal.
    if n == 0:
        return sysreg_read("ich_lr0_el2")
    elif n == 1:
        return sysreg_read("ich_lr1_el2")
    elif n == 2:
        return sysreg_read("ich_lr2_el2")
    elif n == 3:
        return sysreg_read("ich_lr3_el2")
    elif n == 4:
        return sysreg_read("ich_lr4_el2")
    elif n == 5:
        return sysreg_read("ich_lr5_el2")
    elif n == 6:
        return sysreg_read("ich_lr6_el2")
    elif n == 7:
        return sysreg_read("ich_lr7_el2")
    elif n == 8:
        return sysreg_read("ich_lr8_el2")
    elif n == 9:
        return sysreg_read("ich_lr9_el2")
    elif n == 10:
        return sysreg_read("ich_lr10_el2")
    elif n == 11:
        return sysreg_read("ich_lr11_el2")
    elif n == 12:
        return sysreg_read("ich_lr12_el2")
    elif n == 13:
        return sysreg_read("ich_lr13_el2")
    elif n == 14:
        return sysreg_read("ich_lr14_el2")
    elif n == 15:
        return sysreg_read("ich_lr15_el2")
    panic("vgic: list register index out of range")


def _ich_lr_write(n: u32, v: u64) -> None:
    if n == 0:
        sysreg_write("ich_lr0_el2", v)
    elif n == 1:
        sysreg_write("ich_lr1_el2", v)
    elif n == 2:
        sysreg_write("ich_lr2_el2", v)
    elif n == 3:
        sysreg_write("ich_lr3_el2", v)
    elif n == 4:
        sysreg_write("ich_lr4_el2", v)
    elif n == 5:
        sysreg_write("ich_lr5_el2", v)
    elif n == 6:
        sysreg_write("ich_lr6_el2", v)
    elif n == 7:
        sysreg_write("ich_lr7_el2", v)
    elif n == 8:
        sysreg_write("ich_lr8_el2", v)
    elif n == 9:
        sysreg_write("ich_lr9_el2", v)
    elif n == 10:
        sysreg_write("ich_lr10_el2", v)
    elif n == 11:
        sysreg_write("ich_lr11_el2", v)
    elif n == 12:
        sysreg_write("ich_lr12_el2", v)
    elif n == 13:
        sysreg_write("ich_lr13_el2", v)
    elif n == 14:
        sysreg_write("ich_lr14_el2", v)
    elif n == 15:
        sysreg_write("ich_lr15_el2", v)
    else:
        panic("vgic: list register index out of range")


def vgic_v3_nr_lrs() -> u32:
    return u32(sysreg_read("ich_vtr_el2") & ICH_VTR_LISTREGS_MASK) + 1


def vgic_v3_read_lr(n: u32, lr: LrState) -> None:
    vgic_v3_lr_decode(_ich_lr_read(n), lr)


def vgic_v3_write_lr(n: u32, lr: LrState) -> None:
    _ich_lr_write(n, vgic_v3_lr_encode(lr))


def vgic_v3_set_hcr(underflow: bool) -> None:
    sysreg_write("ich_hcr_el2", (ICH_HCR_EN | ICH_HCR_UIE) if underflow else ICH_HCR_EN)
    isb()


def vgic_v3_read_misr() -> u32:
    return u32(sysreg_read("ich_misr_el2"))


def vgic_v3_reset() -> None:
    n = vgic_v3_nr_lrs()
    for i in range(n):
        _ich_lr_write(u32(i), u64(0))
    sysreg_write("ich_ap0r0_el2", u64(0))
    sysreg_write("ich_ap1r0_el2", u64(0))
    sysreg_write("ich_vmcr_el2", u64(0))
    isb()


VGIC_V3_LR_OPS: Final = LrOps(
    nr_lrs=vgic_v3_nr_lrs, read_lr=vgic_v3_read_lr, write_lr=vgic_v3_write_lr, set_hcr=vgic_v3_set_hcr,
    read_misr=vgic_v3_read_misr, reset=vgic_v3_reset,
)
