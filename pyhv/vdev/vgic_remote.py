# The vGIC of a VM spanning nodes (docs/cluster-vm.md "Interrupts"): SGIs for vCPUs of other nodes, SPIs
# whose distributor (node 0) routes them to a vCPU elsewhere, and the distributor's group enables, which
# every node's vGIC needs (ARM IHI 0069H §12.9.4 GICD_CTLR, §12.2 ICC_SGI1R_EL1; IHI 0048B §4.3.15
# GICD_SGIR, §4.3.12 GICD_ITARGETSR).
#
# SGIs: the sender's node splits the target set by node; its own targets are raised at once, every other
# node gets ONE MSG_SGI (source, INTID, group, target mask), whose handler raises them in its vGIC and
# kicks the targets (the vGIC's kick hook: a physical SGI). The group check of ICC_SGI*R (the SGI is
# raised only if the target configured it in that register's group) is made where the target's
# redistributor state lives: on the target's node.
#
# SPIs: node 0 holds every SPI's distributor state (enable, priority, group, routing, the line and the
# edge latch). When an SPI whose target runs on another node changes (vgic_queue calls spi_update), node 0
# sends that node MSG_SPI with what its vGIC needs: INTID, vCPU, priority, group, trigger mode and whether
# the interrupt is asserted (pending, enabled and its group enabled). The target node keeps a SHADOW in its
# own record of the SPI (enabled, routed to that vCPU, level = asserted, or an edge latched) and delivers
# it through its list registers like a local one; acknowledge, EOI and deactivation happen there, in the
# hardware LRs. An edge is handed over: node 0 clears its latch when it sends it. A level interrupt's line
# stays on node 0: every change of "asserted" (the device lowered its line, the guest disabled it, or it
# was re-routed: then the old target is told "not asserted") is sent again, before anything else node 0
# sends that node (one in-order stream), so when the guest EOIs it on the target, the shadow re-samples
# the current line there and no message has to travel back.
#
# Locking: spi_update runs with no vGIC lock held; it reads and changes the record (and its forwarding
# entry, guarded by the same IRQ lock) under the IRQ lock and sends after releasing it.

from typing import Annotated, Final

from pyhv.lang import Array, Static, Struct, addr_of, range, struct_at, u8, u16, u32, u64

from pyhv.cluster.servicelock import service_send_any
from pyhv.cluster.wire import MAX_NODES, MSG_GICD_CTLR, MSG_SGI, MSG_SPI
from pyhv.core.remote_map import (
    REMOTE_DEVICE_OWNER, REMOTE_NO_NODE, remote_my_node, remote_node_is_peer, remote_vcpu_is_local,
    remote_vcpu_node,
)
from pyhv.vdev.vgic import (
    VGIC_MAX_SPIS, VGIC_NO_VCPU, VGIC_NR_PRIVATE, VGIC_NR_SGIS, VIrq, VgicRemoteOps, vgic_deliverable,
    vgic_kick, vgic_queue, vgic_send_sgi, vgic_set_remote_ops, vgic_state, vgic_target,
)
from pyhv.vdev.vgic_regs import vgic_ctlr_write

VGIC_SGI_GROUP0: Final = u32(0)         # ICC_SGI0R_EL1 / ICC_ASGI1R_EL1: raised if the target has it in group 0
VGIC_SGI_GROUP1: Final = u32(1)         # ICC_SGI1R_EL1
VGIC_SGI_ANY_GROUP: Final = u32(2)      # GICv2 GICD_SGIR (no security extensions: no group filter)

SGI_MSG_BYTES: Final = u32(24)
SPI_MSG_BYTES: Final = u32(16)
CTLR_MSG_BYTES: Final = u32(8)


class SgiMsg(Struct, packed=True):
    src: u32                # global vCPU that wrote the SGI register
    intid: u32              # 0..15
    group: u32              # VGIC_SGI_*
    pad: u32
    targets: u64            # global vCPUs (bit v), all on the receiving node


class SpiMsg(Struct, packed=True):
    intid: u32              # 32 ..
    vcpu: u32               # the global vCPU it is routed to (on the receiving node)
    priority: u8
    group1: u8
    level_sensitive: u8
    asserted: u8            # pending, enabled and its group enabled at the distributor
    pad: u32


class CtlrMsg(Struct, packed=True):
    grp_enable: u32         # VGIC_GRP0_ENABLE | VGIC_GRP1_ENABLE
    pad: u32


class SpiFwd(Struct):
    vcpu: u16               # the remote vCPU this SPI was last sent to, VGIC_NO_VCPU if none
    level: bool             # level-sensitive: "asserted" as last sent


class VgicRemote(Struct):
    sgis_sent: u64          # MSG_SGI messages sent
    sgis_raised: u64        # SGIs raised here for another node's sender
    spis_sent: u64
    spis_received: u64
    bad: u64                # malformed or misdirected messages, dropped
    fwd: Annotated[Array[SpiFwd], 256]      # VGIC_MAX_SPIS, guarded by the SPI's own lock


_rv: Final = Static(VgicRemote)


def vgic_remote_stats() -> VgicRemote:
    return _rv.get()


# --- SGIs ---------------------------------------------------------------------------------------------------

def _raise_local(src: u32, dst: u32, intid: u32, group: u32) -> u32:
    # Raise SGI `intid` on vCPU dst of this node if it takes it in `group`; 1 if raised.
    st = vgic_state()
    if dst >= st.nr_vcpus:
        return u32(0)
    if group != VGIC_SGI_ANY_GROUP and st.vcpus[dst].private[intid].group1 != (group == VGIC_SGI_GROUP1):
        return u32(0)
    return u32(1) if vgic_send_sgi(src, dst, intid) else u32(0)


def vgic_remote_send_sgis(src: u32, intid: u32, group: u32, targets: u64) -> u32:
    # SGI `intid` from vCPU src to every global vCPU in `targets`: this node's at once, one MSG_SGI per other
    # node. Returns the SGIs raised here plus the targets sent elsewhere.
    st = vgic_state()
    per_node = Array(u64, 16)           # MAX_NODES
    sent = u32(0)
    for v in range(u32(0), st.nr_vcpus):
        if ((targets >> v) & 1) == 0:
            continue
        node = remote_vcpu_node(v)
        if node == remote_my_node():
            sent += _raise_local(src, v, intid, group)
        elif node != REMOTE_NO_NODE and u32(node) < MAX_NODES:
            per_node[node] = per_node[node] | (u64(1) << v)
            sent += 1
    m = SgiMsg()
    m.src = src
    m.intid = intid
    m.group = group
    for n in range(u16(0), u16(MAX_NODES)):
        if per_node[n] != 0:
            m.targets = per_node[n]
            service_send_any(n, MSG_SGI, u8(0), u32(0), addr_of(m), SGI_MSG_BYTES)
            _rv.get().sgis_sent += 1
    return sent


def vgic_remote_sgi_handler(src_node: u16, req_id: u32, payload: u64, length: u32) -> None:
    m = struct_at(SgiMsg, payload)
    st = vgic_state()
    if m.intid >= VGIC_NR_SGIS or m.src >= st.nr_vcpus or m.group > VGIC_SGI_ANY_GROUP:
        _rv.get().bad += 1
        return
    for v in range(u32(0), st.nr_vcpus):
        if ((m.targets >> v) & 1) != 0:
            if remote_vcpu_is_local(v):
                _rv.get().sgis_raised += u64(_raise_local(m.src, v, m.intid, m.group))
            else:
                _rv.get().bad += 1


# --- SPIs: on the distributor's node ------------------------------------------------------------------------

class _SpiSend(Struct):
    msg: SpiMsg
    node: u16               # REMOTE_NO_NODE: nothing to send
    old: SpiMsg             # a withdrawal for the previous target
    old_node: u16


def _fill(m: SpiMsg, irq: VIrq, vcpu: u32, asserted: bool) -> None:
    # irq.lock held.
    m.intid = u32(irq.intid)
    m.vcpu = vcpu
    m.priority = irq.priority
    m.group1 = u8(1) if irq.group1 else u8(0)
    m.level_sensitive = u8(1) if irq.level_sensitive else u8(0)
    m.asserted = u8(1) if asserted else u8(0)


def _decide_locked(irq: VIrq, out: _SpiSend) -> bool:
    # irq.lock held. What the SPI's remote targets must learn; True if its target is on another node.
    fwd = _rv.get().fwd[u32(irq.intid) - VGIC_NR_PRIVATE]
    out.node = REMOTE_NO_NODE
    out.old_node = REMOTE_NO_NODE
    if u32(irq.list_vcpu) != VGIC_NO_VCPU:
        return False                    # listed on a vCPU of this node: the local flow owns it until pruned
    target = vgic_target(irq)
    remote = target != VGIC_NO_VCPU and not remote_vcpu_is_local(target)
    asserted = remote and vgic_deliverable(irq)
    old = u32(fwd.vcpu)
    if old != VGIC_NO_VCPU and old != target and fwd.level:
        _fill(out.old, irq, old, False)             # re-routed away while asserted: withdraw it there
        out.old_node = remote_vcpu_node(old)
    if not remote:
        fwd.vcpu = u16(VGIC_NO_VCPU)
        fwd.level = False
        return False
    if irq.level_sensitive:
        if asserted != fwd.level or old != target:
            _fill(out.msg, irq, target, asserted)
            out.node = remote_vcpu_node(target)
        fwd.level = asserted
    elif asserted:
        irq.pending_latch = False       # the edge is handed over to the target's node
        _fill(out.msg, irq, target, True)
        out.node = remote_vcpu_node(target)
        fwd.level = False
    fwd.vcpu = u16(target)
    return True


def _send_spi(node: u16, m: SpiMsg) -> None:
    if node != REMOTE_NO_NODE:
        service_send_any(node, MSG_SPI, u8(0), u32(0), addr_of(m), SPI_MSG_BYTES)
        _rv.get().spis_sent += 1


def _spi_update(irq: VIrq) -> bool:
    s = _SpiSend()
    with irq.lock:
        remote = _decide_locked(irq, s)
    _send_spi(s.old_node, s.old)
    _send_spi(s.node, s.msg)
    return remote


VGIC_REMOTE_OPS: Final = VgicRemoteOps(spi_update=_spi_update)


# --- SPIs: on the target's node -----------------------------------------------------------------------------

def vgic_remote_spi_handler(src_node: u16, req_id: u32, payload: u64, length: u32) -> None:
    # Apply the distributor's view of an SPI to this node's shadow record and deliver it.
    m = struct_at(SpiMsg, payload)
    st = vgic_state()
    if src_node != REMOTE_DEVICE_OWNER or m.intid < VGIC_NR_PRIVATE or m.intid - VGIC_NR_PRIVATE >= st.nr_spis \
            or m.vcpu >= st.nr_vcpus or not remote_vcpu_is_local(m.vcpu):
        _rv.get().bad += 1
        return
    _rv.get().spis_received += 1
    irq = st.spis[m.intid - VGIC_NR_PRIVATE]
    with irq.lock:
        irq.enabled = True              # the distributor only asserts what is enabled
        irq.priority = m.priority
        irq.group1 = m.group1 != 0
        irq.level_sensitive = m.level_sensitive != 0
        irq.route_mpidr = st.vcpus[m.vcpu].mpidr
        irq.targets = u8(1) << (m.vcpu & 7)
        if irq.level_sensitive:
            irq.line_level = m.asserted != 0
        elif m.asserted != 0:
            irq.pending_latch = True
    vgic_kick(vgic_queue(irq))


# --- the distributor's group enables --------------------------------------------------------------------------

def vgic_remote_ctlr_broadcast() -> None:
    # On the distributor's node after a GICD_CTLR write: every other node's vGIC gets the group enables
    # (its SGIs, PPIs and SPI shadows are deliverable only with them).
    m = CtlrMsg()
    m.grp_enable = vgic_state().grp_enable
    for n in range(u16(0), u16(MAX_NODES)):
        if remote_node_is_peer(u32(n)):
            service_send_any(n, MSG_GICD_CTLR, u8(0), u32(0), addr_of(m), CTLR_MSG_BYTES)


def vgic_remote_ctlr_handler(src_node: u16, req_id: u32, payload: u64, length: u32) -> None:
    if src_node != REMOTE_DEVICE_OWNER:
        _rv.get().bad += 1
        return
    vgic_ctlr_write(struct_at(CtlrMsg, payload).grp_enable)


def vgic_remote_init() -> None:
    # After vgic_init and remote_map_enable, on every node; the distributor's node forwards SPIs.
    st = _rv.get()
    for i in range(u32(0), VGIC_MAX_SPIS):
        st.fwd[i].vcpu = u16(VGIC_NO_VCPU)
        st.fwd[i].level = False
    if remote_my_node() == REMOTE_DEVICE_OWNER:
        vgic_set_remote_ops(VGIC_REMOTE_OPS)
