# Admission rules of the bootstrap and the members (docs/protocol.md "Admission rules", issue 12): what a
# JOIN may claim before its node gets an id, how fast nodes may be admitted, and which cluster tables a
# member applies. Discovery frames are unauthenticated datagrams: every count, id and size in them is
# checked here before membership.py stores it or indexes anything with it. A frame that fails is dropped
# and counted by the caller (DROP_BAD_FIELD); admissions beyond the rate are DROP_RATE_LIMITED here.

from typing import Final

from pyhv.lang import Static, Struct, range, u16, u32, u64

from pyhv.arch.timer import timer_now
from pyhv.cluster.table import EPOCH_FIRST, EPOCH_LAST, ClusterTable, cluster_cfg
from pyhv.cluster.wire import DROP_RATE_LIMITED, MAX_NODES, MTU_STANDARD, wire_count_drop, wire_mac_is_unicast
from pyhv.core.ratelimit import RateLimit, ratelimit_allow
from pyhv.core.vmconfig import VM_MAX_VCPUS, VM_RAM_BASE, VM_RAM_WINDOW_END

ADMIT_BURST: Final = u32(8)             # admissions + readmissions per second of the counter; a JOIN beyond
                                        # it is dropped and the joiner asks again at the next ANNOUNCE
ADMIT_VCPUS_MAX: Final = VM_MAX_VCPUS   # CPUs of all nodes together
ADMIT_RAM_MAX_BYTES: Final = VM_RAM_WINDOW_END - VM_RAM_BASE       # one node's RAM: the whole RAM window
ADMIT_MTU_MIN: Final = MTU_STANDARD     # a page must fit in WIRE_MAX_FRAGS fragments (needs >= 1072)
ADMIT_WARN_BURST: Final = u32(4)        # console lines about refused JOINs per second


class AdmissionState(Struct):
    window_start: u64       # start of the current one-second admission window (ticks)
    admitted: u32           # admissions + readmissions in that window
    warn: RateLimit         # console lines about refusals: a flood must not flood the console


_adm: Final = Static(AdmissionState)


def admission_join_valid(mac: u64, my_mac: u64, cpus: u32, mtu: u32, incarnation: u32, ram_bytes: u64) -> bool:
    # A JOIN a real node could send: a unicast MAC that is not ours (the bootstrap's), 1..64 CPUs, RAM that
    # fits the guest's RAM window, an MTU that carries a page in at most four fragments, a boot nonce.
    return (wire_mac_is_unicast(mac) and mac != my_mac and cpus != 0 and cpus <= ADMIT_VCPUS_MAX
            and ram_bytes != 0 and ram_bytes <= ADMIT_RAM_MAX_BYTES and mtu >= ADMIT_MTU_MIN and incarnation != 0)


def admission_allowed() -> bool:
    # At most ADMIT_BURST admissions or readmissions per second. Forged JOINs with made-up MACs then take the
    # table's free ids slowly instead of all at once (issue 12 item 4), and forged restarts cannot reset a
    # member's streams in a loop. False (and the frame counted as DROP_RATE_LIMITED) beyond the rate.
    st = _adm.get()
    now = timer_now()
    if st.admitted == 0 or now - st.window_start >= cluster_cfg().freq_hz:
        st.window_start = now
        st.admitted = u32(0)
    if st.admitted >= ADMIT_BURST:
        wire_count_drop(DROP_RATE_LIMITED)
        return False
    st.admitted += 1
    return True


def admission_warn_allowed() -> bool:
    return ratelimit_allow(_adm.get().warn, ADMIT_WARN_BURST)


def admission_table_sane(incoming: ClusterTable, my_node: u16, my_mac: u64) -> bool:
    # A table a member may apply: ids 0..count-1 all present with a unicast MAC, epochs 1..15, CPU counts and
    # vCPU ranges that tile 0..total (<= 64) in id order, RAM and MTUs a node can have; and our own entry
    # in it with our MAC (our id indexes the table from then on: issue 12 item 1).
    if incoming.count == 0 or incoming.count > MAX_NODES or u32(my_node) >= incoming.count:
        return False
    if incoming.entries[my_node].mac != my_mac:
        return False
    base = u32(0)
    for i in range(u32(0), incoming.count):
        e = incoming.entries[i]
        if (e.present != 1 or not wire_mac_is_unicast(e.mac) or e.epoch < EPOCH_FIRST or e.epoch > EPOCH_LAST
                or e.vcpu_count == 0 or e.vcpu_count > ADMIT_VCPUS_MAX - base or e.vcpu_base != base
                or e.ram_bytes == 0 or e.ram_bytes > ADMIT_RAM_MAX_BYTES or e.mtu < ADMIT_MTU_MIN):
            return False
        base += e.vcpu_count
    return True
