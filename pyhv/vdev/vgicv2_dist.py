# The GICv2 distributor the guest sees (ARM IHI 0048B §4.3 "Distributor register descriptions"): one
# register table. Registers for INTIDs 0-31 are banked: a row function's vcpu is the accessing vCPU.
# The guest's CPU interface is NOT emulated: the hardware GICV frame (host DTB reg[3]) is mapped by stage 2
# at the guest's GICC address, and the guest's acknowledge/EOI go straight to the list registers that
# pyhv/vdev/vgic_lr_v2.py fills through GICH. A GICv2 addresses at most 8 CPU interfaces (vgic_validate).
#
#   0x000 CTLR  0x004 TYPER  0x008 IIDR  0x080 IGROUPR  0x100 ISENABLER  0x180 ICENABLER  0x200 ISPENDR
#   0x280 ICPENDR  0x300 ISACTIVER  0x380 ICACTIVER  0x400 IPRIORITYR (bytes)  0x800 ITARGETSR (bytes)
#   0xC00 ICFGR  0xF00 SGIR (write-only)  0xF10 CPENDSGIR (bytes)  0xF20 SPENDSGIR (bytes)  0xFE8 ICPIDR2

from typing import Final

from pyhv.lang import range, u8, u32, u64

from pyhv.core.mmio import MMIO_W8, MMIO_W32, MmioDevice, RegRow
from pyhv.vdev.vgic import (
    VGIC_NR_PRIVATE, VGIC_NR_SGIS, vgic_irq, vgic_note_ro_write, vgic_send_sgi, vgic_state, vgic_valid_intid,
)
from pyhv.vdev.vgic_regs import (
    VGIC_BITS_CLEAR_ACTIVE, VGIC_BITS_CLEAR_ENABLE, VGIC_BITS_CLEAR_PENDING, VGIC_BITS_GROUP,
    VGIC_BITS_SET_ACTIVE, VGIC_BITS_SET_ENABLE, VGIC_BITS_SET_PENDING, VGIC_BYTES_PRIORITY,
    VGIC_BYTES_TARGETS, vgic_bits_read, vgic_bits_write, vgic_bytes_read, vgic_bytes_write, vgic_cfg_read,
    vgic_cfg_write, vgic_ctlr_read, vgic_ctlr_write,
)
from pyhv.vdev.vgic_remote import VGIC_SGI_ANY_GROUP, vgic_remote_send_sgis
from pyhv.vdev.vgicv3_dist import VGIC_IIDR

GICD_CTLR_ENABLES: Final = u32(0x3)         # EnableGrp0 [0], EnableGrp1 [1]
GICD_SGIR_INTID_MASK: Final = u32(0xF)      # [3:0]
GICD_SGIR_TARGETS_SHIFT: Final = u32(16)    # CPUTargetList [23:16]
GICD_SGIR_FILTER_SHIFT: Final = u32(24)     # TargetListFilter [25:24]
GICD_SGIR_FILTER_LIST: Final = u32(0)       # the CPUs in CPUTargetList
GICD_SGIR_FILTER_OTHERS: Final = u32(1)     # every CPU but the writer
GICD_SGIR_FILTER_SELF: Final = u32(2)       # only the writer
GICV2_PIDR2: Final = u32(0x2B)              # ArchRev [7:4] = 2 (GICv2)


def vgicv2_typer() -> u32:
    # ITLinesNumber [4:0] from the VM's SPI count, CPUNumber [7:5] = vCPUs - 1, no security extensions.
    st = vgic_state()
    return ((st.nr_spis + VGIC_NR_PRIVATE) // 32 - 1) | ((st.nr_vcpus - 1) << 5)


def _cpu_mask_bytes() -> u64:
    # The implemented-CPU mask replicated in every byte: ITARGETSR bits of absent CPUs are RAZ/WI.
    m = u64((u32(1) << vgic_state().nr_vcpus) - 1) & 0xFF
    return m * u64(0x0101010101010101)


def _ctlr_read(vcpu: u32, off: u32) -> u64:
    return u64(vgic_ctlr_read())


def _ctlr_write(vcpu: u32, off: u32, v: u64) -> None:
    vgic_ctlr_write(u32(v) & GICD_CTLR_ENABLES)


def _typer_read(vcpu: u32, off: u32) -> u64:
    return u64(vgicv2_typer())


def _typer_write(vcpu: u32, off: u32, v: u64) -> None:
    vgic_note_ro_write("GICD_TYPER", off)


def _iidr_read(vcpu: u32, off: u32) -> u64:
    return u64(VGIC_IIDR)


def _iidr_write(vcpu: u32, off: u32, v: u64) -> None:
    vgic_note_ro_write("GICD_IIDR", off)


def _pidr2_read(vcpu: u32, off: u32) -> u64:
    return u64(GICV2_PIDR2)


def _pidr2_write(vcpu: u32, off: u32, v: u64) -> None:
    vgic_note_ro_write("GICD_ICPIDR2", off)


def _group_read(vcpu: u32, off: u32) -> u64:
    return u64(vgic_bits_read(vcpu, off // 4 * 32, VGIC_BITS_GROUP))


def _group_write(vcpu: u32, off: u32, v: u64) -> None:
    vgic_bits_write(vcpu, off // 4 * 32, VGIC_BITS_GROUP, u32(v))


def _enable_read(vcpu: u32, off: u32) -> u64:
    return u64(vgic_bits_read(vcpu, off // 4 * 32, VGIC_BITS_SET_ENABLE))


def _set_enable_write(vcpu: u32, off: u32, v: u64) -> None:
    vgic_bits_write(vcpu, off // 4 * 32, VGIC_BITS_SET_ENABLE, u32(v))


def _clear_enable_write(vcpu: u32, off: u32, v: u64) -> None:
    vgic_bits_write(vcpu, off // 4 * 32, VGIC_BITS_CLEAR_ENABLE, u32(v))


def _pending_read(vcpu: u32, off: u32) -> u64:
    return u64(vgic_bits_read(vcpu, off // 4 * 32, VGIC_BITS_SET_PENDING))


def _set_pending_write(vcpu: u32, off: u32, v: u64) -> None:
    vgic_bits_write(vcpu, off // 4 * 32, VGIC_BITS_SET_PENDING, u32(v))


def _clear_pending_write(vcpu: u32, off: u32, v: u64) -> None:
    vgic_bits_write(vcpu, off // 4 * 32, VGIC_BITS_CLEAR_PENDING, u32(v))


def _active_read(vcpu: u32, off: u32) -> u64:
    return u64(vgic_bits_read(vcpu, off // 4 * 32, VGIC_BITS_SET_ACTIVE))


def _set_active_write(vcpu: u32, off: u32, v: u64) -> None:
    vgic_bits_write(vcpu, off // 4 * 32, VGIC_BITS_SET_ACTIVE, u32(v))


def _clear_active_write(vcpu: u32, off: u32, v: u64) -> None:
    vgic_bits_write(vcpu, off // 4 * 32, VGIC_BITS_CLEAR_ACTIVE, u32(v))


def _prio_read(vcpu: u32, off: u32) -> u64:
    return vgic_bytes_read(vcpu, off, VGIC_BYTES_PRIORITY)


def _prio_write32(vcpu: u32, off: u32, v: u64) -> None:
    vgic_bytes_write(vcpu, off, VGIC_BYTES_PRIORITY, v, u32(4))


def _prio_write8(vcpu: u32, off: u32, v: u64) -> None:
    vgic_bytes_write(vcpu, off, VGIC_BYTES_PRIORITY, v, u32(1))


def _targets_read(vcpu: u32, off: u32) -> u64:
    # SGI/PPI bytes read as the accessing CPU's own bit (IHI 0048B §4.3.12).
    if off < VGIC_NR_PRIVATE:
        return u64(u8(1) << (vcpu & 7)) * u64(0x01010101)
    return vgic_bytes_read(vcpu, off, VGIC_BYTES_TARGETS)


def _targets_write32(vcpu: u32, off: u32, v: u64) -> None:
    if off >= VGIC_NR_PRIVATE:
        vgic_bytes_write(vcpu, off, VGIC_BYTES_TARGETS, v & _cpu_mask_bytes(), u32(4))


def _targets_write8(vcpu: u32, off: u32, v: u64) -> None:
    if off >= VGIC_NR_PRIVATE:
        vgic_bytes_write(vcpu, off, VGIC_BYTES_TARGETS, v & _cpu_mask_bytes(), u32(1))


def _cfg_read(vcpu: u32, off: u32) -> u64:
    return u64(vgic_cfg_read(vcpu, off // 4 * 16))


def _cfg_write(vcpu: u32, off: u32, v: u64) -> None:
    vgic_cfg_write(vcpu, off // 4 * 16, u32(v))


def _sgir_read(vcpu: u32, off: u32) -> u64:
    return u64(0)   # write-only: reads as zero


def vgicv2_sgir_write(vcpu: u32, off: u32, v: u64) -> None:
    # GICD_SGIR: raise SGI INTID [3:0] on the CPUs chosen by TargetListFilter / CPUTargetList.
    st = vgic_state()
    if vcpu >= st.nr_vcpus:
        return                              # no such CPU interface (a forwarded id): WI
    value = u32(v)
    intid = value & GICD_SGIR_INTID_MASK
    flt = (value >> GICD_SGIR_FILTER_SHIFT) & 3
    targets = (value >> GICD_SGIR_TARGETS_SHIFT) & 0xFF
    if flt == GICD_SGIR_FILTER_OTHERS:
        targets = ((u32(1) << st.nr_vcpus) - 1) & ~(u32(1) << vcpu)
    elif flt == GICD_SGIR_FILTER_SELF:
        targets = u32(1) << vcpu
    elif flt != GICD_SGIR_FILTER_LIST:
        return                              # 0b11 is reserved
    # CPU interface n is global vCPU n (a GICv2 VM has at most 8); vCPUs of other nodes get a message.
    vgic_remote_send_sgis(vcpu, intid, VGIC_SGI_ANY_GROUP, u64(targets & ((u32(1) << st.nr_vcpus) - 1)))


def _sgi_sources_read(vcpu: u32, off: u32) -> u64:
    # CPENDSGIR/SPENDSGIR: one byte per SGI of the accessing CPU, one bit per source CPU.
    v = u64(0)
    for i in range(u32(0), u32(4)):
        if off + u32(i) < VGIC_NR_SGIS and vgic_valid_intid(vcpu, off + u32(i)):     # RAZ for no such vCPU
            v = v | (u64(vgic_irq(vcpu, off + u32(i)).sgi_sources) << (u32(i) * 8))
    return v


def _sgi_sources_write(vcpu: u32, off: u32, v: u64, nbytes: u32, setting: bool) -> None:
    for i in range(u32(0), nbytes):
        intid = off + u32(i)
        bits = u8(v >> (u32(i) * 8))
        if intid < VGIC_NR_SGIS and bits != 0 and vgic_valid_intid(vcpu, intid):    # WI for no such vCPU
            for src in range(u32(0), u32(8)):
                if ((bits >> u32(src)) & 1) != 0 and setting:
                    vgic_send_sgi(u32(src), vcpu, intid)
            if not setting:
                irq = vgic_irq(vcpu, intid)
                with irq.lock:
                    irq.sgi_sources = irq.sgi_sources & ~bits
                    if irq.sgi_sources == 0:
                        irq.pending_latch = False


def _spendsgir_write32(vcpu: u32, off: u32, v: u64) -> None:
    _sgi_sources_write(vcpu, off, v, u32(4), True)


def _spendsgir_write8(vcpu: u32, off: u32, v: u64) -> None:
    _sgi_sources_write(vcpu, off, v, u32(1), True)


def _cpendsgir_write32(vcpu: u32, off: u32, v: u64) -> None:
    _sgi_sources_write(vcpu, off, v, u32(4), False)


def _cpendsgir_write8(vcpu: u32, off: u32, v: u64) -> None:
    _sgi_sources_write(vcpu, off, v, u32(1), False)


# Byte-accessible registers have a 32-bit row and a byte row over the same offsets: the access width
# picks the row (pyhv/core/mmio.py keeps searching when a row does not allow the width).
VGICV2_DIST_ROWS: Final = (
    RegRow(offset=u32(0x000), size_bytes=u32(4), widths=MMIO_W32, read=_ctlr_read, write=_ctlr_write),
    RegRow(offset=u32(0x004), size_bytes=u32(4), widths=MMIO_W32, read=_typer_read, write=_typer_write),
    RegRow(offset=u32(0x008), size_bytes=u32(4), widths=MMIO_W32, read=_iidr_read, write=_iidr_write),
    RegRow(offset=u32(0x080), size_bytes=u32(0x80), widths=MMIO_W32, read=_group_read, write=_group_write),
    RegRow(offset=u32(0x100), size_bytes=u32(0x80), widths=MMIO_W32, read=_enable_read,
           write=_set_enable_write),
    RegRow(offset=u32(0x180), size_bytes=u32(0x80), widths=MMIO_W32, read=_enable_read,
           write=_clear_enable_write),
    RegRow(offset=u32(0x200), size_bytes=u32(0x80), widths=MMIO_W32, read=_pending_read,
           write=_set_pending_write),
    RegRow(offset=u32(0x280), size_bytes=u32(0x80), widths=MMIO_W32, read=_pending_read,
           write=_clear_pending_write),
    RegRow(offset=u32(0x300), size_bytes=u32(0x80), widths=MMIO_W32, read=_active_read,
           write=_set_active_write),
    RegRow(offset=u32(0x380), size_bytes=u32(0x80), widths=MMIO_W32, read=_active_read,
           write=_clear_active_write),
    RegRow(offset=u32(0x400), size_bytes=u32(0x3FC), widths=MMIO_W32, read=_prio_read, write=_prio_write32),
    RegRow(offset=u32(0x400), size_bytes=u32(0x3FC), widths=MMIO_W8, read=_prio_read, write=_prio_write8),
    RegRow(offset=u32(0x800), size_bytes=u32(0x3FC), widths=MMIO_W32, read=_targets_read,
           write=_targets_write32),
    RegRow(offset=u32(0x800), size_bytes=u32(0x3FC), widths=MMIO_W8, read=_targets_read,
           write=_targets_write8),
    RegRow(offset=u32(0xC00), size_bytes=u32(0x100), widths=MMIO_W32, read=_cfg_read, write=_cfg_write),
    RegRow(offset=u32(0xF00), size_bytes=u32(4), widths=MMIO_W32, read=_sgir_read, write=vgicv2_sgir_write),
    RegRow(offset=u32(0xF10), size_bytes=u32(16), widths=MMIO_W32, read=_sgi_sources_read,
           write=_cpendsgir_write32),
    RegRow(offset=u32(0xF10), size_bytes=u32(16), widths=MMIO_W8, read=_sgi_sources_read,
           write=_cpendsgir_write8),
    RegRow(offset=u32(0xF20), size_bytes=u32(16), widths=MMIO_W32, read=_sgi_sources_read,
           write=_spendsgir_write32),
    RegRow(offset=u32(0xF20), size_bytes=u32(16), widths=MMIO_W8, read=_sgi_sources_read,
           write=_spendsgir_write8),
    RegRow(offset=u32(0xFE8), size_bytes=u32(4), widths=MMIO_W32, read=_pidr2_read, write=_pidr2_write),
)


def _row_count() -> u32:
    return u32(len(VGICV2_DIST_ROWS))


def _row(i: u32) -> RegRow:
    return VGICV2_DIST_ROWS[i]


VGICV2_DIST_DEVICE: Final = MmioDevice(row_count=_row_count, row=_row)
