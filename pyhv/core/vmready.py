# The start barrier of one VM across nodes (docs/cluster-vm.md "How a cluster VM starts"): every joiner
# sets its part of the VM up (stage 2, the DSM's tables, the devices) and then tells the bootstrap with
# MSG_VM_READY (status 0, or the VM_ERR_* that stopped it). The bootstrap starts vCPU 0 only once every
# member is ready: the guest's very first accesses may go to any node's pages (Linux allocates from the top
# of memory), and a DSM request reaching a node whose tables are not set up would be lost.

from typing import Final

from pyhv.lang import Static, Struct, kprint, struct_at, u16, u32, u64

from pyhv.cluster.wire import MAX_NODES

VM_READY_MSG_BYTES: Final = u32(4)


class VmReadyMsg(Struct, packed=True):
    status: u32             # 0: ready; otherwise the VM_ERR_* of pyhv/core/vm_devices.py


class VmReadyState(Struct):
    ready: u32              # bit n: node n reported ready
    failed: u32             # bit n: node n reported a failure
    bad: u64                # malformed or repeated reports (dropped)


_ready: Final = Static(VmReadyState)


def vmready_state() -> VmReadyState:
    return _ready.get()


def vmready_handler(src: u16, req_id: u32, payload: u64, length: u32) -> None:
    st = _ready.get()
    if u32(src) >= MAX_NODES:
        st.bad += 1
        return
    bit = u32(1) << u32(src)
    if ((st.ready | st.failed) & bit) != 0:
        st.bad += 1
        return
    m = struct_at(VmReadyMsg, payload)
    if m.status == 0:
        st.ready = st.ready | bit
    else:
        st.failed = st.failed | bit
        kprint("vm: node %u could not set up its part of the VM (error %u)\n", u32(src), m.status)
