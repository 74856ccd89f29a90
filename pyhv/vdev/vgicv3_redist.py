# The GICv3 redistributors the guest sees (ARM IHI 0069H §12.10-12.11 "The GICR_* registers"): one
# RD_base + SGI_base frame pair (128 KiB) for EVERY possible vCPU, laid out back to back from the VM's
# GICR base; frame n belongs to vCPU n, GICR_TYPER carries its affinity and processor number, and the
# last frame has GICR_TYPER.Last set so Linux's scan stops there. No LPIs (GICR_CTLR, PROPBASER and
# PENDBASER are RAZ/WI; GICD_TYPER.LPIS = 0).
#
#   frame n = GICR base + n * 0x20000
#     RD_base  +0x0000 CTLR  +0x0004 IIDR  +0x0008 TYPER (64-bit)  +0x0014 WAKER  +0xFFE8 PIDR2
#     SGI_base +0x10080 IGROUPR0  +0x10100 ISENABLER0  +0x10180 ICENABLER0  +0x10200 ISPENDR0
#              +0x10280 ICPENDR0  +0x10300 ISACTIVER0  +0x10380 ICACTIVER0  +0x10400 IPRIORITYR0-7
#              +0x10C00 ICFGR0-1
#
# The MMIO region table sees one row covering all frames; it splits the offset into (frame, offset in
# frame) and looks the register up in VGICV3_REDIST_ROWS, the one register table of a frame, whose row
# functions receive the FRAME's vCPU (not the accessing one). 32- and 64-bit accesses everywhere; byte
# accesses only to IPRIORITYR0-7 (§12.11.20: "byte-accessible"; Linux and other guests set one PPI's
# priority with a byte store), through a second region row.

from collections.abc import Callable
from typing import Annotated, Final

from pyhv.lang import range, Array, Ops, Static, Struct, kprint, u32, u64

from pyhv.core.mmio import MMIO_W8, MMIO_W32, MMIO_W64, MmioDevice, RegRow, mmio_raz_read, mmio_wi_write
from pyhv.core.ratelimit import RateLimit, ratelimit_allow
from pyhv.drivers.gicv3 import (
    GICR_TYPER_LAST, GICR_WAKER_CHILDREN_ASLEEP, GICR_WAKER_PROCESSOR_SLEEP, gicv3_mpidr_affinity,
)
from pyhv.vdev.vgic import VGIC_MAX_VCPUS, vgic_note_ro_write, vgic_state
from pyhv.vdev.vgic_regs import (
    VGIC_BITS_CLEAR_ACTIVE, VGIC_BITS_CLEAR_ENABLE, VGIC_BITS_CLEAR_PENDING, VGIC_BITS_GROUP,
    VGIC_BITS_SET_ACTIVE, VGIC_BITS_SET_ENABLE, VGIC_BITS_SET_PENDING, VGIC_BYTES_PRIORITY, vgic_bits_read,
    vgic_bits_write, vgic_bytes_read, vgic_bytes_write, vgic_cfg_read, vgic_cfg_write,
)
from pyhv.vdev.vgicv3_dist import GICV3_PIDR2, VGIC_IIDR

GICR_FRAME_BYTES: Final = u32(0x20000)      # RD_base + SGI_base
GICR_SGI_OFFSET: Final = u32(0x10000)
GICR_TYPER_PROC_SHIFT: Final = u64(8)       # Processor_Number [23:8]
GICR_TYPER_AFF_SHIFT: Final = u64(32)       # Affinity_Value [63:32]
GICR_WARN_BURST: Final = u32(10)
GICR_IPRIORITYR: Final = u32(0x10400)       # IPRIORITYR0-7: one byte per SGI/PPI (32 bytes)
GICR_IPRIORITYR_BYTES: Final = u32(32)


class VgicV3Redist(Struct):
    awake: Annotated[Array[bool], 64]       # GICR_WAKER.ProcessorSleep == 0 (reset: asleep)
    unknown: u32                            # accesses to offsets no row covers
    warn: RateLimit


_redist: Final = Static(VgicV3Redist)


class FrameRow(Ops):
    # A register of one redistributor frame. Same fields as RegRow, but its own record type: the frame
    # dispatcher (itself a RegRow function) calls through these rows, and a distinct type keeps the
    # build's call graph (which bounds an ops call by every function stored in that record's field) free
    # of a false cycle through the dispatcher.
    offset: u32
    size_bytes: u32
    widths: u32
    read: Callable[[u32, u32], u64]         # (frame's vcpu, offset within the row) -> value
    write: Callable[[u32, u32, u64], None]


def vgicv3_redist_reset() -> None:
    st = _redist.get()
    for v in range(u32(0), VGIC_MAX_VCPUS):
        st.awake[v] = False


def vgicv3_gicr_typer(frame: u32) -> u64:
    st = vgic_state()
    t = (u64(gicv3_mpidr_affinity(st.vcpus[frame].mpidr)) << GICR_TYPER_AFF_SHIFT) \
        | (u64(frame) << GICR_TYPER_PROC_SHIFT)
    if frame + 1 == st.nr_vcpus:
        t = t | GICR_TYPER_LAST
    return t


def _iidr_read(frame: u32, off: u32) -> u64:
    return u64(VGIC_IIDR)


def _iidr_write(frame: u32, off: u32, v: u64) -> None:
    vgic_note_ro_write("GICR_IIDR", off)


def _typer_read(frame: u32, off: u32) -> u64:
    return vgicv3_gicr_typer(frame) >> (off * 8)      # off 4: the upper half of a 32-bit pair


def _typer_write(frame: u32, off: u32, v: u64) -> None:
    vgic_note_ro_write("GICR_TYPER", off)


def _waker_read(frame: u32, off: u32) -> u64:
    # ChildrenAsleep follows ProcessorSleep at once: there is no hardware to quiesce.
    if _redist.get().awake[frame]:
        return u64(0)
    return u64(GICR_WAKER_PROCESSOR_SLEEP | GICR_WAKER_CHILDREN_ASLEEP)


def _waker_write(frame: u32, off: u32, v: u64) -> None:
    _redist.get().awake[frame] = (u32(v) & GICR_WAKER_PROCESSOR_SLEEP) == 0


def _pidr2_read(frame: u32, off: u32) -> u64:
    return u64(GICV3_PIDR2)


def _pidr2_write(frame: u32, off: u32, v: u64) -> None:
    vgic_note_ro_write("GICR_PIDR2", off)


def _group_read(frame: u32, off: u32) -> u64:
    return u64(vgic_bits_read(frame, u32(0), VGIC_BITS_GROUP))


def _group_write(frame: u32, off: u32, v: u64) -> None:
    vgic_bits_write(frame, u32(0), VGIC_BITS_GROUP, u32(v))


def _enable_read(frame: u32, off: u32) -> u64:
    return u64(vgic_bits_read(frame, u32(0), VGIC_BITS_SET_ENABLE))


def _set_enable_write(frame: u32, off: u32, v: u64) -> None:
    vgic_bits_write(frame, u32(0), VGIC_BITS_SET_ENABLE, u32(v))


def _clear_enable_write(frame: u32, off: u32, v: u64) -> None:
    vgic_bits_write(frame, u32(0), VGIC_BITS_CLEAR_ENABLE, u32(v))


def _pending_read(frame: u32, off: u32) -> u64:
    return u64(vgic_bits_read(frame, u32(0), VGIC_BITS_SET_PENDING))


def _set_pending_write(frame: u32, off: u32, v: u64) -> None:
    vgic_bits_write(frame, u32(0), VGIC_BITS_SET_PENDING, u32(v))


def _clear_pending_write(frame: u32, off: u32, v: u64) -> None:
    vgic_bits_write(frame, u32(0), VGIC_BITS_CLEAR_PENDING, u32(v))


def _active_read(frame: u32, off: u32) -> u64:
    return u64(vgic_bits_read(frame, u32(0), VGIC_BITS_SET_ACTIVE))


def _set_active_write(frame: u32, off: u32, v: u64) -> None:
    vgic_bits_write(frame, u32(0), VGIC_BITS_SET_ACTIVE, u32(v))


def _clear_active_write(frame: u32, off: u32, v: u64) -> None:
    vgic_bits_write(frame, u32(0), VGIC_BITS_CLEAR_ACTIVE, u32(v))


def _prio_read(frame: u32, off: u32) -> u64:
    return vgic_bytes_read(frame, off, VGIC_BYTES_PRIORITY)


def _prio_write(frame: u32, off: u32, v: u64) -> None:
    vgic_bytes_write(frame, off, VGIC_BYTES_PRIORITY, v, u32(4))


def _cfg_read(frame: u32, off: u32) -> u64:
    return u64(vgic_cfg_read(frame, off // 4 * 16))


def _cfg_write(frame: u32, off: u32, v: u64) -> None:
    vgic_cfg_write(frame, off // 4 * 16, u32(v))


VGICV3_REDIST_ROWS: Final = (
    FrameRow(offset=u32(0x0000), size_bytes=u32(4), widths=MMIO_W32, read=mmio_raz_read, write=mmio_wi_write),
    FrameRow(offset=u32(0x0004), size_bytes=u32(4), widths=MMIO_W32, read=_iidr_read, write=_iidr_write),
    FrameRow(offset=u32(0x0008), size_bytes=u32(8), widths=MMIO_W32 | MMIO_W64, read=_typer_read,
           write=_typer_write),
    FrameRow(offset=u32(0x0010), size_bytes=u32(4), widths=MMIO_W32, read=mmio_raz_read, write=mmio_wi_write),
    FrameRow(offset=u32(0x0014), size_bytes=u32(4), widths=MMIO_W32, read=_waker_read, write=_waker_write),
    FrameRow(offset=u32(0x0070), size_bytes=u32(16), widths=MMIO_W32 | MMIO_W64, read=mmio_raz_read,
           write=mmio_wi_write),
    FrameRow(offset=u32(0xFFE8), size_bytes=u32(4), widths=MMIO_W32, read=_pidr2_read, write=_pidr2_write),
    FrameRow(offset=u32(0x10080), size_bytes=u32(4), widths=MMIO_W32, read=_group_read, write=_group_write),
    FrameRow(offset=u32(0x10100), size_bytes=u32(4), widths=MMIO_W32, read=_enable_read,
           write=_set_enable_write),
    FrameRow(offset=u32(0x10180), size_bytes=u32(4), widths=MMIO_W32, read=_enable_read,
           write=_clear_enable_write),
    FrameRow(offset=u32(0x10200), size_bytes=u32(4), widths=MMIO_W32, read=_pending_read,
           write=_set_pending_write),
    FrameRow(offset=u32(0x10280), size_bytes=u32(4), widths=MMIO_W32, read=_pending_read,
           write=_clear_pending_write),
    FrameRow(offset=u32(0x10300), size_bytes=u32(4), widths=MMIO_W32, read=_active_read,
           write=_set_active_write),
    FrameRow(offset=u32(0x10380), size_bytes=u32(4), widths=MMIO_W32, read=_active_read,
           write=_clear_active_write),
    FrameRow(offset=u32(0x10400), size_bytes=u32(32), widths=MMIO_W32, read=_prio_read, write=_prio_write),
    FrameRow(offset=u32(0x10C00), size_bytes=u32(8), widths=MMIO_W32, read=_cfg_read, write=_cfg_write),
)


def _find(off: u32) -> u32:
    # Index of the frame row containing `off`, len(VGICV3_REDIST_ROWS) if none.
    n = u32(len(VGICV3_REDIST_ROWS))
    for i in range(u32(0), n):
        row = VGICV3_REDIST_ROWS[i]
        if off >= row.offset and off - row.offset < row.size_bytes:
            return u32(i)
    return n


def _unknown(frame: u32, off: u32) -> None:
    st = _redist.get()
    st.unknown += 1
    if ratelimit_allow(st.warn, GICR_WARN_BURST):
        kprint("warning: vgic: GICR frame %u offset 0x%x: no such register, RAZ/WI\n", frame, off)


def _frames_read(vcpu: u32, off: u32) -> u64:
    frame = off // GICR_FRAME_BYTES
    inner = off % GICR_FRAME_BYTES
    i = _find(inner)
    if frame >= vgic_state().nr_vcpus or i == u32(len(VGICV3_REDIST_ROWS)):
        _unknown(frame, inner)
        return u64(0)
    row = VGICV3_REDIST_ROWS[i]
    return row.read(frame, inner - row.offset)


def _frames_write(vcpu: u32, off: u32, v: u64) -> None:
    frame = off // GICR_FRAME_BYTES
    inner = off % GICR_FRAME_BYTES
    i = _find(inner)
    if frame >= vgic_state().nr_vcpus or i == u32(len(VGICV3_REDIST_ROWS)):
        _unknown(frame, inner)
        return
    row = VGICV3_REDIST_ROWS[i]
    row.write(frame, inner - row.offset, v)


def _is_prio_byte(frame: u32, inner: u32) -> bool:
    return frame < vgic_state().nr_vcpus and inner >= GICR_IPRIORITYR and \
        inner < GICR_IPRIORITYR + GICR_IPRIORITYR_BYTES


def _frames_read8(vcpu: u32, off: u32) -> u64:
    # A byte access: only IPRIORITYR0-7 take them; anywhere else is an unknown register (RAZ, warned).
    frame = off // GICR_FRAME_BYTES
    inner = off % GICR_FRAME_BYTES
    if not _is_prio_byte(frame, inner):
        _unknown(frame, inner)
        return u64(0)
    return vgic_bytes_read(frame, inner - GICR_IPRIORITYR, VGIC_BYTES_PRIORITY) & 0xFF


def _frames_write8(vcpu: u32, off: u32, v: u64) -> None:
    frame = off // GICR_FRAME_BYTES
    inner = off % GICR_FRAME_BYTES
    if not _is_prio_byte(frame, inner):
        _unknown(frame, inner)
        return
    vgic_bytes_write(frame, inner - GICR_IPRIORITYR, VGIC_BYTES_PRIORITY, v, u32(1))


VGICV3_GICR_ROWS: Final = (
    RegRow(offset=u32(0), size_bytes=u32(0x800000), widths=MMIO_W32 | MMIO_W64, read=_frames_read,
           write=_frames_write),
    RegRow(offset=u32(0), size_bytes=u32(0x800000), widths=MMIO_W8, read=_frames_read8,
           write=_frames_write8),
)


def _row_count() -> u32:
    return u32(len(VGICV3_GICR_ROWS))


def _row(i: u32) -> RegRow:
    return VGICV3_GICR_ROWS[i]


VGICV3_REDIST_DEVICE: Final = MmioDevice(row_count=_row_count, row=_row)


def vgicv3_redist_unknown_count() -> u32:
    return _redist.get().unknown
