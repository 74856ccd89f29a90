# Where the VM's vCPUs and devices live once one VM spans several nodes (docs/cluster-vm.md): a global
# vCPU id -> its node and the local CPU that runs it, read from the live cluster table (node i owns the
# vCPUs vcpu_base .. vcpu_base + vcpu_count - 1; their MPIDR is Aff1 = node, Aff0 = local CPU), and the
# owner of the devices (the bootstrap, node 0: console PL011, GIC distributor, cluster info).
#
# The physical side of the cross-node VM -- send the kick SGI to a CPU of this node, power this node off --
# goes through ONE ops slot (RemotePhysOps), so CPython tests observe it and the image uses the GIC and
# the power driver (REMOTE_GIC_PHYS_OPS in pyhv/core/remote.py).
#
# Until remote_map_enable() the VM is this node alone: every vCPU is local and runs on the CPU with its
# number, which is the single-node VM of pyhv/core/vm.py.

from typing import Callable, Final

from pyhv.lang import Ops, OpsSlot, Static, Struct, range, u16, u32

from pyhv.cluster.table import cluster_table
from pyhv.cluster.wire import MAX_NODES

REMOTE_NO_NODE: Final = u16(0xFFFF)
REMOTE_DEVICE_OWNER: Final = u16(0)     # the bootstrap owns every emulated device and the distributor


class RemotePhysOps(Ops):
    kick: Callable[[u32, u32], None]    # (global vCPU, local CPU running it): make it exit / leave irq_wait
    power_off: Callable[[], None]       # power this node off (does not return on hardware)


class RemoteMap(Struct):
    enabled: bool           # the VM spans the cluster: vCPUs are placed by the cluster table
    me: u16                 # this node's id


_map: Final = Static(RemoteMap)
_phys: Final = OpsSlot(RemotePhysOps)


def remote_map_enable(me: u16) -> None:
    # After BOOT, with this node's id: from now on the cluster table places the vCPUs.
    st = _map.get()
    st.me = me
    st.enabled = True


def remote_enabled() -> bool:
    return _map.get().enabled


def remote_my_node() -> u16:
    st = _map.get()
    return st.me if st.enabled else u16(0)


def remote_set_phys_ops(ops: RemotePhysOps) -> None:
    _phys.set(ops)


def remote_phys() -> RemotePhysOps:
    return _phys.get()


def remote_vcpu_node(vcpu: u32) -> u16:
    # The node running global vCPU `vcpu`, REMOTE_NO_NODE for a vCPU no member has (absent).
    st = _map.get()
    if not st.enabled:
        return u16(0)
    t = cluster_table()
    n = t.count if t.count < MAX_NODES else MAX_NODES
    for i in range(u32(0), n):
        e = t.entries[i]
        if e.present == 1 and vcpu >= e.vcpu_base and vcpu - e.vcpu_base < e.vcpu_count:
            return u16(i)
    return REMOTE_NO_NODE


def remote_vcpu_is_local(vcpu: u32) -> bool:
    return remote_vcpu_node(vcpu) == remote_my_node()


def remote_vcpu_cpu(vcpu: u32) -> u32:
    # The local CPU running global vCPU `vcpu` (only meaningful when remote_vcpu_is_local(vcpu)).
    st = _map.get()
    if not st.enabled:
        return vcpu
    return vcpu - cluster_table().entries[st.me].vcpu_base


def remote_node_is_peer(node: u32) -> bool:
    # A member of the cluster other than this node (a destination for broadcasts).
    t = cluster_table()
    st = _map.get()
    return st.enabled and node < t.count and node < MAX_NODES and node != u32(st.me) \
        and t.entries[node].present == 1
