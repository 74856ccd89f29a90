# The serving half of a VM spanning nodes (docs/cluster-vm.md): the message handlers that run a guest
# MMIO access for a vCPU of another node on this node's devices (the normal mmio_dispatch), answer a vPSCI
# question about one of this node's vCPUs (Arm DEN 0022 §5.6 CPU_ON, §5.9 AFFINITY_INFO), kick one of its
# vCPUs, and power the node off when the guest did (§5.10 SYSTEM_OFF, §5.11 SYSTEM_RESET). The waiting
# half (requests from a trapped vCPU) is pyhv/core/remote_call.py; the vGIC's messages are
# pyhv/vdev/vgic_remote.py.
#
# Handlers run from the receive path: they may send (their reply goes out on the same in-order stream
# after every message they sent before it), never wait. Exactly once: the reliable transport delivers a
# request once (a duplicate frame is dropped by its sequence number), so a UART byte is written once.
# The wire structs are packed; docs/protocol.md lists them.

from typing import Final

from pyhv.lang import Static, Struct, addr_of, i32, kprint, range, struct_at, u8, u16, u32, u64

from pyhv.arch.gic import gic_send_sgi
from pyhv.arch.timer import timer_now
from pyhv.cluster.table import cluster_cfg, cluster_table, ticks_from_us
from pyhv.cluster.servicelock import service_send_any
from pyhv.cluster.transport import PEER_ACTIVE, transport_peer, transport_send
from pyhv.cluster.wire import F_REPLY, MAX_NODES, MSG_KICK, MSG_MMIO, MSG_POWER, MSG_PSCI
from pyhv.core.hostinfo import hostinfo
from pyhv.core.mmio import MMIO_UNHANDLED, MmioAccess, mmio_dispatch
from pyhv.core.power import power_off
from pyhv.core.remote_map import (
    REMOTE_DEVICE_OWNER, REMOTE_NO_NODE, RemotePhysOps, remote_my_node, remote_phys, remote_vcpu_cpu,
    remote_vcpu_is_local, remote_vcpu_node,
)
from pyhv.core.remote_uart import remote_uart_covers, remote_uart_poll, remote_uart_serve
from pyhv.core.vcpu import VCPU_KICK_SGI, vcpu_is_current
from pyhv.core.vmstate import vm_config
from pyhv.core.vpsci import (
    VPSCI_RET_INTERNAL_FAILURE, VPSCI_RET_INVALID_PARAMETERS, VPSCI_RET_SUCCESS, vpsci_cpu_on_local,
    vpsci_vcpu_state,
)
from pyhv.vdev.vgic import VgicHostOps, vgic_state
from pyhv.vdev.vgic_remote import vgic_remote_ctlr_broadcast

MMIO_MSG_BYTES: Final = u32(24)
MMIO_REPLY_BYTES: Final = u32(16)
PSCI_MSG_BYTES: Final = u32(24)
PSCI_REPLY_BYTES: Final = u32(8)
POWER_MSG_BYTES: Final = u32(8)
KICK_MSG_BYTES: Final = u32(8)

REMOTE_PSCI_CPU_ON: Final = u32(1)      # PsciMsg.op
REMOTE_PSCI_STATE: Final = u32(2)
REMOTE_POWER_NONE: Final = u32(0)       # PowerMsg.kind
REMOTE_POWER_OFF: Final = u32(1)
REMOTE_POWER_RESET: Final = u32(2)      # a VM reset is not implemented: every node powers off


class MmioMsg(Struct, packed=True):
    ipa: u64
    value: u64              # a store's value
    vcpu: u32               # the global vCPU that made the access (banked registers, GICR frames)
    width_bytes: u8         # 1, 2, 4, 8
    is_write: u8
    pad: u16


class MmioReply(Struct, packed=True):
    value: u64              # a load's value (as mmio_dispatch left it in MmioAccess.value)
    status: u32             # MMIO_HANDLED / MMIO_UNHANDLED
    pad: u32


class PsciMsg(Struct, packed=True):
    op: u32                 # REMOTE_PSCI_*
    vcpu: u32               # global vCPU, on the receiving node
    entry: u64              # CPU_ON
    context_id: u64


class PsciReply(Struct, packed=True):
    result: u32             # CPU_ON: the PSCI status (i32 bits); STATE: VPSCI_ON / OFF / ON_PENDING
    pad: u32


class PowerMsg(Struct, packed=True):
    kind: u32               # REMOTE_POWER_*
    vcpu: u32               # the global vCPU that asked


class KickMsg(Struct, packed=True):
    vcpu: u32
    pad: u32


class RemoteStats(Struct):
    mmio_forwarded: u64     # guest accesses sent to their owner (remote_call.py)
    mmio_served: u64        # accesses run here for another node's vCPU
    mmio_failed: u64        # forwarded accesses whose owner could not be reached
    psci_forwarded: u64
    psci_served: u64
    kicks_sent: u64
    kicks_received: u64
    bad: u64                # malformed or misdirected messages, dropped
    power_kind: u32         # REMOTE_POWER_* asked by another node, pending until our reply is acked
    power_deadline: u64     # ... or until then (counter ticks)


_rs: Final = Static(RemoteStats)


def remote_stats() -> RemoteStats:
    return _rs.get()


# --- MMIO ---------------------------------------------------------------------------------------------------

def remote_local_access(vcpu: u32, acc: MmioAccess) -> u32:
    # An access executed here (for a local vCPU or for another node's). A GICD_CTLR write on the
    # distributor's node changes what every node's vGIC may deliver: the group enables go to all.
    status = mmio_dispatch(vcpu, acc)
    if acc.is_write and acc.ipa == vm_config().gicd_base and remote_my_node() == REMOTE_DEVICE_OWNER:
        vgic_remote_ctlr_broadcast()
    return status


def _width_ok(w: u8) -> bool:
    return w == 1 or w == 2 or w == 4 or w == 8


def remote_mmio_handler(src: u16, req_id: u32, payload: u64, length: u32) -> None:
    m = struct_at(MmioMsg, payload)
    r = MmioReply()
    r.status = MMIO_UNHANDLED
    if length < MMIO_MSG_BYTES or not _width_ok(m.width_bytes) or m.is_write > 1 \
            or m.vcpu >= vm_config().nr_vcpus or remote_vcpu_node(m.vcpu) != src:
        _rs.get().bad += 1          # not an access a vCPU of `src` can make: answered as no device
    else:
        acc = MmioAccess()
        acc.ipa = m.ipa
        acc.value = m.value
        acc.width_bytes = m.width_bytes
        acc.is_write = m.is_write != 0
        if remote_uart_covers(acc.ipa):
            r.status = remote_uart_serve(src, m.vcpu, acc)    # the console UART may be away: RETRY
        else:
            r.status = remote_local_access(m.vcpu, acc)
        r.value = acc.value
        _rs.get().mmio_served += 1
    transport_send(src, MSG_MMIO, F_REPLY, req_id, addr_of(r), MMIO_REPLY_BYTES)


# --- vPSCI --------------------------------------------------------------------------------------------------

def remote_psci_handler(src: u16, req_id: u32, payload: u64, length: u32) -> None:
    m = struct_at(PsciMsg, payload)
    r = PsciReply()
    if length < PSCI_MSG_BYTES:
        _rs.get().bad += 1
        r.result = u32(VPSCI_RET_INVALID_PARAMETERS)
    elif m.vcpu >= vm_config().nr_vcpus or not remote_vcpu_is_local(m.vcpu):
        r.result = u32(VPSCI_RET_INVALID_PARAMETERS)      # not a vCPU of ours: a bad target
    elif m.op == REMOTE_PSCI_CPU_ON:
        r.result = u32(vpsci_cpu_on_local(m.vcpu, m.entry, m.context_id))
    elif m.op == REMOTE_PSCI_STATE:
        r.result = vpsci_vcpu_state(m.vcpu)
    else:
        _rs.get().bad += 1
        r.result = u32(VPSCI_RET_INVALID_PARAMETERS)
    _rs.get().psci_served += 1
    transport_send(src, MSG_PSCI, F_REPLY, req_id, addr_of(r), PSCI_REPLY_BYTES)


def remote_cpu_on_hook(vcpu: u32) -> i32:
    # VcpuPowerOps.cpu_on of a VM spanning nodes: vCPU `vcpu` of this node was just made ON_PENDING; its
    # CPU sleeps in vm_secondary_main (or a CPU_OFF wait) until the kick.
    if not remote_vcpu_is_local(vcpu):
        return VPSCI_RET_INTERNAL_FAILURE
    remote_phys().kick(vcpu, remote_vcpu_cpu(vcpu))
    return VPSCI_RET_SUCCESS


# --- kicks --------------------------------------------------------------------------------------------------

def _kick(vcpu: u32) -> None:
    # VgicHostOps.kick: an interrupt was queued for `vcpu`. This node's vCPUs get the physical SGI, another
    # node's a MSG_KICK (its handler sends the SGI there).
    node = remote_vcpu_node(vcpu)
    if node == remote_my_node():
        remote_phys().kick(vcpu, remote_vcpu_cpu(vcpu))
    elif node != REMOTE_NO_NODE:
        m = KickMsg()
        m.vcpu = vcpu
        _rs.get().kicks_sent += 1
        service_send_any(node, MSG_KICK, u8(0), u32(0), addr_of(m), KICK_MSG_BYTES)


REMOTE_VGIC_HOST_OPS: Final = VgicHostOps(kick=_kick)


def remote_kick_handler(src: u16, req_id: u32, payload: u64, length: u32) -> None:
    m = struct_at(KickMsg, payload)
    if m.vcpu >= vgic_state().nr_vcpus or not remote_vcpu_is_local(m.vcpu):
        _rs.get().bad += 1
        return
    _rs.get().kicks_received += 1
    remote_phys().kick(m.vcpu, remote_vcpu_cpu(m.vcpu))


# --- power --------------------------------------------------------------------------------------------------

def remote_power_handler(src: u16, req_id: u32, payload: u64, length: u32) -> None:
    # Another node's vCPU powered the VM off (or asked for a reset, which is not implemented): say so,
    # answer, and power off once the answer is acknowledged (remote_service), or after a linger.
    m = struct_at(PowerMsg, payload)
    st = _rs.get()
    if m.kind != REMOTE_POWER_OFF and m.kind != REMOTE_POWER_RESET:
        st.bad += 1
        return
    if m.kind == REMOTE_POWER_RESET:
        kprint("pyhv: vcpu %u (node %u) asked for a VM reset; reset is not supported yet, node %u powers off\n",
               m.vcpu, src, remote_my_node())
    else:
        kprint("pyhv: vcpu %u (node %u) powered the VM off; node %u powers off\n", m.vcpu, src, remote_my_node())
    remote_uart_poll()                  # console bytes this node holds go out before the answer
    transport_send(src, MSG_POWER, F_REPLY, req_id, payload, POWER_MSG_BYTES)
    if st.power_kind == REMOTE_POWER_NONE:
        st.power_kind = m.kind
        st.power_deadline = timer_now() + ticks_from_us(cluster_cfg().rto_max_us) * 2


def _all_acked() -> bool:
    t = cluster_table()
    n = t.count if t.count < MAX_NODES else MAX_NODES
    for i in range(u32(0), n):
        p = transport_peer(u16(i))
        if p.state == PEER_ACTIVE and p.una != p.next_seq:
            return False
    return True


def remote_service() -> None:
    # After every cluster_poll on the node's cluster CPU: power off when another node asked for it and
    # every peer acknowledged what we sent (so the asking node has its answer), or after the linger.
    st = _rs.get()
    if st.power_kind != REMOTE_POWER_NONE and (_all_acked() or timer_now() >= st.power_deadline):
        st.power_kind = REMOTE_POWER_NONE
        remote_phys().power_off()


def remote_power_pending() -> bool:
    return _rs.get().power_kind != REMOTE_POWER_NONE


# --- the image's physical side ---------------------------------------------------------------------------------

def remote_gic_kick(vcpu: u32, cpu: u32) -> None:
    # The kick SGI to the CPU running `vcpu`, unless that is us (we flush before returning to the guest).
    if vcpu_is_current(vcpu) or cpu >= hostinfo().ncpus:
        return
    gic_send_sgi(hostinfo().cpus[cpu].mpidr, VCPU_KICK_SGI)


REMOTE_GIC_PHYS_OPS: Final = RemotePhysOps(kick=remote_gic_kick, power_off=power_off)
