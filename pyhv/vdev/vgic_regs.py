# Register-bank semantics shared by the vGIC front ends (GICv2 GICD, GICv3 GICD and GICR SGI_base): the
# GIC lays every per-interrupt property out the same way in both versions (ARM IHI 0069H §12.9, IHI 0048B
# §4.3), so the front ends only compute which INTIDs a register covers and call these:
#
#   1 bit per INTID   IGROUPR, IS/ICENABLER, IS/ICPENDR, IS/ICACTIVER      vgic_bits_read / vgic_bits_write
#   8 bits per INTID  IPRIORITYR, ITARGETSR (byte-accessible)             vgic_bytes_read / vgic_bytes_write
#   2 bits per INTID  ICFGR (bit 1 of each pair: 1 = edge)                 vgic_cfg_read / vgic_cfg_write
#
# `vcpu` selects the bank of private interrupts (INTIDs 0-31); INTIDs the VM does not have read as zero
# and ignore writes. Every write re-queues what it made deliverable and kicks the target vCPUs.
#
# Locking (pyhv/vdev/vgic.py "Locking"): each interrupt is changed under its own lock, then queued with
# `vgic_queue` after that lock is released; reads take no lock (a register read is a snapshot anyway).

from typing import Final

from pyhv.lang import range, u8, u32, u64

from pyhv.vdev.vgic import (
    VGIC_GRP0_ENABLE, VGIC_GRP1_ENABLE, VGIC_NO_VCPU, VGIC_NOT_IN_LR, VGIC_NR_SGIS, VIrq, vgic_irq,
    vgic_is_pending, vgic_kick, vgic_queue, vgic_state, vgic_valid_intid,
)

VGIC_BITS_GROUP: Final = u32(0)         # IGROUPR: value written as is
VGIC_BITS_SET_ENABLE: Final = u32(1)    # write 1 to set
VGIC_BITS_CLEAR_ENABLE: Final = u32(2)  # write 1 to clear
VGIC_BITS_SET_PENDING: Final = u32(3)
VGIC_BITS_CLEAR_PENDING: Final = u32(4)
VGIC_BITS_SET_ACTIVE: Final = u32(5)
VGIC_BITS_CLEAR_ACTIVE: Final = u32(6)

VGIC_BYTES_PRIORITY: Final = u32(0)
VGIC_BYTES_TARGETS: Final = u32(1)


def _bit_of(irq: VIrq, kind: u32) -> bool:
    if kind == VGIC_BITS_GROUP:
        return irq.group1
    if kind == VGIC_BITS_SET_ENABLE or kind == VGIC_BITS_CLEAR_ENABLE:
        return irq.enabled
    if kind == VGIC_BITS_SET_PENDING or kind == VGIC_BITS_CLEAR_PENDING:
        # An edge handed to an LR of a running vCPU counts as pending until that vCPU syncs.
        return vgic_is_pending(irq) or (irq.in_lr != VGIC_NOT_IN_LR and not irq.active)
    return irq.active


def vgic_bits_read(vcpu: u32, first: u32, kind: u32) -> u32:
    v = u32(0)
    for i in range(u32(0), u32(32)):
        intid = first + u32(i)
        if vgic_valid_intid(vcpu, intid) and _bit_of(vgic_irq(vcpu, intid), kind):
            v = v | (u32(1) << u32(i))
    return v


def _apply_bit(irq: VIrq, kind: u32, on: bool, src: u32) -> None:
    # irq.lock held.
    if kind == VGIC_BITS_GROUP:
        irq.group1 = on
    elif not on:
        return
    elif kind == VGIC_BITS_SET_ENABLE:
        irq.enabled = True
    elif kind == VGIC_BITS_CLEAR_ENABLE:
        irq.enabled = False
    elif kind == VGIC_BITS_SET_PENDING:
        irq.pending_latch = True
        if u32(irq.intid) < VGIC_NR_SGIS:
            irq.sgi_sources = irq.sgi_sources | (u8(1) << (src & 7))
    elif kind == VGIC_BITS_CLEAR_PENDING:
        irq.pending_latch = False       # a level interrupt stays pending while its line is high
        irq.sgi_sources = u8(0)
    elif kind == VGIC_BITS_SET_ACTIVE:
        irq.active = True
    elif kind == VGIC_BITS_CLEAR_ACTIVE:
        irq.active = False


def _kick_all(kicks: u64) -> None:
    v = u32(0)
    while kicks != 0:
        if (kicks & 1) != 0:
            vgic_kick(v)
        kicks = kicks >> 1
        v += 1


def vgic_bits_write(vcpu: u32, first: u32, kind: u32, value: u32) -> None:
    kicks = u64(0)
    for i in range(u32(0), u32(32)):
        intid = first + u32(i)
        on = ((value >> u32(i)) & 1) != 0
        if vgic_valid_intid(vcpu, intid) and (on or kind == VGIC_BITS_GROUP):
            irq = vgic_irq(vcpu, intid)
            with irq.lock:
                _apply_bit(irq, kind, on, vcpu)
            t = vgic_queue(irq)
            if t != VGIC_NO_VCPU:
                kicks = kicks | (u64(1) << t)
    _kick_all(kicks)


def vgic_bytes_read(vcpu: u32, first: u32, kind: u32) -> u64:
    # 8 consecutive byte fields starting at INTID `first`, little-endian (the caller's access width
    # keeps as many as it reads).
    v = u64(0)
    for i in range(u32(0), u32(8)):
        intid = first + u32(i)
        if vgic_valid_intid(vcpu, intid):
            irq = vgic_irq(vcpu, intid)
            b = irq.priority if kind == VGIC_BYTES_PRIORITY else irq.targets
            v = v | (u64(b) << (u32(i) * 8))
    return v


def vgic_bytes_write(vcpu: u32, first: u32, kind: u32, value: u64, nbytes: u32) -> None:
    # GICv2 ITARGETSR: the caller passes the byte mask of implemented CPUs in the upper bits already
    # filtered; SGI/PPI targets are read-only (the front end does not call this for them).
    kicks = u64(0)
    for i in range(u32(0), nbytes):
        intid = first + u32(i)
        if vgic_valid_intid(vcpu, intid):
            irq = vgic_irq(vcpu, intid)
            b = u8(value >> (u32(i) * 8))
            with irq.lock:
                if kind == VGIC_BYTES_PRIORITY:
                    irq.priority = b
                else:
                    irq.targets = b
            t = vgic_queue(irq)
            if t != VGIC_NO_VCPU:
                kicks = kicks | (u64(1) << t)
    _kick_all(kicks)


def vgic_cfg_read(vcpu: u32, first: u32) -> u32:
    # 16 INTIDs, 2 bits each: 0b10 = edge-triggered, 0b00 = level-sensitive.
    v = u32(0)
    for i in range(u32(0), u32(16)):
        intid = first + u32(i)
        if vgic_valid_intid(vcpu, intid) and not vgic_irq(vcpu, intid).level_sensitive:
            v = v | (u32(2) << (u32(i) * 2))
    return v


def vgic_cfg_write(vcpu: u32, first: u32, value: u32) -> None:
    # SGIs are always edge-triggered (ICFGR0 is read-only).
    for i in range(u32(0), u32(16)):
        intid = first + u32(i)
        if intid >= VGIC_NR_SGIS and vgic_valid_intid(vcpu, intid):
            irq = vgic_irq(vcpu, intid)
            with irq.lock:
                irq.level_sensitive = ((value >> (u32(i) * 2)) & 2) == 0


def vgic_ctlr_read() -> u32:
    return vgic_state().grp_enable


def vgic_ctlr_write(grp_enable: u32) -> None:
    # GICD_CTLR group enables. Enabling a group makes its pending interrupts deliverable: re-queue them.
    # grp_enable is read without a lock (pyhv/vdev/vgic.py "Locking"): store it, then re-queue everything.
    st = vgic_state()
    kicks = u64(0)
    st.grp_enable = grp_enable & (VGIC_GRP0_ENABLE | VGIC_GRP1_ENABLE)
    for i in range(u32(0), st.nr_spis):
        t = vgic_queue(st.spis[i])
        if t != VGIC_NO_VCPU:
            kicks = kicks | (u64(1) << t)
    for v in range(u32(0), st.nr_vcpus):
        for n in range(u32(0), u32(32)):
            t = vgic_queue(st.vcpus[v].private[n])
            if t != VGIC_NO_VCPU:
                kicks = kicks | (u64(1) << t)
    _kick_all(kicks)


def vgic_route_read(intid: u32) -> u64:
    if intid < u32(32) or not vgic_valid_intid(u32(0), intid):
        return u64(0)
    return vgic_irq(u32(0), intid).route_mpidr


def vgic_route_write(intid: u32, mpidr: u64) -> None:
    # GICv3 GICD_IROUTER: Aff3.Aff2.Aff1.Aff0; IRM (bit 31, 1-of-N) is not implemented (GICD_TYPER.No1N)
    # and reads as zero.
    if intid < u32(32) or not vgic_valid_intid(u32(0), intid):
        return
    irq = vgic_irq(u32(0), intid)
    with irq.lock:
        irq.route_mpidr = mpidr & 0xFF00FFFFFF
    vgic_kick(vgic_queue(irq))

