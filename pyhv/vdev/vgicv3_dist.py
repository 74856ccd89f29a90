# The GICv3 distributor the guest sees (ARM IHI 0069H §12.9 "The GICD_* registers"): one register table.
# Affinity routing is always on (GICD_CTLR.ARE RAO/WI) and there is one security state (DS RAO/WI), as
# Linux expects of a virtual GICv3; the registers for INTIDs 0-31 therefore live in the redistributors
# (vgicv3_redist.py) and read as zero here. No LPIs, no message-based SPIs, no 1-of-N routing.
#
#   0x0000 CTLR  0x0004 TYPER  0x0008 IIDR  0x000C TYPER2    0x0080 IGROUPR    0x0100 ISENABLER
#   0x0180 ICENABLER  0x0200 ISPENDR  0x0280 ICPENDR  0x0300 ISACTIVER  0x0380 ICACTIVER
#   0x0400 IPRIORITYR (bytes)  0x0C00 ICFGR  0x6000 IROUTER (64-bit, INTID n at 0x6000 + 8n)  0xFFE8 PIDR2

from typing import Final

from pyhv.lang import u32, u64

from pyhv.core.mmio import MMIO_W8, MMIO_W32, MMIO_W64, MmioDevice, RegRow
from pyhv.vdev.vgic import VGIC_NR_PRIVATE, vgic_note_ro_write, vgic_state
from pyhv.vdev.vgic_regs import (
    VGIC_BITS_CLEAR_ACTIVE, VGIC_BITS_CLEAR_ENABLE, VGIC_BITS_CLEAR_PENDING, VGIC_BITS_GROUP,
    VGIC_BITS_SET_ACTIVE, VGIC_BITS_SET_ENABLE, VGIC_BITS_SET_PENDING, VGIC_BYTES_PRIORITY, vgic_bits_read,
    vgic_bits_write, vgic_bytes_read, vgic_bytes_write, vgic_cfg_read, vgic_cfg_write, vgic_ctlr_read,
    vgic_ctlr_write, vgic_route_read, vgic_route_write,
)

GICD_CTLR_ARE: Final = u32(1 << 4)      # affinity routing (RAO/WI)
GICD_CTLR_DS: Final = u32(1 << 6)       # single security state (RAO/WI)
GICD_CTLR_ENABLES: Final = u32(0x3)     # EnableGrp0 [0], EnableGrp1 [1]
GICD_TYPER_IDBITS_10: Final = u32(9 << 19)  # IDbits [23:19] = 9: 10-bit INTIDs, no LPIs
GICD_TYPER_NO1N: Final = u32(1 << 25)   # 1-of-N SPI routing not supported
VGIC_IIDR: Final = u32(0x5000043B)      # ProductID 'P' [31:24], implementer Arm (JEP106 0x43B)
GICV3_PIDR2: Final = u32(0x3B)          # ArchRev [7:4] = 3 (GICv3)


def vgicv3_typer() -> u32:
    # ITLinesNumber [4:0]: 32 * (N + 1) INTIDs; CPUNumber [7:5] is ignored with ARE, kept informative.
    st = vgic_state()
    lines = (st.nr_spis + VGIC_NR_PRIVATE) // 32 - 1
    cpus = st.nr_vcpus - 1 if st.nr_vcpus <= 8 else u32(7)
    return lines | (cpus << 5) | GICD_TYPER_IDBITS_10 | GICD_TYPER_NO1N


def _ctlr_read(vcpu: u32, off: u32) -> u64:
    return u64(vgic_ctlr_read() | GICD_CTLR_ARE | GICD_CTLR_DS)


def _ctlr_write(vcpu: u32, off: u32, v: u64) -> None:
    vgic_ctlr_write(u32(v) & GICD_CTLR_ENABLES)


def _typer_read(vcpu: u32, off: u32) -> u64:
    return u64(vgicv3_typer())


def _typer_write(vcpu: u32, off: u32, v: u64) -> None:
    vgic_note_ro_write("GICD_TYPER", off)


def _iidr_read(vcpu: u32, off: u32) -> u64:
    return u64(VGIC_IIDR)


def _iidr_write(vcpu: u32, off: u32, v: u64) -> None:
    vgic_note_ro_write("GICD_IIDR", off)


def _typer2_read(vcpu: u32, off: u32) -> u64:
    return u64(0)


def _typer2_write(vcpu: u32, off: u32, v: u64) -> None:
    vgic_note_ro_write("GICD_TYPER2", off)


def _pidr2_read(vcpu: u32, off: u32) -> u64:
    return u64(GICV3_PIDR2)


def _pidr2_write(vcpu: u32, off: u32, v: u64) -> None:
    vgic_note_ro_write("GICD_PIDR2", off)


# --- 1 bit per INTID: INTIDs 0-31 (word 0) are the redistributor's, RAZ/WI here -------------------------

def _first_bit(off: u32) -> u32:
    return off // 4 * 32


def _bits_read(off: u32, kind: u32) -> u64:
    first = _first_bit(off)
    if first < VGIC_NR_PRIVATE:
        return u64(0)
    return u64(vgic_bits_read(u32(0), first, kind))


def _bits_write(off: u32, kind: u32, v: u64) -> None:
    first = _first_bit(off)
    if first >= VGIC_NR_PRIVATE:
        vgic_bits_write(u32(0), first, kind, u32(v))


def _group_read(vcpu: u32, off: u32) -> u64:
    return _bits_read(off, VGIC_BITS_GROUP)


def _group_write(vcpu: u32, off: u32, v: u64) -> None:
    _bits_write(off, VGIC_BITS_GROUP, v)


def _enable_read(vcpu: u32, off: u32) -> u64:
    return _bits_read(off, VGIC_BITS_SET_ENABLE)


def _set_enable_write(vcpu: u32, off: u32, v: u64) -> None:
    _bits_write(off, VGIC_BITS_SET_ENABLE, v)


def _clear_enable_write(vcpu: u32, off: u32, v: u64) -> None:
    _bits_write(off, VGIC_BITS_CLEAR_ENABLE, v)


def _pending_read(vcpu: u32, off: u32) -> u64:
    return _bits_read(off, VGIC_BITS_SET_PENDING)


def _set_pending_write(vcpu: u32, off: u32, v: u64) -> None:
    _bits_write(off, VGIC_BITS_SET_PENDING, v)


def _clear_pending_write(vcpu: u32, off: u32, v: u64) -> None:
    _bits_write(off, VGIC_BITS_CLEAR_PENDING, v)


def _active_read(vcpu: u32, off: u32) -> u64:
    return _bits_read(off, VGIC_BITS_SET_ACTIVE)


def _set_active_write(vcpu: u32, off: u32, v: u64) -> None:
    _bits_write(off, VGIC_BITS_SET_ACTIVE, v)


def _clear_active_write(vcpu: u32, off: u32, v: u64) -> None:
    _bits_write(off, VGIC_BITS_CLEAR_ACTIVE, v)


# --- priorities (byte-accessible), configuration, routing ---------------------------------------------

def _prio_read(vcpu: u32, off: u32) -> u64:
    if off < VGIC_NR_PRIVATE:
        return u64(0)
    return vgic_bytes_read(u32(0), off, VGIC_BYTES_PRIORITY)


def _prio_write32(vcpu: u32, off: u32, v: u64) -> None:
    if off >= VGIC_NR_PRIVATE:
        vgic_bytes_write(u32(0), off, VGIC_BYTES_PRIORITY, v, u32(4))


def _prio_write8(vcpu: u32, off: u32, v: u64) -> None:
    if off >= VGIC_NR_PRIVATE:
        vgic_bytes_write(u32(0), off, VGIC_BYTES_PRIORITY, v, u32(1))


def _cfg_read(vcpu: u32, off: u32) -> u64:
    first = off // 4 * 16
    if first < VGIC_NR_PRIVATE:
        return u64(0)
    return u64(vgic_cfg_read(u32(0), first))


def _cfg_write(vcpu: u32, off: u32, v: u64) -> None:
    first = off // 4 * 16
    if first >= VGIC_NR_PRIVATE:
        vgic_cfg_write(u32(0), first, u32(v))


def _router_read(vcpu: u32, off: u32) -> u64:
    return vgic_route_read(off // 8)


def _router_write(vcpu: u32, off: u32, v: u64) -> None:
    vgic_route_write(off // 8, v)


# Byte-accessible registers have a 32-bit row and a byte row over the same offsets: the access width
# picks the row (pyhv/core/mmio.py keeps searching when a row does not allow the width).
VGICV3_DIST_ROWS: Final = (
    RegRow(offset=u32(0x0000), size_bytes=u32(4), widths=MMIO_W32, read=_ctlr_read, write=_ctlr_write),
    RegRow(offset=u32(0x0004), size_bytes=u32(4), widths=MMIO_W32, read=_typer_read, write=_typer_write),
    RegRow(offset=u32(0x0008), size_bytes=u32(4), widths=MMIO_W32, read=_iidr_read, write=_iidr_write),
    RegRow(offset=u32(0x000C), size_bytes=u32(4), widths=MMIO_W32, read=_typer2_read, write=_typer2_write),
    RegRow(offset=u32(0x0080), size_bytes=u32(0x80), widths=MMIO_W32, read=_group_read, write=_group_write),
    RegRow(offset=u32(0x0100), size_bytes=u32(0x80), widths=MMIO_W32, read=_enable_read,
           write=_set_enable_write),
    RegRow(offset=u32(0x0180), size_bytes=u32(0x80), widths=MMIO_W32, read=_enable_read,
           write=_clear_enable_write),
    RegRow(offset=u32(0x0200), size_bytes=u32(0x80), widths=MMIO_W32, read=_pending_read,
           write=_set_pending_write),
    RegRow(offset=u32(0x0280), size_bytes=u32(0x80), widths=MMIO_W32, read=_pending_read,
           write=_clear_pending_write),
    RegRow(offset=u32(0x0300), size_bytes=u32(0x80), widths=MMIO_W32, read=_active_read,
           write=_set_active_write),
    RegRow(offset=u32(0x0380), size_bytes=u32(0x80), widths=MMIO_W32, read=_active_read,
           write=_clear_active_write),
    RegRow(offset=u32(0x0400), size_bytes=u32(0x3FC), widths=MMIO_W32, read=_prio_read, write=_prio_write32),
    RegRow(offset=u32(0x0400), size_bytes=u32(0x3FC), widths=MMIO_W8, read=_prio_read, write=_prio_write8),
    RegRow(offset=u32(0x0C00), size_bytes=u32(0x100), widths=MMIO_W32, read=_cfg_read, write=_cfg_write),
    RegRow(offset=u32(0x6000), size_bytes=u32(0x1FE0), widths=MMIO_W64, read=_router_read,
           write=_router_write),
    RegRow(offset=u32(0xFFE8), size_bytes=u32(4), widths=MMIO_W32, read=_pidr2_read, write=_pidr2_write),
)


def _row_count() -> u32:
    return u32(len(VGICV3_DIST_ROWS))


def _row(i: u32) -> RegRow:
    return VGICV3_DIST_ROWS[i]


VGICV3_DIST_DEVICE: Final = MmioDevice(row_count=_row_count, row=_row)
