# The virtual GIC model shared by the GICv2 and GICv3 front ends (ARM IHI 0069H §1.2, §4 "Physical
# interrupt handling and prioritization"; IHI 0048B §3). KVM-style: one `VIrq` record per interrupt,
# private interrupts (SGI 0-15, PPI 16-31) per vCPU, SPIs shared; a per-vCPU pending list ("ap list":
# pending-or-active interrupts routed to that vCPU) that pyhv/vdev/vgic_lr.py turns into list registers;
# ONE function, `vgic_target`, decides where an interrupt goes.
#
#   VgicState (one per VM, Static)
#     spis[0 .. nr_spis)           VIrq for INTID 32 + i
#     vcpus[v].private[0 .. 32)    VIrq for SGI/PPI INTID i of vCPU v
#     vcpus[v].ap_list[0 .. ap_count)  INTIDs queued on vCPU v, sorted at flush (active, priority, INTID)
#
# Pending state: `pending_latch` (an edge, or a write to ISPENDR) OR (level-sensitive AND `line_level`).
# An edge latch moves into a list register at flush and comes back only if the LR is still pending at
# sync (KVM's rule), so an edge raised while the old one sits in an LR is not lost; vgic_queue kicks the
# vCPU holding that LR so the new edge reaches it at once (the guest's WFI is not trapped).
#
# Locking (KVM's scheme; no VM-wide lock, so an exit/entry of one vCPU never waits for another vCPU):
#
#   VgicCpu.lock (one per vCPU)  guards that vCPU's ap_list / ap_count and the `list_vcpu` field of the
#                                interrupts on it (the LR shadow lr_intid / lr_used / underflow is written
#                                only by the physical CPU running the vCPU, at flush, under this lock).
#   VIrq.lock (one per record)   guards the record's state: pending, active, enabled, priority, routing,
#                                configuration, in_lr, sgi_sources. `list_vcpu` is written only with BOTH
#                                the list's vCPU lock and the record's lock held, so either lock is enough
#                                to read it stably.
#
# LOCK ORDER: a vCPU lock before an IRQ lock, never the other way round. At most one IRQ lock is held at a
# time. No path holds two vCPU locks (a re-routed interrupt is taken off one list, the lock dropped, and
# queued again); should one ever need two, the lower vCPU index goes first. No other lock is taken while
# a vGIC lock is held, and the kick hook runs with none held.
#
# Queueing (`vgic_queue`): read the target under the IRQ lock, drop it, take the target's vCPU lock, retake
# the IRQ lock and check that the interrupt is still unlisted, still queueable and still routed there;
# otherwise start again (the interrupt was re-routed or queued by another CPU in between). Every writer of
# interrupt state calls vgic_queue after releasing the IRQ lock, so a change made while another CPU held
# the record cannot be left unqueued. Read-mostly VM fields (version, nr_vcpus, nr_spis, mpidr) are set
# before any vCPU runs; grp_enable is one aligned word, read without a lock, whose writer re-queues every
# interrupt after the store. `_..._locked` helpers say in their comment which locks they expect.

from typing import Annotated, Callable, Final

from pyhv.lang import range, Array, Ops, OpsSlot, SpinLock, Static, Struct, kprint, u8, u16, u32, u64

VGIC_MAX_VCPUS: Final = u32(64)     # vcpus[] length below (GICv3; a GICv2 VM has at most 8)
VGIC_MAX_SPIS: Final = u32(256)     # spis[] length below: INTIDs 32 .. 287
VGIC_NR_PRIVATE: Final = u32(32)    # SGIs 0-15 + PPIs 16-31, banked per vCPU
VGIC_NR_SGIS: Final = u32(16)
VGIC_AP_LIST_MAX: Final = u32(288)  # VGIC_NR_PRIVATE + VGIC_MAX_SPIS: every interrupt could target one vCPU
VGIC_MAX_LRS: Final = u32(16)       # ICH_VTR_EL2.ListRegs is 4 bits; GICv2 LRs used are capped here too
VGIC_NO_VCPU: Final = u32(0xFFFF)   # "no vCPU" (no target, not on any list)
VGIC_NOT_IN_LR: Final = u8(0xFF)
VGIC_VTIMER_PPI: Final = u32(27)    # CNTV: virtual timer, hw-linked to the physical PPI 27
VGIC_MAINT_PPI: Final = u32(25)     # maintenance interrupt of the GIC virtualization extensions

VGIC_GRP0_ENABLE: Final = u32(1 << 0)   # GICD_CTLR.EnableGrp0 (both versions, no security extensions)
VGIC_GRP1_ENABLE: Final = u32(1 << 1)   # GICD_CTLR.EnableGrp1

VGIC_OK: Final = u32(0)
VGIC_ERR_VERSION: Final = u32(1)        # not GICv2 or GICv3
VGIC_ERR_TOO_MANY_VCPUS: Final = u32(2)  # GICv2: > 8, GICv3: > VGIC_MAX_VCPUS
VGIC_ERR_NO_VCPUS: Final = u32(3)
VGIC_GICV2_MAX_VCPUS: Final = u32(8)    # GICD_ITARGETSR has 8 bits: a GICv2 addresses 8 CPU interfaces


class VIrq(Struct):
    lock: SpinLock          # see "Locking" above
    route_mpidr: u64        # GICv3 GICD_IROUTER: Aff3 [39:32], Aff2 [23:16], Aff1 [15:8], Aff0 [7:0]
    intid: u16
    hw_intid: u16           # physical INTID this one is linked to (HW bit in the LR), 0 = software only
    owner: u16              # private interrupts: the vCPU they belong to; SPIs: VGIC_NO_VCPU
    list_vcpu: u16          # vCPU whose ap_list holds this interrupt, VGIC_NO_VCPU if none
    priority: u8            # 0 = most urgent
    targets: u8             # GICv2 GICD_ITARGETSR: one bit per CPU interface
    sgi_sources: u8         # GICv2 SGIs: source CPUs of the pending SGI (GICD_SPENDSGIR)
    in_lr: u8               # list register holding it while the vCPU runs, VGIC_NOT_IN_LR
    enabled: bool
    pending_latch: bool     # edge seen / set-pending written, not yet handed to an LR
    active: bool
    level_sensitive: bool   # GICD_ICFGR: False = edge
    group1: bool
    line_level: bool        # input line of a level-sensitive interrupt


class VgicCpu(Struct):
    lock: SpinLock          # see "Locking" above
    mpidr: u64              # the vCPU's MPIDR_EL1 (affinity routing, GICR_TYPER)
    private: Annotated[Array[VIrq], 32]
    ap_list: Annotated[Array[u16], 288]
    ap_count: u32
    lr_intid: Annotated[Array[u16], 16]     # INTID in LR n for n < lr_used (filled at flush)
    lr_used: u32
    underflow: bool         # more queued than LRs at the last flush: UIE was set
    maint_irqs: u32         # maintenance interrupts taken


class VgicState(Struct):
    version: u32            # 2 or 3
    nr_vcpus: u32           # possible vCPUs (absent ones keep their state, they never run)
    nr_spis: u32            # a multiple of 32
    grp_enable: u32         # VGIC_GRP0_ENABLE | VGIC_GRP1_ENABLE (GICD_CTLR)
    spi_forward: bool       # this node holds the distributor of a VM spanning nodes (vgic_set_remote_ops)
    ro_writes: u32          # guest writes to read-only registers, ignored
    spis: Annotated[Array[VIrq], 256]
    vcpus: Annotated[Array[VgicCpu], 64]


class VgicHostOps(Ops):
    kick: Callable[[u32], None]   # (vcpu) make that vCPU exit the guest soon so it flushes its LRs


class VgicRemoteOps(Ops):
    # (SPI record) its state changed: if its target vCPU is on another node, send it there and say True
    # (pyhv/vdev/vgic_remote.py; docs/cluster-vm.md "Interrupts"). Called with no vGIC lock held.
    spi_update: Callable[[VIrq], bool]


_vgic: Final = Static(VgicState)
_host: Final = OpsSlot(VgicHostOps)
_remote: Final = OpsSlot(VgicRemoteOps)


def _no_kick(vcpu: u32) -> None:
    pass


VGIC_NO_KICK_OPS: Final = VgicHostOps(kick=_no_kick)


def vgic_state() -> VgicState:
    return _vgic.get()


def vgic_set_host_ops(ops: VgicHostOps) -> None:
    _host.set(ops)


def vgic_set_remote_ops(ops: VgicRemoteOps) -> None:
    # The distributor's node of a VM spanning nodes: SPIs routed to remote vCPUs go through `ops`.
    _remote.set(ops)
    _vgic.get().spi_forward = True


def vgic_validate(nr_vcpus: u32, version: u32) -> u32:
    # For vmconfig_validate: can this GIC version present nr_vcpus CPU interfaces?
    if version != 2 and version != 3:
        kprint("vgic: GIC version %u is not supported (2 or 3)\n", version)
        return VGIC_ERR_VERSION
    if nr_vcpus == 0:
        kprint("vgic: a VM needs at least one vCPU\n")
        return VGIC_ERR_NO_VCPUS
    if version == 2 and nr_vcpus > VGIC_GICV2_MAX_VCPUS:
        kprint("vgic: GICv2 addresses at most 8 vCPUs (asked for %u)\n", nr_vcpus)
        return VGIC_ERR_TOO_MANY_VCPUS
    if nr_vcpus > VGIC_MAX_VCPUS:
        kprint("vgic: at most %u vCPUs (asked for %u)\n", VGIC_MAX_VCPUS, nr_vcpus)
        return VGIC_ERR_TOO_MANY_VCPUS
    return VGIC_OK


def _reset_irq(irq: VIrq, intid: u32, owner: u32, version: u32) -> None:
    irq.intid = u16(intid)
    irq.owner = u16(owner)
    irq.list_vcpu = u16(VGIC_NO_VCPU)
    irq.in_lr = VGIC_NOT_IN_LR
    irq.hw_intid = u16(0)
    irq.priority = u8(0)
    irq.targets = u8(0)
    irq.sgi_sources = u8(0)
    irq.route_mpidr = u64(0)
    irq.pending_latch = False
    irq.active = False
    irq.line_level = False
    irq.group1 = version == 3       # Linux's GICv3 driver uses group 1; GICv2 guests use group 0
    # SGIs are edge-only; PPIs and SPIs reset level-sensitive (the guest rewrites GICD_ICFGR).
    irq.level_sensitive = intid >= VGIC_NR_SGIS
    # GICv2 SGI enables are RAO in many implementations and Linux assumes they are on.
    irq.enabled = version == 2 and intid < VGIC_NR_SGIS


def vgic_init(version: u32, nr_vcpus: u32, nr_spis: u32) -> u32:
    # Reset the VM's vGIC. nr_spis is rounded up to a multiple of 32 (GICD_TYPER.ITLinesNumber).
    err = vgic_validate(nr_vcpus, version)
    if err != VGIC_OK:
        return err
    spis = (nr_spis + 31) // 32 * 32
    if spis > VGIC_MAX_SPIS:
        spis = VGIC_MAX_SPIS
    st = _vgic.get()
    st.version = version
    st.nr_vcpus = nr_vcpus
    st.nr_spis = spis
    st.grp_enable = u32(0)
    st.spi_forward = False
    st.ro_writes = u32(0)
    for i in range(spis):
        _reset_irq(st.spis[i], u32(i) + VGIC_NR_PRIVATE, VGIC_NO_VCPU, version)
    for v in range(nr_vcpus):
        c = st.vcpus[v]
        c.mpidr = u64(v)
        c.ap_count = u32(0)
        c.lr_used = u32(0)
        c.underflow = False
        c.maint_irqs = u32(0)
        for n in range(VGIC_NR_PRIVATE):
            _reset_irq(c.private[n], u32(n), u32(v), version)
        c.private[VGIC_VTIMER_PPI].hw_intid = u16(VGIC_VTIMER_PPI)
    _host.set(VGIC_NO_KICK_OPS)     # install the real kick with vgic_set_host_ops after init
    return VGIC_OK


def vgic_set_vcpu_mpidr(vcpu: u32, mpidr: u64) -> None:
    # MPIDR affinity of a vCPU (VmConfig: Aff1 = node, Aff0 = CPU on the node). Default: Aff0 = vcpu.
    if vcpu < _vgic.get().nr_vcpus:
        _vgic.get().vcpus[vcpu].mpidr = mpidr & 0xFF00FFFFFF


def vgic_valid_intid(vcpu: u32, intid: u32) -> bool:
    st = _vgic.get()
    if vcpu >= st.nr_vcpus:
        return False
    return intid < VGIC_NR_PRIVATE + st.nr_spis


def vgic_irq(vcpu: u32, intid: u32) -> VIrq:
    # The record of `intid` as seen by `vcpu` (private interrupts are banked). Callers check validity.
    st = _vgic.get()
    if intid < VGIC_NR_PRIVATE:
        return st.vcpus[vcpu].private[intid]
    return st.spis[intid - VGIC_NR_PRIVATE]


def vgic_is_pending(irq: VIrq) -> bool:
    return irq.pending_latch or (irq.level_sensitive and irq.line_level)


def vgic_vcpu_by_mpidr(mpidr: u64) -> u32:
    st = _vgic.get()
    want = mpidr & 0xFF00FFFFFF
    for v in range(st.nr_vcpus):
        if st.vcpus[v].mpidr == want:
            return u32(v)
    return VGIC_NO_VCPU


def vgic_target(irq: VIrq) -> u32:
    # THE routing decision. An active interrupt stays with the vCPU that has it active (only that vCPU
    # can deactivate it); otherwise private -> owner, GICv3 SPI -> IROUTER affinity, GICv2 SPI -> lowest
    # CPU in ITARGETSR. VGIC_NO_VCPU when nothing matches (it stays pending in the distributor).
    if irq.active and u32(irq.list_vcpu) != VGIC_NO_VCPU:
        return u32(irq.list_vcpu)
    if u32(irq.owner) != VGIC_NO_VCPU:
        return u32(irq.owner)
    st = _vgic.get()
    if st.version == 3:
        return vgic_vcpu_by_mpidr(irq.route_mpidr)
    for v in range(st.nr_vcpus):
        if ((irq.targets >> v) & 1) != 0:
            return u32(v)
    return VGIC_NO_VCPU


def _group_enabled(irq: VIrq) -> bool:
    bit = VGIC_GRP1_ENABLE if irq.group1 else VGIC_GRP0_ENABLE
    return (_vgic.get().grp_enable & bit) != 0


def vgic_deliverable(irq: VIrq) -> bool:
    # Pending, enabled, and its group enabled in GICD_CTLR: the guest may be signalled.
    return vgic_is_pending(irq) and irq.enabled and _group_enabled(irq)


def vgic_should_queue(irq: VIrq) -> bool:
    # Does the interrupt belong on a pending list: deliverable, or active (it must reach an LR to be
    # deactivated)?
    return irq.active or vgic_deliverable(irq)


def _list_remove_locked(c: VgicCpu, pos: u32) -> None:
    # c.lock held.
    i = pos
    while i + 1 < c.ap_count:
        c.ap_list[i] = c.ap_list[i + 1]
        i += 1
    c.ap_count -= 1


def _list_append_locked(vcpu: u32, c: VgicCpu, irq: VIrq) -> None:
    # c.lock and irq.lock held. Every interrupt is on at most one list and the list holds every interrupt
    # that can target the vCPU, so it cannot overflow. The flush sorts (vgic_list_sort_locked).
    assert c.ap_count < VGIC_AP_LIST_MAX
    c.ap_list[c.ap_count] = irq.intid
    c.ap_count += 1
    irq.list_vcpu = u16(vcpu)


def vgic_queue(irq: VIrq) -> u32:
    # Put the interrupt on its target's list if it is queueable and on no list. Takes the target's vCPU
    # lock and the IRQ lock (neither may be held by the caller). Returns the vCPU to kick, VGIC_NO_VCPU if
    # none.
    st = _vgic.get()
    if st.spi_forward and u32(irq.owner) == VGIC_NO_VCPU and _remote.get().spi_update(irq):
        return VGIC_NO_VCPU             # its target runs on another node: sent there
    kick = VGIC_NO_VCPU
    done = False
    while not done:
        target = VGIC_NO_VCPU
        with irq.lock:
            listed = u32(irq.list_vcpu)
            if listed == VGIC_NO_VCPU:
                if vgic_should_queue(irq):
                    target = vgic_target(irq)
            elif vgic_deliverable(irq):
                # Already listed on `listed` and deliverable again (e.g. an SGI re-sent while the last one
                # sits in an LR, perhaps acked already): the LRs do not carry the new state, and a guest
                # idling in WFI (not trapped) would not exit for it. Only an exit (sync, flush) shows it.
                kick = listed
        if target == VGIC_NO_VCPU:
            done = True
        else:
            c = st.vcpus[target]
            with c.lock:
                with irq.lock:
                    if u32(irq.list_vcpu) != VGIC_NO_VCPU or not vgic_should_queue(irq):
                        done = True         # queued by another CPU meanwhile, or no longer needed
                    elif vgic_target(irq) == target:
                        _list_append_locked(target, c, irq)
                        kick = target
                        done = True
                    # else: re-routed meanwhile; look again
    return kick


def vgic_list_take_locked(vcpu: u32, pos: u32, irq: VIrq) -> None:
    # Remove entry `pos` (holding `irq`) of vcpu's list; vcpu's lock and irq.lock held.
    irq.list_vcpu = u16(VGIC_NO_VCPU)
    _list_remove_locked(_vgic.get().vcpus[vcpu], pos)


def _sort_key(irq: VIrq) -> u32:
    # Pending-list order as one number (smaller first): active first, then priority, then INTID.
    k = (u32(irq.priority) << 16) | u32(irq.intid)
    if not irq.active:
        k = k | (u32(1) << 24)
    return k


def vgic_list_sort_locked(vcpu: u32) -> None:
    # vcpu's lock held (no IRQ lock). Insertion sort on keys read under each IRQ's lock in turn
    # (priorities may have changed since the interrupts were queued).
    c = _vgic.get().vcpus[vcpu]
    keys = Array(u32, 288)
    for i in range(c.ap_count):
        irq = vgic_irq(vcpu, u32(c.ap_list[i]))
        with irq.lock:
            keys[i] = _sort_key(irq)
    for i in range(u32(1), c.ap_count):
        key = keys[i]
        intid = c.ap_list[i]
        j = i
        while j > 0 and key < keys[j - 1]:
            keys[j] = keys[j - 1]
            c.ap_list[j] = c.ap_list[j - 1]
            j -= 1
        keys[j] = key
        c.ap_list[j] = intid


def vgic_kick(vcpu: u32) -> None:
    if vcpu != VGIC_NO_VCPU:
        _host.get().kick(vcpu)


def _edge_or_level_locked(irq: VIrq, level: bool) -> None:
    # irq.lock held.
    # An edge-triggered interrupt latches on every assertion; a level one follows its line.
    if irq.level_sensitive:
        irq.line_level = level
    elif level:
        irq.pending_latch = True


def vgic_inject(vcpu: u32, intid: u32, level: bool) -> bool:
    # Raise (level True) or lower a device line. Private INTIDs are vcpu's; for SPIs vcpu is ignored
    # beyond validation. Returns False for an INTID the VM does not have.
    if not vgic_valid_intid(vcpu if intid < VGIC_NR_PRIVATE else u32(0), intid):
        return False
    irq = vgic_irq(vcpu, intid)
    with irq.lock:
        _edge_or_level_locked(irq, level)
    vgic_kick(vgic_queue(irq))
    return True


def vgic_send_sgi(src: u32, dst: u32, intid: u32) -> bool:
    # SGI `intid` (0-15) from vCPU src to vCPU dst (ICC_SGI1R_EL1 / GICD_SGIR).
    st = _vgic.get()
    if intid >= VGIC_NR_SGIS or dst >= st.nr_vcpus or src >= st.nr_vcpus:
        return False
    irq = st.vcpus[dst].private[intid]
    with irq.lock:
        irq.pending_latch = True
        irq.sgi_sources = irq.sgi_sources | (u8(1) << (src & 7))
    vgic_kick(vgic_queue(irq))
    return True


def vgic_note_ro_write(what: str, offset: u32) -> None:
    # A guest wrote a read-only register: ignore it, count it, warn on the 1st, 2nd, 4th, 8th ... time.
    st = _vgic.get()
    st.ro_writes += 1
    if (st.ro_writes & (st.ro_writes - 1)) == 0:
        kprint("vgic: guest wrote read-only %s at offset %x (ignored, %u so far)\n", what, offset,
               st.ro_writes)
