# The waiting half of a VM spanning nodes (docs/cluster-vm.md): what a trapped vCPU does when the device,
# the vCPU or the power switch it needs lives on another node. It sends a request and waits through the
# node's cluster service (service_request / service_wait_reply, pyhv/cluster/service.py: the node's lock
# around every entry into cluster code, any CPU may wait, and the wait keeps serving every other message, so
# two nodes asking each other progress); the answer is used exactly as a local one would be:
#
#   guest MMIO  -> remote_mmio_access: the owner runs mmio_dispatch (pyhv/core/remote.py); the load value
#                  and handled/unhandled come back into the MmioAccess, vcpu.py completes the instruction
#   PSCI CPU_ON / AFFINITY_INFO of another node's vCPU -> that node's vpsci state (Arm DEN 0022 §5.6, §5.9)
#   SYSTEM_OFF / SYSTEM_RESET (§5.10, §5.11) -> every other node first, then this one
#
# Device owners: every emulated device and the GIC distributor live on node 0; the GICv3 redistributor
# frame pair of vCPU v lives on v's node; the GICv2 distributor's banked registers (SGI/PPI state, SGIR)
# are answered on the accessing vCPU's own node, because that node holds its private interrupts. An IPA
# no region covers is dispatched here (MMIO_UNHANDLED: the caller injects the abort).
# remote_vm_init installs all of it; without it pyhv is the single-node VM.

from typing import Final

from pyhv.lang import Array, addr_of, i32, kprint, range, struct_at, u8, u16, u32, u64

from pyhv.arch.timer import timer_now
from pyhv.cluster.requests import Reply
from pyhv.cluster.service import (
    service_request, service_wait_mark, service_wait_once, service_wait_reply, service_wait_unmark,
)
from pyhv.cluster.servicelock import service_cpu, service_state
from pyhv.cluster.table import cluster_cfg, cluster_my_node, ticks_from_us
from pyhv.cluster.transport import TRANSPORT_OK
from pyhv.cluster.wire import MAX_NODES, MSG_MMIO, MSG_POWER, MSG_PSCI
from pyhv.core.mmio import MMIO_UNHANDLED, MmioAccess, MmioRouteOps, mmio_has_region, mmio_set_route
from pyhv.core.remote import (
    MMIO_MSG_BYTES, MMIO_REPLY_BYTES, POWER_MSG_BYTES, PSCI_MSG_BYTES, PSCI_REPLY_BYTES, REMOTE_POWER_OFF,
    REMOTE_POWER_RESET, REMOTE_PSCI_CPU_ON, REMOTE_PSCI_STATE, REMOTE_VGIC_HOST_OPS, MmioMsg, MmioReply,
    PowerMsg, PsciMsg, PsciReply, remote_cpu_on_hook, remote_local_access, remote_stats,
)
from pyhv.core.remote_uart import (
    REMOTE_MMIO_RETRY, UART_FORWARD, UART_WAIT, remote_uart_covers, remote_uart_flush_try, remote_uart_gen,
    remote_uart_init, remote_uart_try,
)
from pyhv.core.remote_map import (
    REMOTE_DEVICE_OWNER, REMOTE_NO_NODE, RemotePhysOps, remote_map_enable, remote_my_node,
    remote_node_is_peer, remote_phys, remote_set_phys_ops, remote_vcpu_is_local, remote_vcpu_node,
)
from pyhv.core.vcpu import vcpu_current
from pyhv.core.vmconfig import GIC_DIST_SIZE, GICV3_REDIST_SIZE, vmconfig_gic_redist_size
from pyhv.core.vmstate import vm_config
from pyhv.core.vpsci import (
    VPSCI_OFF, VPSCI_RET_INTERNAL_FAILURE, VcpuPowerOps, VpsciPeerOps, vpsci_set_peer_ops,
    vpsci_set_power_ops,
)
from pyhv.vdev.vgic import vgic_set_host_ops
from pyhv.vdev.vgic_remote import vgic_remote_init


# --- MMIO ---------------------------------------------------------------------------------------------------

def remote_gicv2_banked(off: u32) -> bool:
    # GICv2 distributor registers answered for the accessing CPU (IHI 0048B §4.3): word 0 of every
    # 1-bit-per-INTID bank, IPRIORITYR0-7, ITARGETSR0-7, ICFGR0-1, SGIR, CPENDSGIR and SPENDSGIR.
    if off >= 0x080 and off < 0x400:
        return (off & 0x7F) < 4
    return (off >= 0x400 and off < 0x420) or (off >= 0x800 and off < 0x820) or (off >= 0xC00 and off < 0xC08) \
        or (off >= 0xF00 and off < 0xF04) or (off >= 0xF10 and off < 0xF30)


def remote_mmio_owner(ipa: u64) -> u16:
    # The node that executes a guest access to `ipa`.
    cfg = vm_config()
    me = remote_my_node()
    if cfg.gic_version == 3 and ipa >= cfg.gicr_base and ipa - cfg.gicr_base < vmconfig_gic_redist_size(cfg):
        node = remote_vcpu_node(u32((ipa - cfg.gicr_base) // GICV3_REDIST_SIZE))
        return me if node == REMOTE_NO_NODE else node   # an absent vCPU's frame: answered here
    if cfg.gic_version == 2 and ipa >= cfg.gicd_base and ipa - cfg.gicd_base < GIC_DIST_SIZE \
            and remote_gicv2_banked(u32(ipa - cfg.gicd_base)):
        return me
    if not mmio_has_region(ipa):
        return me
    return REMOTE_DEVICE_OWNER


def remote_mmio_access(vcpu: u32, acc: MmioAccess) -> u32:
    # MmioRouteOps.access: run `acc` of global vCPU `vcpu` where its device lives; MMIO_HANDLED or
    # MMIO_UNHANDLED as mmio_dispatch would answer (a load's value in acc.value).
    if remote_uart_covers(acc.ipa):
        return _uart_access(vcpu, acc)
    owner = remote_mmio_owner(acc.ipa)
    if owner == remote_my_node():
        return remote_local_access(vcpu, acc)
    return _forward(owner, vcpu, acc)


def _uart_access(vcpu: u32, acc: MmioAccess) -> u32:
    # The console UART is wherever it was last used (pyhv/core/remote_uart.py): here, or forwarded to home,
    # which answers RETRY while the device is away or on its way (then the access goes again at once: each
    # try waits a round trip for its answer, and the device is back or here within a few).
    while True:
        gen = remote_uart_gen()
        r = remote_uart_try(vcpu, acc)
        if r == UART_FORWARD:
            r = _forward(REMOTE_DEVICE_OWNER, vcpu, acc)
            if r != REMOTE_MMIO_RETRY:
                return r
        elif r != UART_WAIT:
            return r
        else:                           # home waits for the device to come back, a holder for room to send
            service_wait_mark()
            if remote_uart_gen() == gen:
                service_wait_once()
            else:
                service_wait_unmark()


def _forward(owner: u16, vcpu: u32, acc: MmioAccess) -> u32:
    m = MmioMsg()
    m.ipa = acc.ipa
    m.value = acc.value
    m.vcpu = vcpu
    m.width_bytes = acc.width_bytes
    m.is_write = u8(1) if acc.is_write else u8(0)
    st = remote_stats()
    st.mmio_forwarded += 1
    out = Reply()
    req = service_request(owner, MSG_MMIO, addr_of(m), MMIO_MSG_BYTES)
    if req == 0 or service_wait_reply(req, out) != TRANSPORT_OK or out.length < MMIO_REPLY_BYTES:
        st.mmio_failed += 1
        kprint("remote: vcpu %u: %s of ipa 0x%x: its owner, node %u, cannot be reached\n", vcpu,
               "write" if acc.is_write else "read", acc.ipa, owner)
        return MMIO_UNHANDLED
    r = struct_at(MmioReply, addr_of(out.data))
    if not acc.is_write and r.status != REMOTE_MMIO_RETRY:
        acc.value = r.value
    return r.status


REMOTE_MMIO_ROUTE: Final = MmioRouteOps(access=remote_mmio_access)


# --- vPSCI --------------------------------------------------------------------------------------------------

def _psci_ask(op: u32, vcpu: u32, entry: u64, context_id: u64, result: PsciReply) -> bool:
    node = remote_vcpu_node(vcpu)
    if node == REMOTE_NO_NODE:
        return False
    m = PsciMsg()
    m.op = op
    m.vcpu = vcpu
    m.entry = entry
    m.context_id = context_id
    remote_stats().psci_forwarded += 1
    out = Reply()
    req = service_request(node, MSG_PSCI, addr_of(m), PSCI_MSG_BYTES)
    if req == 0 or service_wait_reply(req, out) != TRANSPORT_OK or out.length < PSCI_REPLY_BYTES:
        return False
    result.result = struct_at(PsciReply, addr_of(out.data)).result
    return True


def _psci_cpu_on(vcpu: u32, entry: u64, context_id: u64) -> i32:
    r = PsciReply()
    if not _psci_ask(REMOTE_PSCI_CPU_ON, vcpu, entry, context_id, r):
        return VPSCI_RET_INTERNAL_FAILURE       # its node is gone
    return i32(r.result)


def _psci_state(vcpu: u32) -> u32:
    r = PsciReply()
    if not _psci_ask(REMOTE_PSCI_STATE, vcpu, u64(0), u64(0), r):
        return VPSCI_OFF                        # its node is gone, and the vCPU with it
    return r.result


REMOTE_PSCI_PEER_OPS: Final = VpsciPeerOps(is_local=remote_vcpu_is_local, cpu_on=_psci_cpu_on,
                                           state=_psci_state)


# --- power --------------------------------------------------------------------------------------------------

def _linger_us() -> u32:
    return cluster_cfg().ack_delay_us * 2


def remote_power_all(kind: u32, vcpu: u32) -> None:
    # Tell every other node (and wait for each answer, or for its loss), let our acks of the answers go
    # out, then power this node off.
    while not remote_uart_flush_try():  # console bytes this node holds go first (the same in-order streams)
        service_wait_mark()
        service_wait_once()
    reqs = Array(u32, 16)               # MAX_NODES
    m = PowerMsg()
    m.kind = kind
    m.vcpu = vcpu
    for n in range(u16(0), u16(MAX_NODES)):
        if remote_node_is_peer(u32(n)):
            reqs[n] = service_request(n, MSG_POWER, addr_of(m), POWER_MSG_BYTES)
    out = Reply()
    for n in range(u16(0), u16(MAX_NODES)):
        if reqs[n] != 0:
            service_wait_reply(reqs[n], out)
    deadline = timer_now() + ticks_from_us(_linger_us())
    while timer_now() < deadline:
        service_wait_mark()
        service_wait_once()             # the wake SGI, or CPU 0's cluster timer (armed by its polls)
    with service_state().lock:
        service_cpu().inside = True
        remote_phys().power_off()
        service_cpu().inside = False       # under the lock: no other CPU of this node is inside the cluster code


def _system_off() -> None:
    kprint("pyhv: the guest powered off; powering off every node\n")
    remote_power_all(REMOTE_POWER_OFF, vcpu_current())


def _system_reset() -> None:
    kprint("pyhv: the guest asked for a reset; resetting a VM is not supported yet, powering off every node\n")
    remote_power_all(REMOTE_POWER_RESET, vcpu_current())


REMOTE_POWER_OPS: Final = VcpuPowerOps(cpu_on=remote_cpu_on_hook, system_off=_system_off,
                                       system_reset=_system_reset)


def remote_vm_init(phys: RemotePhysOps) -> None:
    # On every node after BOOT, once the VM's devices, vGIC and vPSCI are set up for the cluster-wide
    # VmConfig (vm_setup_devices, vpsci_init): from now on vCPUs, interrupts, PSCI and MMIO cross nodes.
    remote_set_phys_ops(phys)
    remote_map_enable(cluster_my_node())
    vgic_set_host_ops(REMOTE_VGIC_HOST_OPS)
    vgic_remote_init()
    vpsci_set_power_ops(REMOTE_POWER_OPS)
    vpsci_set_peer_ops(REMOTE_PSCI_PEER_OPS)
    mmio_set_route(REMOTE_MMIO_ROUTE)
    remote_uart_init()
