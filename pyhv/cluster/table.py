# The cluster table (node id -> MAC, vCPU range, RAM, MTU) and this node's identity and configuration.
# The bootstrap node owns the table and sends it whole (message TABLE) to every member whenever it grows;
# the packed layout below is both the local copy and the wire payload. Node ids are dense: 0 (bootstrap)
# to count - 1, in the order the bootstrap admitted them; global vCPU ids follow the same order.

from typing import Annotated, Final

from pyhv.lang import Array, range, Static, Struct, str_byte, u16, u32, u64

from pyhv.cluster.wire import MAX_NODES

ROLE_BOOTSTRAP: Final = u32(0)
ROLE_JOINER: Final = u32(1)


class NodeEntry(Struct, packed=True):
    mac: u64
    ram_bytes: u64
    vcpu_base: u32          # first global vCPU id of this node
    vcpu_count: u32
    mtu: u32                # the node's link MTU (>= MTU_JUMBO_MIN: jumbo capable)
    present: u32            # 1 once the id is assigned
    incarnation: u32        # the node's boot nonce: a change means it restarted (its streams start afresh)
    epoch: u32              # its stream epoch, 1..15, assigned by the bootstrap, advanced on every restart


class ClusterTable(Struct, packed=True):
    generation: u32         # bumped by the bootstrap on every change
    count: u32              # ids 0..count-1 are assigned
    booted: u32             # 1 once the bootstrap has sent BOOT (later joiners are hot-added)
    entries: Annotated[Array[NodeEntry], 16]


class ClusterConfig(Struct):
    ram_bytes: u64          # RAM this node contributes
    freq_hz: u64            # counter frequency (CNTFRQ_EL0)
    role: u32               # ROLE_BOOTSTRAP / ROLE_JOINER
    cluster_id: u32         # cluster_name_id(name)
    cpus: u32               # CPUs this node contributes
    min_nodes: u32          # bootstrap: send BOOT once this many nodes are set up
    rto_init_us: u32        # retransmission timeout before the first round trip is measured
    rto_min_us: u32         # floor of the measured timeout (and the clock sync's sample limit)
    rto_max_us: u32         # backoff cap
    ack_delay_us: u32       # longest an ack waits for a frame to ride on
    keepalive_us: u32       # silence before we poke a peer we are waiting on
    lost_after_us: u32      # silence after which a peer we are waiting on is declared lost
    announce_us: u32        # bootstrap announce / joiner retry period
    resync_us: u32          # clock resync period
    probe_gap_us: u32       # gap between the probes of one clock sync round
    idle_max_us: u32        # longest idle sleep (a NIC interrupt or a timer deadline wakes earlier)


class ClusterSelf(Struct):
    cfg: ClusterConfig
    node: u16               # our node id, NODE_NONE until admitted
    mac: u64
    mtu: u32
    epoch: u32              # our stream epoch (NodeEntry.epoch), from WELCOME; 0 until admitted


_table: Final = Static(ClusterTable)
_self: Final = Static(ClusterSelf)


def cluster_table() -> ClusterTable:
    return _table.get()


def cluster_self() -> ClusterSelf:
    return _self.get()


def cluster_cfg() -> ClusterConfig:
    return _self.get().cfg


def cluster_my_node() -> u16:
    return _self.get().node


def cluster_is_member(node: u16) -> bool:
    t = _table.get()
    if u32(node) >= t.count or u32(node) >= MAX_NODES:
        return False
    return t.entries[node].present == 1


def cluster_mtu() -> u32:
    # The cluster-wide MTU: jumbo only when every member (and we) support it.
    t = _table.get()
    mtu = _self.get().mtu
    for i in range(u32(0), t.count):
        if t.entries[i].present == 1 and t.entries[i].mtu < mtu:
            mtu = t.entries[i].mtu
    return mtu


def cluster_name_id(name: str) -> u32:
    # FNV-1a of the cluster name folded to 16 bits (the header's cluster_id).
    h = u32(0x811C9DC5)
    i = u64(0)
    while str_byte(name, i) != 0:
        h = (h ^ u32(str_byte(name, i))) * u32(0x01000193)
        i += 1
    return (h >> 16) ^ (h & 0xFFFF)


EPOCH_FIRST: Final = u32(1)         # a node's first life; the bootstrap's, always (it never restarts)
EPOCH_LAST: Final = u32(15)         # epochs are 4 bits on the wire and never 0


def epoch_next(epoch: u32) -> u32:
    return EPOCH_FIRST if epoch >= EPOCH_LAST else epoch + 1


def cluster_peer_epoch(node: u16) -> u32:
    # The stream epoch of node `node` as we know it (the bootstrap's is fixed: a joiner talks to it before
    # its first table arrives).
    if node == 0:
        return EPOCH_FIRST
    return _table.get().entries[node].epoch


def ticks_from_us(us: u32) -> u64:
    return u64(us) * _self.get().cfg.freq_hz // 1000000


def cluster_vcpu_total() -> u32:
    t = _table.get()
    total = u32(0)
    for i in range(u32(0), t.count):
        total += t.entries[i].vcpu_count
    return total
