# The cluster soak: this node sends `pairs` ECHO requests, each carrying a page of pseudo-random data and
# its checksum, to every other live member in turn (SOAK_WINDOW outstanding at a time; a peer declared lost
# is skipped from then on and its outstanding requests count as failed), and verifies every
# reply: the request id it came back under (transport_wait_reply), the echoed token + 1, the sequence
# number and source, and the page's checksum. It then prints one summary line (docs/protocol.md):
#   soak: done sent=<n> ok=<n> bad=<n> retransmits=<n> dup_dropped=<n> ooo_dropped=<n> failed=<n> ticks=<n>
#   soak: rtt_us p50=<us> p99=<us> max=<us> window=<w>      (request issue -> reply checked, 50 us buckets)
# plus `soak: to node <j> sent <n>` and `soak: from node <i> served <n>` lines, so a test can prove every
# request was handled exactly once (what i sent to j equals what j served from i).

from typing import Annotated, Final

from pyhv.lang import Array, Static, Struct, addr_of, kprint, range, struct_at, u16, u32, u64

from pyhv.arch.timer import timer_freq_hz, timer_now
from pyhv.cluster.echo import echo_stats
from pyhv.cluster.node import cluster_step, transport_request_wait, transport_wait_reply
from pyhv.cluster.requests import Reply
from pyhv.cluster.table import cluster_my_node, cluster_table
from pyhv.cluster.transport import PEER_ACTIVE, TRANSPORT_OK, transport_peer, transport_peer_state
from pyhv.cluster.wire import DROP_DUPLICATE, DROP_OUT_OF_ORDER, MSG_ECHO, wire_stats

SOAK_WINDOW: Final = u32(4)                 # most requests in flight (REQ_SLOTS allows 64 per node)
RTT_BUCKET_US: Final = u64(50)
RTT_BUCKETS: Final = u32(1024)              # the last bucket holds everything >= 51.15 ms
SOAK_WORDS: Final = u32(512)                # a 4 KiB page of u64 words
SOAK_MSG_BYTES: Final = u32(4128)           # sizeof(SoakMsg)
_FNV64_BASIS: Final = u64(0xCBF29CE484222325)
_FNV64_PRIME: Final = u64(0x100000001B3)


class SoakMsg(Struct, packed=True):
    token: u64              # EchoHead: the echo service returns it + 1
    seq: u64                # the request's index at its sender
    csum: u64               # FNV-1a (64-bit, per word) of data
    src: u32                # sender node id
    dst: u32                # receiver node id
    data: Annotated[Array[u64], 512]


class SoakSlot(Struct):
    req_id: u32
    dst: u32
    token: u64
    seq: u64
    csum: u64
    issued_at: u64


class SoakState(Struct):
    sent: u64
    ok: u64
    bad: u64
    failed: u64                 # requests that could not be issued or whose peer was lost
    head: u32                   # oldest outstanding slot
    count: u32                  # outstanding
    next_peer: u32
    window: u32                 # requests kept in flight, 1..SOAK_WINDOW
    rtt_max: u64                # ticks
    rtt_hist: Annotated[Array[u32], 1024]   # RTT_BUCKETS of RTT_BUCKET_US
    sent_to: Annotated[Array[u64], 16]
    ring: Annotated[Array[SoakSlot], 4]     # SOAK_WINDOW
    msg: SoakMsg
    reply: Reply


_soak: Final = Static(SoakState)


def soak_state() -> SoakState:
    return _soak.get()


def soak_checksum(m: SoakMsg) -> u64:
    h = _FNV64_BASIS
    for i in range(u32(0), SOAK_WORDS):
        h = (h ^ m.data[i]) * _FNV64_PRIME
    return h


def soak_fill(m: SoakMsg, token: u64) -> None:
    # Page contents derived from the token (xorshift64), so every request carries different data.
    x = token * u64(0x9E3779B97F4A7C15) + 1
    for i in range(u32(0), SOAK_WORDS):
        x = x ^ (x << 13)
        x = x ^ (x >> 7)
        x = x ^ (x << 17)
        m.data[i] = x
    m.csum = soak_checksum(m)


def _next_peer(st: SoakState) -> u32:
    # Round robin over the other members that are not lost.
    t = cluster_table()
    me = u32(cluster_my_node())
    for i in range(u32(0), t.count):
        p = (st.next_peer + i) % t.count
        if p != me and t.entries[p].present == 1 and transport_peer_state(u16(p)) == PEER_ACTIVE:
            st.next_peer = (p + 1) % t.count
            return p
    return u32(0xFFFFFFFF)


def _issue(st: SoakState, seq: u64) -> bool:
    # Send request `seq` to the next peer; False if no peer or no request slot.
    dst = _next_peer(st)
    if dst == u32(0xFFFFFFFF):
        return False
    me = cluster_my_node()
    m = st.msg
    m.token = (u64(me) << 40) | seq
    m.seq = seq
    m.src = u32(me)
    m.dst = dst
    soak_fill(m, m.token)
    req = transport_request_wait(u16(dst), MSG_ECHO, addr_of(m), SOAK_MSG_BYTES)
    if req == 0:
        return False
    s = st.ring[(st.head + st.count) % SOAK_WINDOW]
    s.req_id = req
    s.dst = dst
    s.token = m.token
    s.seq = seq
    s.csum = m.csum
    s.issued_at = timer_now()
    st.count += 1
    st.sent += 1
    st.sent_to[dst] += 1
    return True


def _check(st: SoakState, s: SoakSlot) -> bool:
    r = st.reply
    if r.length != SOAK_MSG_BYTES or r.msg_type != MSG_ECHO:
        return False
    m = struct_at(SoakMsg, addr_of(r.data))
    if m.token != s.token + 1 or m.seq != s.seq or m.src != u32(cluster_my_node()) or m.dst != s.dst:
        return False
    return m.csum == s.csum and soak_checksum(m) == s.csum


def _record_rtt(st: SoakState, ticks: u64) -> None:
    if ticks > st.rtt_max:
        st.rtt_max = ticks
    b = ticks * 1000000 // timer_freq_hz() // RTT_BUCKET_US
    if b >= u64(RTT_BUCKETS):
        b = u64(RTT_BUCKETS - 1)
    st.rtt_hist[b] += 1


def _rtt_percentile_us(st: SoakState, total: u64, pct: u64) -> u64:
    # Upper edge of the bucket holding the pct-th percentile.
    want = (total * pct + 99) // 100
    seen = u64(0)
    for b in range(u32(0), RTT_BUCKETS):
        seen += u64(st.rtt_hist[b])
        if seen >= want:
            return (u64(b) + 1) * RTT_BUCKET_US
    return u64(RTT_BUCKETS) * RTT_BUCKET_US


def _complete_oldest(st: SoakState) -> None:
    s = st.ring[st.head]
    if transport_wait_reply(s.req_id, st.reply) == TRANSPORT_OK:
        _record_rtt(st, timer_now() - s.issued_at)
        if _check(st, s):
            st.ok += 1
        else:
            st.bad += 1
    else:
        st.failed += 1
    st.head = (st.head + 1) % SOAK_WINDOW
    st.count -= 1


def soak_retransmits() -> u64:
    total = u64(0)
    t = cluster_table()
    for i in range(u32(0), t.count):
        if i != u32(cluster_my_node()):
            total += transport_peer(u16(i)).retransmits
    return total


def soak_run(pairs: u32, window: u32) -> None:
    # Run this node's share of the soak, `window` requests in flight, and print its summary (the node
    # keeps serving the others meanwhile).
    st = _soak.get()
    st.window = window
    if st.window == 0 or st.window > SOAK_WINDOW:
        st.window = SOAK_WINDOW
    start = timer_now()
    seq = u64(0)
    while seq < u64(pairs) or st.count > 0:
        while st.count < st.window and seq < u64(pairs):
            if not _issue(st, seq):
                break
            seq += 1
        if st.count > 0:
            _complete_oldest(st)
        elif seq < u64(pairs):
            # Nobody to send to, or no request slot: count it failed rather than spin for ever.
            st.failed += 1
            seq += 1
            cluster_step()
    ticks = timer_now() - start
    ws = wire_stats()
    kprint("soak: done sent=%u ok=%u bad=%u retransmits=%u dup_dropped=%u ooo_dropped=%u failed=%u ticks=%u\n",
           st.sent, st.ok, st.bad, soak_retransmits(), ws.drops[DROP_DUPLICATE], ws.drops[DROP_OUT_OF_ORDER],
           st.failed, ticks)
    if st.ok != 0:
        kprint("soak: rtt_us p50=%u p99=%u max=%u window=%u\n", _rtt_percentile_us(st, st.ok, u64(50)),
               _rtt_percentile_us(st, st.ok, u64(99)), st.rtt_max * 1000000 // timer_freq_hz(), st.window)
    t = cluster_table()
    for j in range(u32(0), t.count):
        if j != u32(cluster_my_node()):
            kprint("soak: to node %u sent %u\n", j, st.sent_to[j])


def soak_report_served() -> None:
    # What this node served, per source; call last (others may still be soaking when we finish).
    t = cluster_table()
    es = echo_stats()
    for j in range(u32(0), t.count):
        if j != u32(cluster_my_node()):
            kprint("soak: from node %u served %u\n", j, es.handled[j])
