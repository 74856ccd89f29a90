# The transport's timers (docs/protocol.md "Transport", "Loss"): retransmission on timeout (go-back-N,
# the timeout doubling up to rto_max_us), delayed pure acks, keepalives and loss detection, for every peer;
# and transport_next_deadline, the earliest tick at which any of them has work. Run from cluster_poll
# (pyhv/cluster/node.py), i.e. on the receive path: nothing here waits.
#
# Loss, two rules, both only while we wait on the peer (frames in flight or requests outstanding):
#   silence   - no progress from the peer (new data from it, or an ack advancing our una: last_heard) for
#               lost_after_us; a peer that is merely quiet is poked with a KEEPALIVE after keepalive_us;
#   no progress - frames in flight and una not advanced for lost_after_us (progress_at), however much else
#               the peer sends: acks that advance nothing, or fresh data while it never acks ours, do not
#               keep it alive (issue 12 item 2).
# A lost peer's requests fail with TRANSPORT_ERR_PEER_LOST, its parked messages are dropped, and a console
# line says so.

from typing import Final

from pyhv.lang import addr_of, kprint, range, u8, u16, u32, u64

from pyhv.arch.timer import timer_now
from pyhv.cluster.backlog import backlog_drop_peer
from pyhv.cluster.table import cluster_cfg, cluster_table, ticks_from_us
from pyhv.cluster.transport import (
    PEER_ACTIVE, PEER_LOST, TX_RING, Peer, transport_drain, transport_queue_msg, transport_send_pure_ack,
    transport_state, transport_transmit,
)
from pyhv.cluster.wire import MSG_KEEPALIVE

TIMER_NEVER: Final = u64(0xFFFFFFFFFFFFFFFF)


def _peer_bound() -> u32:
    # Peers exist only for ids in the table (a joiner has node 0 before its first table arrives).
    n = cluster_table().count
    return n if n > 0 else u32(1)


def _peer_lost(p: Peer, node: u16, silent: u64, stalled: bool) -> None:
    p.state = PEER_LOST
    p.rto_deadline = u64(0)
    p.ack_due = u64(0)
    parked = backlog_drop_peer(node)
    kprint("cluster: node %u lost: %s for %u ms with %u frames unacked, %u parked and %u requests waiting\n",
           node, "no progress" if stalled else "silent", silent * 1000 // cluster_cfg().freq_hz,
           p.next_seq - p.una, parked, p.waiting_reqs)


def _retransmit(p: Peer, n: u16, now: u64) -> None:
    cfg = cluster_cfg()
    s = p.una
    while s != p.sent:
        p.ring[s % TX_RING].resent = True
        transport_transmit(p, n, s)
        p.retransmits += 1
        s += 1
    p.rto_ticks = p.rto_ticks * 2
    if p.rto_ticks > ticks_from_us(cfg.rto_max_us):
        p.rto_ticks = ticks_from_us(cfg.rto_max_us)
    p.rto_deadline = now + p.rto_ticks


def transport_timers() -> None:
    # Retransmissions, delayed acks, keepalives and loss detection for every peer.
    st = transport_state()
    cfg = cluster_cfg()
    now = timer_now()
    lost_after = ticks_from_us(cfg.lost_after_us)
    keepalive = ticks_from_us(cfg.keepalive_us)
    for n in range(u16(0), u16(_peer_bound())):
        p = st.peers[n]
        if p.state != PEER_ACTIVE:
            continue
        transport_drain(p, n)
        if p.rto_deadline != 0 and now >= p.rto_deadline:
            _retransmit(p, n, now)
        if p.ack_due != 0 and now >= p.ack_due:
            transport_send_pure_ack(p, n)
        if p.una == p.next_seq and p.waiting_reqs == 0:
            continue
        silent = now - p.last_heard
        if silent >= lost_after:
            _peer_lost(p, n, silent, False)
        elif p.una != p.sent and now - p.progress_at >= lost_after:
            _peer_lost(p, n, now - p.progress_at, True)
        elif p.una == p.next_seq and silent >= keepalive and now - p.poked_at >= keepalive:
            p.poked_at = now
            st.keepalives += 1
            transport_queue_msg(p, n, MSG_KEEPALIVE, u8(0), u32(0), addr_of(st.scratch), u32(0), u32(1))


def transport_next_deadline() -> u64:
    # The earliest tick at which transport_timers has work (TIMER_NEVER if none): what the EL2 timer is
    # armed with before waiting, and what the simulator wakes the node at.
    st = transport_state()
    cfg = cluster_cfg()
    lost_after = ticks_from_us(cfg.lost_after_us)
    keepalive = ticks_from_us(cfg.keepalive_us)
    best = TIMER_NEVER
    for n in range(u32(0), _peer_bound()):
        p = st.peers[n]
        if p.state != PEER_ACTIVE:
            continue
        if p.rto_deadline != 0 and p.rto_deadline < best:
            best = p.rto_deadline
        if p.ack_due != 0 and p.ack_due < best:
            best = p.ack_due
        if p.una != p.next_seq or p.waiting_reqs != 0:
            t = p.last_heard + lost_after
            if p.una != p.sent and p.progress_at + lost_after < t:
                t = p.progress_at + lost_after
            if p.una == p.next_seq:
                # nothing in flight: the next keepalive is due
                poke = p.last_heard + keepalive
                if p.poked_at + keepalive > poke:
                    poke = p.poked_at + keepalive
                if poke < t:
                    t = poke
            if t < best:
                best = t
    return best
