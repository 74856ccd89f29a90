# GICv2 list-register backend: the GICH virtual interface control frame, banked per physical CPU at one
# address (ARM IHI 0048B §5.3 "GIC virtual interface control registers"). The guest's CPU interface is
# the hardware GICV frame, mapped by stage 2 at the guest's GICC address (pyhv/vdev/vgicv2_dist.py).
#
#   GICH_LR<n> (base + 0x100 + 4n):  31 HW | 30 Grp1 | 29-28 State | 27-23 Priority[7:3]
#                                    | 19-10 PhysicalID (HW=1) or 19 EOI, 12-10 CPUID (HW=0) | 9-0 VirtualID

from typing import Final

from pyhv.lang import range, Static, Struct, mmio_read32, mmio_write32, panic, u8, u32, u64

from pyhv.vdev.vgic_lr import LrOps, LrState

GICH_HCR: Final = u64(0x000)            # En [0], UIE [1]
GICH_VTR: Final = u64(0x004)            # ListRegs [5:0] = LRs - 1
GICH_VMCR: Final = u64(0x008)           # guest's GICV_CTLR/PMR/BPR view
GICH_MISR: Final = u64(0x010)           # maintenance interrupt status
GICH_APR: Final = u64(0x0F0)            # active priorities
GICH_LR0: Final = u64(0x100)            # first list register, 4 bytes each

GICH_HCR_EN: Final = u32(1 << 0)
GICH_HCR_UIE: Final = u32(1 << 1)
GICH_VTR_LISTREGS_MASK: Final = u32(0x3F)

GICH_LR_VIRTUALID_MASK: Final = u32(0x3FF)      # [9:0]
GICH_LR_PHYSICALID_SHIFT: Final = u32(10)       # [19:10] when HW = 1
GICH_LR_PHYSICALID_MASK: Final = u32(0x3FF)
GICH_LR_CPUID_SHIFT: Final = u32(10)            # [12:10] SGI source CPU when HW = 0
GICH_LR_CPUID_MASK: Final = u32(0x7)
GICH_LR_EOI: Final = u32(1 << 19)               # maintenance interrupt on EOI when HW = 0
GICH_LR_PRIORITY_SHIFT: Final = u32(23)         # [27:23] top 5 bits of the priority
GICH_LR_PRIORITY_MASK: Final = u32(0x1F)
GICH_LR_STATE_SHIFT: Final = u32(28)            # [29:28] 0 invalid, 1 pending, 2 active, 3 both
GICH_LR_STATE_MASK: Final = u32(0x3)
GICH_LR_GRP1: Final = u32(1 << 30)
GICH_LR_HW: Final = u32(1 << 31)


class VgicV2Hyp(Struct):
    gich: u64               # GICH frame (host DTB "arm,gic-400" reg[2])


_v2: Final = Static(VgicV2Hyp)


def vgic_v2_set_gich(base: u64) -> None:
    _v2.get().gich = base


def vgic_v2_lr_encode(lr: LrState) -> u32:
    v = lr.vintid & GICH_LR_VIRTUALID_MASK
    v = v | ((u32(lr.priority) >> 3) << GICH_LR_PRIORITY_SHIFT)
    v = v | ((u32(lr.state) & GICH_LR_STATE_MASK) << GICH_LR_STATE_SHIFT)
    if lr.group1:
        v = v | GICH_LR_GRP1
    if lr.hw:
        v = v | GICH_LR_HW | ((lr.pintid & GICH_LR_PHYSICALID_MASK) << GICH_LR_PHYSICALID_SHIFT)
    else:
        v = v | ((u32(lr.source) & GICH_LR_CPUID_MASK) << GICH_LR_CPUID_SHIFT)
        if lr.eoi_maint:
            v = v | GICH_LR_EOI
    return v


def vgic_v2_lr_decode(v: u32, lr: LrState) -> None:
    lr.vintid = v & GICH_LR_VIRTUALID_MASK
    lr.priority = u8(((v >> GICH_LR_PRIORITY_SHIFT) & GICH_LR_PRIORITY_MASK) << 3)
    lr.state = u8((v >> GICH_LR_STATE_SHIFT) & GICH_LR_STATE_MASK)
    lr.group1 = (v & GICH_LR_GRP1) != 0
    lr.hw = (v & GICH_LR_HW) != 0
    lr.pintid = ((v >> GICH_LR_PHYSICALID_SHIFT) & GICH_LR_PHYSICALID_MASK) if lr.hw else u32(0)
    lr.source = u8(0) if lr.hw else u8((v >> GICH_LR_CPUID_SHIFT) & GICH_LR_CPUID_MASK)
    lr.eoi_maint = not lr.hw and (v & GICH_LR_EOI) != 0


def _gich() -> u64:
    base = _v2.get().gich
    if base == 0:
        panic("vgic: GICv2 list registers used before vgic_v2_set_gich")
    return base


def vgic_v2_nr_lrs() -> u32:
    return (mmio_read32(_gich() + GICH_VTR) & GICH_VTR_LISTREGS_MASK) + 1


def vgic_v2_read_lr(n: u32, lr: LrState) -> None:
    vgic_v2_lr_decode(mmio_read32(_gich() + GICH_LR0 + u64(n) * 4), lr)


def vgic_v2_write_lr(n: u32, lr: LrState) -> None:
    mmio_write32(_gich() + GICH_LR0 + u64(n) * 4, vgic_v2_lr_encode(lr))


def vgic_v2_set_hcr(underflow: bool) -> None:
    mmio_write32(_gich() + GICH_HCR, (GICH_HCR_EN | GICH_HCR_UIE) if underflow else GICH_HCR_EN)


def vgic_v2_read_misr() -> u32:
    return mmio_read32(_gich() + GICH_MISR)


def vgic_v2_reset() -> None:
    base = _gich()
    for i in range(vgic_v2_nr_lrs()):
        mmio_write32(base + GICH_LR0 + u64(i) * 4, u32(0))
    mmio_write32(base + GICH_APR, u32(0))
    mmio_write32(base + GICH_VMCR, u32(0))


VGIC_V2_LR_OPS: Final = LrOps(
    nr_lrs=vgic_v2_nr_lrs, read_lr=vgic_v2_read_lr, write_lr=vgic_v2_write_lr, set_hcr=vgic_v2_set_hcr,
    read_misr=vgic_v2_read_misr, reset=vgic_v2_reset,
)
