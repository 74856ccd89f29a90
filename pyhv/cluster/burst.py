# The bidirectional one-way burst (docs/protocol.md "Burst"): this node sends `count` page-sized one-way
# ECHO messages (req_id 0, not answered; pyhv/cluster/echo.py checks them) to every other live member,
# round robin, as fast as the transport takes them, while the others do the same to it: the traffic a DSM
# makes (pages and invalidations both ways, sent from handlers). It used to deadlock: a sender with a full
# TX ring read only acks and dropped the peer's data. It then waits until its own messages are all acked
# and, with `expect` set, until `count` messages from every other live member arrived, or until
# `wait_ticks` passed (0: no limit), and prints (tests parse these lines):
#   burst: done sent=<n> bytes=<n> ticks=<n> complete=<0|1> parked_max=<n> refused=<n> retransmits=<n>
#   burst: to node <j> sent <n>                   burst: from node <i> got <n> bad=<n>
# "got" counts messages that arrived whole and in per-sender order; bad those out of order or damaged.

from typing import Annotated, Final

from pyhv.lang import Array, Static, Struct, addr_of, kprint, range, u16, u32, u64, u8

from pyhv.arch.timer import timer_now
from pyhv.cluster.backlog import backlog_pending, backlog_state
from pyhv.cluster.echo import ECHO_ONEWAY_CHECK, echo_stats
from pyhv.cluster.node import cluster_send_wait, cluster_step
from pyhv.cluster.table import cluster_my_node, cluster_table
from pyhv.cluster.transport import PEER_ACTIVE, TRANSPORT_OK, transport_peer, transport_peer_state, transport_state
from pyhv.cluster.wire import MSG_ECHO

BURST_WORDS: Final = u32(514)               # token + a 4 KiB page + check word
BURST_MSG_BYTES: Final = u32(4112)          # sizeof(BurstMsg)


class BurstMsg(Struct, packed=True):
    words: Annotated[Array[u64], 514]       # [0] token (EchoHead), [1..512] the page, [513] token ^ check


class BurstState(Struct):
    sent: u64
    failed: u64             # transport_send refused it (the peer was lost)
    sent_to: Annotated[Array[u64], 16]
    msg: BurstMsg


_burst: Final = Static(BurstState)


def burst_state() -> BurstState:
    return _burst.get()


def _fill(m: BurstMsg, token: u64) -> None:
    m.words[0] = token
    x = token * u64(0x9E3779B97F4A7C15) + 1
    for i in range(u32(1), BURST_WORDS - 1):
        x = x ^ (x << 13)
        x = x ^ (x >> 7)
        x = x ^ (x << 17)
        m.words[i] = x
    m.words[BURST_WORDS - 1] = token ^ ECHO_ONEWAY_CHECK


def _live_peer(j: u32) -> bool:
    return j != u32(cluster_my_node()) and transport_peer_state(u16(j)) == PEER_ACTIVE


def _settled(count: u32, expect: bool) -> bool:
    # Every message we sent is acked, and (expect) every live peer's burst to us has arrived.
    t = cluster_table()
    es = echo_stats()
    for j in range(u32(0), t.count):
        if not _live_peer(j):
            continue
        p = transport_peer(u16(j))
        if backlog_pending(u16(j)) != 0 or p.una != p.next_seq:
            return False
        if expect and es.oneway[j] + es.oneway_bad[j] < u64(count):
            return False
    return True


def burst_run(count: u32, expect: bool, wait_ticks: u64) -> bool:
    # Run this node's burst and wait for it to settle; True if it did within wait_ticks.
    st = _burst.get()
    me = u64(cluster_my_node())
    start = timer_now()
    for k in range(u32(0), count):
        t = cluster_table()
        for j in range(u32(0), t.count):
            if not _live_peer(j):
                continue
            token = (me << 32) | u64(k)
            _fill(st.msg, token)
            if cluster_send_wait(u16(j), MSG_ECHO, u8(0), u32(0), addr_of(st.msg), BURST_MSG_BYTES) == TRANSPORT_OK:
                st.sent += 1
                st.sent_to[j] += 1
            else:
                st.failed += 1
    complete = True
    while not _settled(count, expect):
        if wait_ticks != 0 and timer_now() - start >= wait_ticks:
            complete = False
            break
        cluster_step()
    ticks = timer_now() - start
    retrans = u64(0)
    t = cluster_table()
    for j in range(u32(0), t.count):
        if u64(j) != me:
            retrans += transport_peer(u16(j)).retransmits
    kprint("burst: done sent=%u bytes=%u ticks=%u complete=%u parked_max=%u refused=%u retransmits=%u\n",
           st.sent, st.sent * u64(BURST_MSG_BYTES), ticks, u32(1) if complete else u32(0),
           backlog_state().high_water, transport_state().refused, retrans)
    return complete


def burst_report() -> None:
    # Per-peer lines; call last (the others may still be bursting when ours settled without `expect`).
    t = cluster_table()
    es = echo_stats()
    st = _burst.get()
    for j in range(u32(0), t.count):
        if u64(j) != u64(cluster_my_node()):
            kprint("burst: to node %u sent %u\n", j, st.sent_to[j])
            kprint("burst: from node %u got %u bad=%u\n", j, es.oneway[j], es.oneway_bad[j])
