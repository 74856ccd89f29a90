# Membership and discovery (docs/protocol.md "Membership"). Every node runs the same image and knows only
# its role and the cluster name. The bootstrap (node 0) broadcasts ANNOUNCE every announce_us; a joiner
# answers the first ANNOUNCE it hears with JOIN (its MAC, CPUs, RAM, MTU, counter frequency); the bootstrap
# assigns the next node id and global vCPU range (WELCOME, repeated for a repeated JOIN, so it is
# idempotent), and sends the grown table to every member reliably (TABLE). A member that has the table and
# a synchronised clock answers SETUP_DONE; once min_nodes nodes are set up the bootstrap sends BOOT. A node
# joining after that gets the table and BOOT in turn, and every member learns the new table. Start order
# does not matter: ANNOUNCE repeats until the end. A counter-frequency mismatch is refused, with a message.
#
#   joiner: SEEKING --WELCOME--> JOINED --(table + clock synced)/SETUP_DONE--> READY --BOOT--> BOOTED
#   bootstrap: FORMING --(min_nodes set up)/BOOT to all--> BOOTED

from typing import Final

from pyhv.lang import Static, Struct, addr_of, kprint, panic, range, struct_at, u8, u16, u32, u64

from pyhv.arch.timer import timer_now
from pyhv.cluster.bytecopy import bytecopy
from pyhv.cluster.clocksync import clocksync_guest_started, clocksync_start, clocksync_synced
from pyhv.cluster.table import (
    EPOCH_FIRST, EPOCH_LAST, ROLE_BOOTSTRAP, ClusterTable, cluster_cfg, cluster_self, cluster_table, cluster_vcpu_total, epoch_next,
    ticks_from_us,
)
from pyhv.cluster.requests import requests_fail_peer
from pyhv.cluster.transport import (
    PEER_LOST, transport_add_peer, transport_peer_state, transport_reset_peer, transport_send, transport_send_datagram,
)
from pyhv.cluster.wire import (
    DROP_BAD_FIELD, DROP_SPOOFED, MAC_BROADCAST, MAX_NODES, MSG_ANNOUNCE, MSG_BOOT, MSG_JOIN, MSG_SETUP_DONE,
    MSG_CLUSTER_TABLE, MSG_WELCOME, NODE_NONE, wire_count_drop, wire_mac_is_unicast, wire_rx_src_mac,
)
from pyhv.cluster.admission import (
    ADMIT_VCPUS_MAX, admission_allowed, admission_join_valid, admission_table_sane, admission_warn_allowed,
)

M_SEEKING: Final = u32(0)
M_JOINED: Final = u32(1)
M_READY: Final = u32(2)         # SETUP_DONE sent
M_BOOTED: Final = u32(3)
M_REFUSED: Final = u32(4)
M_FORMING: Final = u32(5)       # bootstrap before BOOT

WELCOME_OK: Final = u32(0)
WELCOME_BAD_FREQ: Final = u32(1)
WELCOME_FULL: Final = u32(2)
WELCOME_CPUS_CHANGED: Final = u32(3)    # a restarted node came back with another CPU count than its id has

TABLE_MSG_BYTES: Final = u32(652)   # sizeof(ClusterTable)
WELCOME_MSG_BYTES: Final = u32(36)  # sizeof(WelcomeMsg)
JOIN_MSG_BYTES: Final = u32(36)     # sizeof(JoinMsg)
_NEVER: Final = u64(0xFFFFFFFFFFFFFFFF)


class AnnounceMsg(Struct, packed=True):
    mac: u64                # the bootstrap's
    freq_hz: u64
    generation: u32
    booted: u32


class JoinMsg(Struct, packed=True):
    mac: u64
    ram_bytes: u64
    freq_hz: u64
    cpus: u32
    mtu: u32
    incarnation: u32        # this boot's nonce (never 0)


class WelcomeMsg(Struct, packed=True):
    mac: u64                # the joiner's (a WELCOME for another joiner is ignored)
    bootstrap_mac: u64
    freq_hz: u64
    node: u32
    status: u32             # WELCOME_*
    epoch: u32              # the joiner's stream epoch (for every frame of its reliable streams)


class GenerationMsg(Struct, packed=True):
    generation: u32         # SETUP_DONE / BOOT: the table generation it refers to


class MemberState(Struct):
    next_announce: u64
    bootstrap_mac: u64
    state: u32
    setup_mask: u32         # bootstrap: members that sent SETUP_DONE (bit per node id)
    boot_mask: u32          # bootstrap: members sent BOOT
    have_table: u32
    incarnation: u32        # this boot's nonce, sent in JOIN and kept in our table entry
    restarts: u32           # bootstrap: members readmitted with a new incarnation


_mem: Final = Static(MemberState)


def membership_state() -> MemberState:
    return _mem.get()


def membership_init() -> None:
    st = _mem.get()
    me = cluster_self()
    cfg = me.cfg
    t = cluster_table()
    # The boot nonce: the counter at this point of the boot (QEMU and real boards reach it at a slightly
    # different tick on every boot), folded to 32 bits; 0 is reserved for "none".
    now = timer_now()
    st.incarnation = u32((now ^ (now >> 32)) & 0xFFFFFFFF)
    if st.incarnation == 0:
        st.incarnation = u32(1)
    if cfg.role == ROLE_BOOTSTRAP:
        me.node = u16(0)
        t.count = u32(1)
        t.generation = u32(1)
        e = t.entries[0]
        e.mac = me.mac
        e.ram_bytes = cfg.ram_bytes
        e.vcpu_base = u32(0)
        e.vcpu_count = cfg.cpus
        e.mtu = me.mtu
        e.present = u32(1)
        e.incarnation = st.incarnation
        e.epoch = EPOCH_FIRST
        me.epoch = EPOCH_FIRST
        st.state = M_FORMING
        st.setup_mask = u32(1)
        st.boot_mask = u32(1)
        st.have_table = u32(1)
    else:
        me.node = NODE_NONE
        st.state = M_SEEKING
    st.next_announce = timer_now()


def membership_booted() -> bool:
    return _mem.get().state == M_BOOTED


def _send_table(node: u16) -> None:
    transport_send(node, MSG_CLUSTER_TABLE, u8(0), u32(0), addr_of(cluster_table()), TABLE_MSG_BYTES)


def _publish_table() -> None:
    # Bootstrap: the table changed (a member admitted, or `booted` set). Every change bumps the generation
    # and goes to every member, so all copies stay equal; the stream is in order, so a member applies the
    # table before any message the bootstrap queues after it (BOOT sees booted = 1).
    t = cluster_table()
    t.generation += 1
    for n in range(u16(1), u16(t.count)):
        _send_table(n)


def _send_gen(node: u16, msg_type: u32) -> None:
    m = GenerationMsg()
    m.generation = cluster_table().generation
    transport_send(node, msg_type, u8(0), u32(0), addr_of(m), u32(4))


def _boot_member(node: u16) -> None:
    st = _mem.get()
    st.boot_mask = st.boot_mask | (u32(1) << node)
    _send_gen(node, MSG_BOOT)


def membership_tick() -> None:
    st = _mem.get()
    me = cluster_self()
    now = timer_now()
    if me.cfg.role == ROLE_BOOTSTRAP:
        if now >= st.next_announce:
            st.next_announce = now + ticks_from_us(me.cfg.announce_us)
            a = AnnounceMsg()
            a.mac = me.mac
            a.freq_hz = me.cfg.freq_hz
            a.generation = cluster_table().generation
            a.booted = cluster_table().booted
            transport_send_datagram(MAC_BROADCAST, NODE_NONE, MSG_ANNOUNCE, addr_of(a), u32(24))
        if st.state == M_FORMING:
            _maybe_boot(st)
        return
    if st.state == M_JOINED and st.have_table == 1 and clocksync_synced():
        st.state = M_READY
        _send_gen(u16(0), MSG_SETUP_DONE)


def _maybe_boot(st: MemberState) -> None:
    # BOOT once min_nodes are set up and every other admitted node is either set up or lost (a node that
    # died during formation must not hold the cluster back for ever; it can come back by restarting).
    t = cluster_table()
    ready = u32(0)
    lost = u32(0)
    for i in range(u32(0), t.count):
        if ((st.setup_mask >> i) & 1) == 1:
            ready += 1
        elif transport_peer_state(u16(i)) == PEER_LOST:
            lost += 1
    if ready < cluster_cfg().min_nodes or ready + lost != t.count:
        return
    st.state = M_BOOTED
    t.booted = u32(1)
    _publish_table()
    clocksync_guest_started()
    kprint("cluster: booting with %u nodes, %u vCPUs\n", t.count, cluster_vcpu_total())
    if lost != 0:
        kprint("cluster: %u admitted node(s) lost before BOOT: booting without them\n", lost)
    for n in range(u16(1), u16(t.count)):
        if transport_peer_state(n) != PEER_LOST:
            _boot_member(n)


def membership_next_deadline() -> u64:
    st = _mem.get()
    if cluster_cfg().role == ROLE_BOOTSTRAP:
        return st.next_announce
    return _NEVER


def announce_handler(src: u16, req_id: u32, payload: u64, length: u32) -> None:
    st = _mem.get()
    if cluster_cfg().role == ROLE_BOOTSTRAP or st.state != M_SEEKING:
        return
    a = struct_at(AnnounceMsg, payload)
    if a.mac != wire_rx_src_mac():
        wire_count_drop(DROP_SPOOFED)
        return
    if not wire_mac_is_unicast(a.mac) or a.mac == cluster_self().mac:
        wire_count_drop(DROP_BAD_FIELD)
        return
    st.bootstrap_mac = a.mac
    me = cluster_self()
    j = JoinMsg()
    j.mac = me.mac
    j.ram_bytes = me.cfg.ram_bytes
    j.freq_hz = me.cfg.freq_hz
    j.cpus = me.cfg.cpus
    j.mtu = me.mtu
    j.incarnation = st.incarnation
    transport_send_datagram(a.mac, NODE_NONE, MSG_JOIN, addr_of(j), JOIN_MSG_BYTES)


def join_handler(src: u16, req_id: u32, payload: u64, length: u32) -> None:
    # Bootstrap: admit (or re-welcome) a joiner.
    me = cluster_self()
    if me.cfg.role != ROLE_BOOTSTRAP:
        return
    j = struct_at(JoinMsg, payload)
    if j.mac != wire_rx_src_mac():
        wire_count_drop(DROP_SPOOFED)
        return
    if not admission_join_valid(j.mac, me.mac, j.cpus, j.mtu, j.incarnation, j.ram_bytes):
        # Never admit ourselves (issue 12 item 3: node 0 readmitted as its own peer), a MAC no node can
        # have, or a node whose numbers would overrun the vCPU ranges, the RAM window or a message's fragments.
        wire_count_drop(DROP_BAD_FIELD)
        if admission_warn_allowed():
            kprint("cluster: refusing a JOIN from %x: mac %x, %u CPUs, mtu %u\n", wire_rx_src_mac(), j.mac, j.cpus,
                   j.mtu)
        return
    t = cluster_table()
    w = WelcomeMsg()
    w.mac = j.mac
    w.bootstrap_mac = me.mac
    w.freq_hz = me.cfg.freq_hz
    w.status = WELCOME_OK
    w.node = u32(NODE_NONE)
    for i in range(u32(0), t.count):
        if t.entries[i].mac == j.mac:
            w.node = i
    if j.freq_hz != me.cfg.freq_hz:
        w.status = WELCOME_BAD_FREQ
        kprint("cluster: refusing node %x: its counter runs at %u Hz, the cluster's at %u Hz\n",
               j.mac, j.freq_hz, me.cfg.freq_hz)
    elif w.node == u32(NODE_NONE) and (t.count == MAX_NODES or cluster_vcpu_total() + j.cpus > ADMIT_VCPUS_MAX):
        w.status = WELCOME_FULL
        if admission_warn_allowed():
            kprint("cluster: refusing node %x: the cluster is full (%u nodes, %u vCPUs)\n", j.mac, t.count,
                   cluster_vcpu_total())
    elif w.node != u32(NODE_NONE) and t.entries[w.node].incarnation != j.incarnation:
        if t.entries[w.node].vcpu_count != j.cpus:
            w.status = WELCOME_CPUS_CHANGED
            kprint("cluster: refusing node %u (%x) back: it restarted with %u CPUs, its vCPU range has %u\n",
                   w.node, j.mac, j.cpus, t.entries[w.node].vcpu_count)
        elif not admission_allowed():
            return
        else:
            _readmit(u16(w.node), j)
            w.epoch = t.entries[w.node].epoch
            transport_send_datagram(j.mac, NODE_NONE, MSG_WELCOME, addr_of(w), WELCOME_MSG_BYTES)
            _publish_table()
            return
    elif w.node == u32(NODE_NONE):
        if not admission_allowed():
            return
        w.node = t.count
        e = t.entries[t.count]
        e.mac = j.mac
        e.ram_bytes = j.ram_bytes
        e.vcpu_base = cluster_vcpu_total()
        e.vcpu_count = j.cpus
        e.mtu = j.mtu
        e.present = u32(1)
        e.incarnation = j.incarnation
        e.epoch = EPOCH_FIRST
        w.epoch = e.epoch
        t.count += 1
        transport_add_peer(u16(w.node), j.mac)
        kprint("cluster: node %u is %x: %u CPUs (vCPUs %u..), %u MiB\n", w.node, j.mac, j.cpus, e.vcpu_base,
               j.ram_bytes >> 20)
        transport_send_datagram(j.mac, NODE_NONE, MSG_WELCOME, addr_of(w), WELCOME_MSG_BYTES)
        _publish_table()
        return
    if w.status == WELCOME_OK:
        w.epoch = t.entries[w.node].epoch           # a repeated JOIN of the same life: the same answer
    transport_send_datagram(j.mac, NODE_NONE, MSG_WELCOME, addr_of(w), WELCOME_MSG_BYTES)


def _readmit(node: u16, j: JoinMsg) -> None:
    # Bootstrap: a member restarted (same MAC, new incarnation). It keeps its id and vCPU range; the old
    # streams are dropped (requests to it fail), it sets up and boots again like a hot-added node.
    st = _mem.get()
    e = cluster_table().entries[node]
    e.incarnation = j.incarnation
    e.epoch = epoch_next(e.epoch)
    e.ram_bytes = j.ram_bytes
    e.mtu = j.mtu
    membership_forget_stream(node, e.mac)
    st.setup_mask = st.setup_mask & ~(u32(1) << node)
    st.boot_mask = st.boot_mask & ~(u32(1) << node)
    st.restarts += 1
    kprint("cluster: node %u (%x) restarted: readmitted with its id, its old streams dropped\n", node, e.mac)


def membership_forget_stream(node: u16, mac: u64) -> None:
    # Start afresh with a node that restarted: both directions of the old stream go, and requests still
    # waiting on the old incarnation fail with TRANSPORT_ERR_PEER_LOST.
    requests_fail_peer(node)
    transport_reset_peer(node, mac)


def welcome_handler(src: u16, req_id: u32, payload: u64, length: u32) -> None:
    st = _mem.get()
    me = cluster_self()
    w = struct_at(WelcomeMsg, payload)
    if w.mac != me.mac or st.state != M_SEEKING or me.cfg.role == ROLE_BOOTSTRAP:
        return
    if st.bootstrap_mac == 0 or wire_rx_src_mac() != st.bootstrap_mac or w.bootstrap_mac != st.bootstrap_mac:
        # Only the bootstrap we heard in ANNOUNCE (and answered with JOIN) may admit us.
        wire_count_drop(DROP_SPOOFED)
        return
    if w.status > WELCOME_CPUS_CHANGED or (w.status == WELCOME_OK and (
            w.node == 0 or w.node >= MAX_NODES or w.epoch < EPOCH_FIRST or w.epoch > EPOCH_LAST)):
        # Issue 12 item 1: the id indexes every per-node array (node 16 panicked in boot_handler).
        wire_count_drop(DROP_BAD_FIELD)
        return
    if w.status == WELCOME_BAD_FREQ:
        st.state = M_REFUSED
        kprint("cluster: refused: our counter runs at %u Hz, the cluster's at %u Hz\n", me.cfg.freq_hz,
               w.freq_hz)
        return
    if w.status == WELCOME_CPUS_CHANGED:
        st.state = M_REFUSED
        kprint("cluster: refused: node %u had a different CPU count before this node restarted\n", w.node)
        return
    if w.status != WELCOME_OK:
        st.state = M_REFUSED
        kprint("cluster: refused: the cluster is full\n")
        return
    me.node = u16(w.node)
    me.epoch = w.epoch
    st.state = M_JOINED
    st.bootstrap_mac = w.bootstrap_mac
    transport_add_peer(u16(0), w.bootstrap_mac)
    clocksync_start()


def table_handler(src: u16, req_id: u32, payload: u64, length: u32) -> None:
    # A member: take the bootstrap's table and open streams to every member in it.
    if src != 0 or cluster_cfg().role == ROLE_BOOTSTRAP:
        return
    t = cluster_table()
    incoming = struct_at(ClusterTable, payload)
    if incoming.generation < t.generation:
        return
    me = cluster_self()
    if not admission_table_sane(incoming, me.node, me.mac):
        wire_count_drop(DROP_BAD_FIELD)
        return
    for i in range(u16(1), u16(incoming.count)):
        # A member we already had a stream with came back with a new incarnation: start afresh with it.
        if i != me.node and u32(i) < t.count and t.entries[i].incarnation != incoming.entries[i].incarnation:
            membership_forget_stream(i, incoming.entries[i].mac)
    bytecopy(addr_of(t), payload, u64(TABLE_MSG_BYTES))
    for i in range(u16(0), u16(t.count)):
        if i != me.node and t.entries[i].present == 1:
            transport_add_peer(i, t.entries[i].mac)
    _mem.get().have_table = u32(1)


def setup_done_handler(src: u16, req_id: u32, payload: u64, length: u32) -> None:
    st = _mem.get()
    if cluster_cfg().role != ROLE_BOOTSTRAP:
        return
    st.setup_mask = st.setup_mask | (u32(1) << src)
    if st.state == M_BOOTED and ((st.boot_mask >> src) & 1) == 0:
        kprint("cluster: node %u joins the running cluster\n", src)
        _boot_member(src)


def boot_handler(src: u16, req_id: u32, payload: u64, length: u32) -> None:
    st = _mem.get()
    if src != 0 or st.state != M_READY:
        return
    st.state = M_BOOTED
    clocksync_guest_started()
    t = cluster_table()
    me = cluster_self()
    if u32(me.node) >= t.count:
        panic("membership: BOOT with our id outside the table (table_handler admits no such table)")
    e = t.entries[me.node]
    kprint("cluster: node %u booted: %u nodes, my vCPUs %u..%u\n", me.node, t.count, e.vcpu_base,
           e.vcpu_base + e.vcpu_count - 1)
