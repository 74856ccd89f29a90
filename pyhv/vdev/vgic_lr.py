# List registers: moving interrupts between the vGIC model (pyhv/vdev/vgic.py) and the hardware virtual
# CPU interface (ARM IHI 0069H §6 "Virtual interrupt handling and prioritization", IHI 0048B §5).
#
#   guest exit  -> vgic_sync_from_lrs(vcpu): read back every LR filled at the last flush, fold its state
#                  into the VIrq (acked -> active, EOI'd -> gone, still pending -> pending), then prune the
#                  vCPU's pending list (drop what is no longer pending/active, move re-routed interrupts)
#   guest entry <- vgic_flush_to_lrs(vcpu): highest priority first into the LRs; if more are queued than
#                  there are LRs, set the underflow maintenance interrupt (ICH_HCR_EL2.UIE / GICH_HCR.UIE)
#                  so the guest exits once the LRs drain and the rest follow
#
# Locking (pyhv/vdev/vgic.py "Locking"): sync and flush of a vCPU take only that vCPU's lock and, one at a
# time, the locks of the interrupts on its list; the LRs are accessed with no lock held. An interrupt
# re-routed to another vCPU is taken off this list under this vCPU's lock and queued on the other one
# after it is released (vgic_queue), so no path holds two vCPU locks.
#
# Every LR is rewritten at every flush (KVM does the same): the model, not the LRs, is the truth between
# exits. The hardware access goes through one `LrOps` table: pyhv/vdev/vgic_lr_v3.py (ICH_* system
# registers) or pyhv/vdev/vgic_lr_v2.py (GICH MMIO frame). Both encode the neutral `LrState` record.
#
# Level-sensitive software interrupts carry the LR EOI bit, so the guest's EOI raises a maintenance
# interrupt and the line is re-sampled at the next sync instead of waiting for an unrelated exit.
# Hardware-linked interrupts (the virtual timer, PPI 27 -> physical PPI 27) carry HW=1: the guest's
# deactivation deactivates the physical interrupt; the host's IRQ path must only drop its priority
# (EOImode = 1) and leave it active until then.

from typing import Annotated, Callable, Final

from pyhv.lang import Array, Ops, OpsSlot, Struct, range, struct_zero, u8, u16, u32, u64

from pyhv.vdev.vgic import (
    VGIC_MAX_LRS, VGIC_NO_VCPU, VGIC_NOT_IN_LR, VIrq, vgic_deliverable, vgic_irq, vgic_kick,
    vgic_list_sort_locked, vgic_list_take_locked, vgic_queue, vgic_should_queue, vgic_state,
    vgic_target,
)

LR_STATE_INVALID: Final = u8(0)
LR_STATE_PENDING: Final = u8(1)
LR_STATE_ACTIVE: Final = u8(2)
LR_STATE_PENDING_ACTIVE: Final = u8(3)


class LrState(Struct):
    vintid: u32             # virtual INTID the guest acknowledges
    pintid: u32             # physical INTID (hw only)
    priority: u8            # full 8-bit priority (GICv2 keeps the top 5 bits)
    state: u8               # LR_STATE_*
    hw: bool                # deactivation is forwarded to the physical interrupt pintid
    group1: bool
    eoi_maint: bool         # (hw = False) maintenance interrupt when the guest EOIs it
    source: u8              # (GICv2 SGIs) source CPU the guest reads in GICC_IAR.CPUID


class LrBatch(Struct):
    lr: Annotated[Array[LrState], 16]       # VGIC_MAX_LRS values moved between the LRs and the model


class LrOps(Ops):
    nr_lrs: Callable[[], u32]                   # implemented list registers
    read_lr: Callable[[u32, LrState], None]     # (n, out)
    write_lr: Callable[[u32, LrState], None]    # (n, value); state INVALID frees the LR
    set_hcr: Callable[[bool], None]             # virtual CPU interface on; underflow interrupt on/off
    read_misr: Callable[[], u32]                # maintenance interrupt status
    reset: Callable[[], None]                   # per physical CPU: clear LRs, active priorities, VMCR


_lr: Final = OpsSlot(LrOps)


def vgic_set_lr_ops(ops: LrOps) -> None:
    _lr.set(ops)


def vgic_nr_lrs() -> u32:
    n = _lr.get().nr_lrs()
    return VGIC_MAX_LRS if n > VGIC_MAX_LRS else n


def vgic_cpu_init() -> None:
    # On every physical CPU before its first guest entry.
    ops = _lr.get()
    ops.reset()
    ops.set_hcr(False)


def _fold_locked(irq: VIrq, lr: LrState) -> None:
    # irq.lock held. Take back the state the guest left in the LR.
    pending = (lr.state & LR_STATE_PENDING) != 0
    irq.in_lr = VGIC_NOT_IN_LR
    irq.active = (lr.state & LR_STATE_ACTIVE) != 0
    if irq.hw_intid != 0:
        if not pending:
            # Acked by the guest: the physical interrupt is active (or already deactivated) and will
            # assert again by itself; nothing stays pending here.
            irq.pending_latch = False
            irq.line_level = False
    elif irq.level_sensitive:
        if not pending:
            irq.pending_latch = False   # a set-pending write is consumed by the acknowledge
    elif pending:
        irq.pending_latch = True        # not acknowledged yet: hand it over again at the next flush


class Requeue(Struct):
    intid: Annotated[Array[u16], 288]   # VGIC_AP_LIST_MAX: SPIs taken off a list to be queued elsewhere
    count: u32


def _prune_locked(vcpu: u32, out: Requeue) -> None:
    # vcpu's lock held. Drop interrupts that are neither pending nor active; take re-routed ones off the
    # list and record them in `out` (queued on their new target once the lock is released). Only SPIs
    # re-route: a private interrupt targets its owner, an active one the vCPU it is listed on.
    c = vgic_state().vcpus[vcpu]
    i = u32(0)
    while i < c.ap_count:
        irq = vgic_irq(vcpu, u32(c.ap_list[i]))
        keep = True
        with irq.lock:
            if not vgic_should_queue(irq):
                vgic_list_take_locked(vcpu, i, irq)
                keep = False
            elif vgic_target(irq) != vcpu:
                vgic_list_take_locked(vcpu, i, irq)
                out.intid[out.count] = irq.intid
                out.count += 1
                keep = False
        if keep:
            i += 1


def _kick_mask(kicks: u64) -> None:
    v = u32(0)
    while kicks != 0:
        if (kicks & 1) != 0:
            vgic_kick(v)
        kicks = kicks >> 1
        v += 1


def vgic_sync_from_lrs(vcpu: u32) -> None:
    # After a guest exit, on the physical CPU that ran `vcpu`. The LRs are read with no lock held: they
    # belong to this CPU alone, and under QEMU an ICH_* access can block on the emulator's global lock,
    # which must not happen while another CPU spins on a lock we hold. Then only this vCPU's lock (and
    # each listed interrupt's lock in turn) is taken.
    st = vgic_state()
    ops = _lr.get()
    batch = LrBatch()
    used = st.vcpus[vcpu].lr_used       # written only by this CPU (flush)
    for n in range(used):
        ops.read_lr(u32(n), batch.lr[n])
    moved = Requeue()
    c = st.vcpus[vcpu]
    with c.lock:
        for n in range(used):
            irq = vgic_irq(vcpu, u32(c.lr_intid[n]))
            with irq.lock:
                _fold_locked(irq, batch.lr[n])
        c.lr_used = u32(0)
        _prune_locked(vcpu, moved)
    kicks = u64(0)
    for k in range(moved.count):
        t = vgic_queue(vgic_irq(vcpu, u32(moved.intid[k])))
        if t != VGIC_NO_VCPU:
            kicks = kicks | (u64(1) << t)
    _kick_mask(kicks)


def _fill_lr(irq: VIrq, lr: LrState) -> None:
    # irq.lock held.
    struct_zero(lr)
    lr.vintid = u32(irq.intid)
    lr.priority = irq.priority
    lr.group1 = irq.group1
    pending = vgic_deliverable(irq)
    if irq.hw_intid != 0:
        # The GIC does not allow pending+active with HW=1; the physical side re-asserts after the
        # deactivation anyway.
        lr.hw = True
        lr.pintid = u32(irq.hw_intid)
        lr.state = LR_STATE_ACTIVE if irq.active else LR_STATE_PENDING
        return
    state = LR_STATE_INVALID
    if pending:
        state = state | LR_STATE_PENDING
        if irq.sgi_sources != 0:
            # GICv2 SGIs: one source is reported, the others coalesce into this delivery.
            src = u8(0)
            while ((irq.sgi_sources >> src) & 1) == 0:
                src += 1
            lr.source = src
            irq.sgi_sources = u8(0)
        if not irq.level_sensitive:
            irq.pending_latch = False   # the LR owns the edge now; sync hands it back if unacked
    if irq.active:
        state = state | LR_STATE_ACTIVE
    lr.state = state
    lr.eoi_maint = irq.level_sensitive


def vgic_flush_to_lrs(vcpu: u32) -> None:
    # Before entering the guest, on the physical CPU that runs `vcpu`. The LR values are chosen under this
    # vCPU's lock (and each interrupt's lock in turn) and written after it is released (see
    # vgic_sync_from_lrs).
    st = vgic_state()
    ops = _lr.get()
    batch = LrBatch()
    nr = vgic_nr_lrs()
    used = u32(0)
    underflow = False
    c = st.vcpus[vcpu]
    with c.lock:
        vgic_list_sort_locked(vcpu)
        queued = u32(0)
        for i in range(c.ap_count):
            irq = vgic_irq(vcpu, u32(c.ap_list[i]))
            with irq.lock:
                if vgic_should_queue(irq):
                    queued += 1
                    if used < nr:
                        _fill_lr(irq, batch.lr[used])
                        irq.in_lr = u8(used)
                        c.lr_intid[used] = irq.intid
                        used += 1
        c.lr_used = used
        c.underflow = queued > used
        underflow = c.underflow
    for n in range(nr):
        ops.write_lr(u32(n), batch.lr[n])   # entries >= used are still zero: invalid
    ops.set_hcr(underflow)


def vgic_maintenance(vcpu: u32) -> u32:
    # Host IRQ handler of the maintenance PPI 25 while `vcpu` runs here. The causes (underflow, EOI of a
    # level interrupt) are all resolved by the sync/flush of the exit path; here the underflow enable is
    # dropped so the level-triggered maintenance interrupt deasserts. Returns the status read.
    ops = _lr.get()
    misr = ops.read_misr()
    ops.set_hcr(False)
    vgic_state().vcpus[vcpu].maint_irqs += 1
    return misr


def vgic_vcpu_has_pending(vcpu: u32) -> bool:
    # For the WFI policy: is anything deliverable waiting for this vCPU (queued or in an LR)?
    st = vgic_state()
    c = st.vcpus[vcpu]
    found = False
    with c.lock:
        for i in range(c.ap_count):
            irq = vgic_irq(vcpu, u32(c.ap_list[i]))
            with irq.lock:
                if vgic_deliverable(irq) or irq.in_lr != VGIC_NOT_IN_LR:
                    found = True
    return found


def vgic_lr_intid(vcpu: u32, n: u32) -> u32:
    # INTID placed in LR n at the last flush (tests, statistics).
    return u32(vgic_state().vcpus[vcpu].lr_intid[n])


def vgic_lr_used(vcpu: u32) -> u32:
    return vgic_state().vcpus[vcpu].lr_used


def vgic_underflow(vcpu: u32) -> bool:
    return vgic_state().vcpus[vcpu].underflow

