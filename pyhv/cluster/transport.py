# Reliable transport, one stream per peer (docs/protocol.md "Transport"): sequence numbers, cumulative acks
# (piggybacked on every reliable frame, or a pure MSG_ACK after ack_delay_us), go-back-N retransmission on a
# timeout measured from the round trips (RFC 6298 with Karn's rule, pyhv/cluster/rtt.py; rto_init_us before
# the first sample, never below rto_min_us) that doubles up to rto_max_us, duplicate suppression, a bounded send window
# (TX_WINDOW frames in flight, TX_RING queued) and in-order delivery (out-of-order frames are dropped and
# answered with a duplicate ack; the sender resends them). Messages longer than the cluster MTU allows go as
# consecutive fragments of the same stream, reassembled in order. Time is the counter (timer_now), in ticks.
#
# Sending never waits (docs/protocol.md "Backlog and the non-blocking send"): a message that does not fit
# its peer's ring, or whose peer already has messages parked, goes to the backlog (pyhv/cluster/backlog.py)
# and moves into the ring as acks free space. The timers (retransmit, delayed ack, keepalive, loss) are in
# pyhv/cluster/txtimers.py; receive dispatch and the waiting primitives live in pyhv/cluster/node.py (they
# need MSG_TABLE).

from typing import Annotated, Final

from pyhv.lang import Array, Static, Struct, addr_of, i32, panic, range, struct_zero, u8, u16, u32, u64

from pyhv.arch.timer import timer_now
from pyhv.cluster.backlog import (
    BACKLOG_NONE, BACKLOG_RESERVE, backlog_drop_peer, backlog_free, backlog_head, backlog_msg, backlog_pending,
    backlog_pop, backlog_push,
)
from pyhv.cluster.bytecopy import bytecopy
from pyhv.cluster.nic import nic
from pyhv.cluster.rtt import RttEst, rtt_init, rtt_sample
from pyhv.cluster.table import (
    cluster_cfg, cluster_mtu, cluster_peer_epoch, cluster_self, ticks_from_us,
)
from pyhv.cluster.wire import (
    DROP_BACKLOG_FULL, DROP_BAD_FRAGMENT, DROP_DUPLICATE, DROP_OUT_OF_ORDER, DROP_PEER_LOST, DROP_STALE_STREAM,
    F_ACK, F_RELIABLE, F_REPLY, FRAME_PAD, HDRS_BYTES, MAX_NODES, MSG_ACK, MSG_KEEPALIVE, MSG_MAX_BYTES,
    FrameBuf, WireHeader, wire_count_drop, wire_frag_payload_bytes, wire_frame, wire_payload_addr,
    wire_push_headers, wire_seal, wire_stats,
)

TRANSPORT_OK: Final = u32(0)
TRANSPORT_ERR_PEER_LOST: Final = u32(1)     # declared lost: silent or no progress past lost_after_us
TRANSPORT_ERR_NO_PEER: Final = u32(2)       # not a peer (yet)
TRANSPORT_ERR_TOO_BIG: Final = u32(3)       # longer than MSG_MAX_BYTES
TRANSPORT_ERR_NIC: Final = u32(4)           # the driver refused the frame
TRANSPORT_ERR_BUSY: Final = u32(7)          # (not from the receive path) the backlog is down to its reserve:
                                            # a caller that can wait polls and retries (cluster_send_wait)

RX_NOTHING: Final = u32(0)
RX_DELIVER: Final = u32(1)

PEER_UNUSED: Final = u32(0)
PEER_ACTIVE: Final = u32(1)
PEER_LOST: Final = u32(2)

TX_RING: Final = u32(32)                    # frames queued per peer (in flight + waiting for the window)
TX_WINDOW: Final = u32(16)                  # frames in flight per peer
# A handler sends at most TRANSPORT_HANDLER_SENDS_MAX messages per message it handles, and the timers of one
# cluster_poll at most TRANSPORT_TIMER_SENDS_MAX (a table to <= 15 members; one clock probe). The receive
# path accepts a message for a handler only while the backlog has both budgets free (else the frame is
# dropped as DROP_BACKLOG_FULL and the peer resends it), so handlers and timers always find room. Code on
# the receive path that sends more and finds the pool empty is our bug: a panic naming these constants.
TRANSPORT_HANDLER_SENDS_MAX: Final = u32(16)
TRANSPORT_TIMER_SENDS_MAX: Final = u32(16)


class TxSlot(Struct):
    sent_at: u64            # ticks of the first transmission
    length: u32
    resent: bool            # transmitted more than once: its ack gives no round-trip sample (Karn)
    buf: FrameBuf


class Peer(Struct):
    mac: u64
    last_heard: u64         # ticks when the peer last made progress: new data, or an ack advancing una
    progress_at: u64        # ticks when una last advanced (or the first frame went in flight after none)
    rto_deadline: u64       # retransmit timer, 0 = off
    rto_ticks: u64          # current timeout (rtt.rto, doubled on every expiry)
    ack_due: u64            # a pure ack goes out then unless a frame carries it first; 0 = none owed
    poked_at: u64           # last keepalive
    sent_msgs: u64          # reliable messages queued to the peer
    delivered_msgs: u64     # messages from the peer handed up (at most its sent_msgs: no duplicates)
    retransmits: u64
    rtt: RttEst
    waiting_reqs: u32       # our requests to this peer without a reply yet
    state: u32              # PEER_UNUSED / PEER_ACTIVE / PEER_LOST
    next_seq: u32           # seq of the next frame queued
    una: u32                # oldest unacknowledged seq
    sent: u32               # first queued seq not transmitted yet
    rx_next: u32            # next seq we expect
    rx_type: u32            # reassembly of a fragmented message: its type, flags, req, length, progress
    rx_flags: u32
    rx_req: u32
    rx_msg_len: u32
    rx_got: u32
    rx_next_frag: u32
    reasm: Annotated[Array[u8], 4160]       # MSG_MAX_BYTES
    ring: Annotated[Array[TxSlot], 32]      # TX_RING; seq s lives in ring[s % TX_RING]


class RxMsg(Struct):
    payload: u64            # address of the complete message (in the rx frame or the reassembly buffer)
    length: u32
    msg_type: u32
    flags: u32
    req_id: u32
    src: u16


class TransportState(Struct):
    pure_acks: u64
    keepalives: u64
    refused: u64            # frames dropped as DROP_BACKLOG_FULL
    reasm_abandoned: u64    # fragmented messages cut off by a whole message (only a broken peer sends that)
    dispatching: bool       # inside cluster_poll (a handler or a timer): sends must never wait
    scratch: FrameBuf       # pure acks, datagrams
    peers: Annotated[Array[Peer], 16]       # MAX_NODES


_tp: Final = Static(TransportState)


def _seq_before(a: u32, b: u32) -> bool:
    return i32(a - b) < 0


def transport_state() -> TransportState:
    return _tp.get()


def transport_peer(node: u16) -> Peer:
    return _tp.get().peers[node]


def transport_add_peer(node: u16, mac: u64) -> None:
    # Start a stream with a node the table names (idempotent: an existing stream is kept).
    p = _tp.get().peers[node]
    if p.state != PEER_UNUSED:
        return
    p.state = PEER_ACTIVE
    p.mac = mac
    rtt_init(p.rtt, ticks_from_us(cluster_cfg().rto_init_us))
    p.rto_ticks = p.rtt.rto
    p.last_heard = timer_now()
    p.progress_at = p.last_heard


def transport_reset_peer(node: u16, mac: u64) -> None:
    # The node restarted: forget the old stream in both directions (queued frames, sequence numbers,
    # reassembly, timers, counters) and start a fresh one, as with a node never seen. A lost peer becomes
    # active again this way.
    p = _tp.get().peers[node]
    struct_zero(p)
    backlog_drop_peer(node)
    transport_add_peer(node, mac)


def transport_peer_state(node: u16) -> u32:
    if u32(node) >= MAX_NODES:
        return PEER_UNUSED
    return _tp.get().peers[node].state


def _epochs(node: u16) -> u8:
    # The stream epochs a frame between us and `node` carries: ours << 4 | theirs.
    return u8(((cluster_self().epoch & 0xF) << 4) | (cluster_peer_epoch(node) & 0xF))


def _current_stream(h: WireHeader) -> bool:
    # A reliable/control frame belongs to the current lives of both ends: its sender's epoch is the one
    # we know for it and its receiver's is ours. Anything else is from or to a node's earlier life (a
    # restart): its seq and ack belong to a stream that no longer exists.
    return u32(h.epochs) == ((cluster_peer_epoch(h.src_node) & 0xF) << 4) | (cluster_self().epoch & 0xF)


def transport_transmit(p: Peer, node: u16, seq: u32) -> u32:
    slot = p.ring[seq % TX_RING]
    h = wire_frame(addr_of(slot.buf)).hdr
    h.epochs = _epochs(node)
    h.ack = p.rx_next
    h.flags = h.flags | F_ACK
    wire_seal(addr_of(slot.buf))
    p.ack_due = u64(0)
    wire_stats().tx_frames += 1
    return nic().send(addr_of(slot.buf) + FRAME_PAD, slot.length)


def _pump(p: Peer, node: u16) -> None:
    # Transmit queued frames while the window has room.
    while p.sent != p.next_seq and p.sent - p.una < TX_WINDOW:
        slot = p.ring[p.sent % TX_RING]
        slot.sent_at = timer_now()
        slot.resent = False
        if p.sent == p.una:
            p.progress_at = slot.sent_at        # the stall clock starts with the first frame in flight
        transport_transmit(p, node, p.sent)
        p.sent += 1
        if p.rto_deadline == 0:
            p.rto_deadline = timer_now() + p.rto_ticks


def _on_ack(p: Peer, ack: u32) -> None:
    if _seq_before(p.una, ack) and not _seq_before(p.sent, ack):
        p.una = ack
        now = timer_now()
        p.last_heard = now
        p.progress_at = now
        newest = p.ring[(ack - 1) % TX_RING]
        if not newest.resent:
            cfg = cluster_cfg()
            rtt_sample(p.rtt, now - newest.sent_at, ticks_from_us(cfg.rto_min_us), ticks_from_us(cfg.rto_max_us))
        p.rto_ticks = p.rtt.rto
        p.rto_deadline = u64(0) if p.una == p.sent else now + p.rto_ticks


def _ring_free(p: Peer) -> u32:
    return TX_RING - (p.next_seq - p.una)


def transport_handler_context() -> bool:
    return _tp.get().dispatching


def transport_set_dispatching(on: bool) -> None:
    # cluster_poll marks the receive path (handlers and timers run inside it); it panics if it is entered
    # again from inside, which only a handler or timer that waits could do.
    _tp.get().dispatching = on


def _frags(length: u32) -> u32:
    per_frame = wire_frag_payload_bytes(cluster_mtu())
    nfrag = (length + per_frame - 1) // per_frame
    return nfrag if nfrag != 0 else u32(1)


def transport_send(dst: u16, msg_type: u32, flags: u8, req_id: u32, payload: u64, length: u32) -> u32:
    # Queue a message on dst's reliable stream and transmit what the window allows; never waits. If dst's
    # ring has no room, or earlier messages to dst are parked, the message is parked in the backlog (per-peer
    # order is kept). From outside the receive path a send that would take one of the last BACKLOG_RESERVE
    # buffers returns TRANSPORT_ERR_BUSY instead (cluster_send_wait polls and retries); inside it, the
    # buffers are guaranteed by the receive path's admission rule (TRANSPORT_HANDLER_SENDS_MAX).
    if u32(dst) >= MAX_NODES:
        return TRANSPORT_ERR_NO_PEER
    if length > MSG_MAX_BYTES:
        return TRANSPORT_ERR_TOO_BIG
    p = _tp.get().peers[dst]
    if p.state == PEER_UNUSED:
        return TRANSPORT_ERR_NO_PEER
    if p.state != PEER_ACTIVE:
        return TRANSPORT_ERR_PEER_LOST
    nfrag = _frags(length)
    if backlog_pending(dst) == 0 and _ring_free(p) >= nfrag:
        transport_queue_msg(p, dst, msg_type, flags, req_id, payload, length, nfrag)
        return TRANSPORT_OK
    if not _tp.get().dispatching and backlog_free() <= BACKLOG_RESERVE:
        return TRANSPORT_ERR_BUSY
    if not backlog_push(dst, msg_type, flags, req_id, payload, length):
        panic("transport: send backlog exhausted on the receive path: a handler or timer sent more than "
              "TRANSPORT_HANDLER_SENDS_MAX / TRANSPORT_TIMER_SENDS_MAX messages (BACKLOG_BUFS sizes them)")
    return TRANSPORT_OK


def transport_drain(p: Peer, node: u16) -> None:
    # Move parked messages to node's ring, oldest first, while they fit.
    while p.state == PEER_ACTIVE:
        link = backlog_head(node)
        if link == BACKLOG_NONE:
            return
        m = backlog_msg(link)
        nfrag = _frags(m.length)
        if _ring_free(p) < nfrag:
            return
        transport_queue_msg(p, node, m.msg_type, u8(m.flags), m.req_id, addr_of(m.data), m.length, nfrag)
        backlog_pop(node)


def transport_queue_msg(p: Peer, dst: u16, msg_type: u32, flags: u8, req_id: u32, payload: u64, length: u32,
                        nfrag: u32) -> None:
    # Build the message's frames in dst's ring (the caller made room) and start transmitting.
    if _ring_free(p) < nfrag:
        panic("transport: queueing a message into a ring without room for it")
    me = cluster_self()
    per_frame = wire_frag_payload_bytes(cluster_mtu())
    done = u32(0)
    for i in range(u32(0), nfrag):
        chunk = length - done
        if chunk > per_frame:
            chunk = per_frame
        slot = p.ring[p.next_seq % TX_RING]
        buf = addr_of(slot.buf)
        bytecopy(wire_payload_addr(buf), payload + u64(done), u64(chunk))
        h = wire_push_headers(buf, p.mac, me.mac, msg_type, flags | F_RELIABLE, me.node, dst, req_id,
                              chunk, length, u16(me.cfg.cluster_id))
        h.seq = p.next_seq
        h.frag_index = u8(i)
        h.frag_count = u8(nfrag)
        slot.length = HDRS_BYTES + chunk
        p.next_seq += 1
        done += chunk
    p.sent_msgs += 1
    _pump(p, dst)


def transport_send_datagram(dst_mac: u64, dst_node: u16, msg_type: u32, payload: u64, length: u32) -> u32:
    # One unreliable frame (discovery), sent at once.
    if length > MSG_MAX_BYTES:
        return TRANSPORT_ERR_TOO_BIG
    me = cluster_self()
    buf = addr_of(_tp.get().scratch)
    bytecopy(wire_payload_addr(buf), payload, u64(length))
    wire_push_headers(buf, dst_mac, me.mac, msg_type, u8(0), me.node, dst_node, u32(0), length, length,
                      u16(me.cfg.cluster_id))
    wire_seal(buf)
    wire_stats().tx_frames += 1
    if nic().send(buf + FRAME_PAD, HDRS_BYTES + length) != 0:
        return TRANSPORT_ERR_NIC
    return TRANSPORT_OK


def transport_send_pure_ack(p: Peer, node: u16) -> None:
    st = _tp.get()
    me = cluster_self()
    buf = addr_of(st.scratch)
    h = wire_push_headers(buf, p.mac, me.mac, MSG_ACK, F_ACK, me.node, node, u32(0), u32(0), u32(0),
                          u16(me.cfg.cluster_id))
    h.epochs = _epochs(node)
    h.ack = p.rx_next
    wire_seal(buf)
    p.ack_due = u64(0)
    st.pure_acks += 1
    wire_stats().tx_frames += 1
    nic().send(buf + FRAME_PAD, HDRS_BYTES)


def transport_rx(buf: u64, out: RxMsg) -> u32:
    # A validated frame from a cluster member: take its ack, then deliver it if it is the next in the
    # peer's stream (RX_DELIVER with `out` filled) or count it as duplicate / out of order.
    h = wire_frame(buf).hdr
    p = _tp.get().peers[h.src_node]
    if p.state != PEER_ACTIVE:
        wire_count_drop(DROP_PEER_LOST)
        return RX_NOTHING
    if not _current_stream(h):
        wire_count_drop(DROP_STALE_STREAM)
        return RX_NOTHING
    now = timer_now()
    if (h.flags & F_ACK) != 0:
        _on_ack(p, h.ack)
        transport_drain(p, h.src_node)
        _pump(p, h.src_node)
    if (h.flags & F_RELIABLE) == 0:
        return RX_NOTHING
    if h.seq != p.rx_next:
        wire_count_drop(DROP_DUPLICATE if _seq_before(h.seq, p.rx_next) else DROP_OUT_OF_ORDER)
        transport_send_pure_ack(p, h.src_node)
        return RX_NOTHING
    if ((h.flags & F_REPLY) == 0 and u32(h.msg_type) != MSG_KEEPALIVE
            and backlog_free() < TRANSPORT_HANDLER_SENDS_MAX + TRANSPORT_TIMER_SENDS_MAX):
        # Its handler might find no buffer for what it sends: refuse the frame for now (the peer resends
        # it); replies and keepalives send nothing and are always taken.
        _tp.get().refused += 1
        wire_count_drop(DROP_BACKLOG_FULL)
        return RX_NOTHING
    p.rx_next += 1
    p.last_heard = now
    if p.ack_due == 0:
        p.ack_due = now + ticks_from_us(cluster_cfg().ack_delay_us)
    return _reassemble(p, h, wire_payload_addr(buf), out)


def _reassemble(p: Peer, h: WireHeader, payload: u64, out: RxMsg) -> u32:
    if h.frag_count == 1:
        if p.rx_next_frag != 0:
            # A whole message after an unfinished one: the partial message is abandoned (its frames were
            # taken, so they are not drops; this frame is delivered).
            _tp.get().reasm_abandoned += 1
            p.rx_next_frag = u32(0)
        return _deliver(p, h, payload, u32(h.msg_len), out)
    if h.frag_index == 0:
        p.rx_type = u32(h.msg_type)
        p.rx_flags = u32(h.flags)
        p.rx_req = h.req_id
        p.rx_msg_len = u32(h.msg_len)
        p.rx_got = u32(0)
        p.rx_next_frag = u32(0)
    if (u32(h.frag_index) != p.rx_next_frag or u32(h.msg_type) != p.rx_type or h.req_id != p.rx_req
            or u32(h.msg_len) != p.rx_msg_len or p.rx_got + u32(h.payload_len) > p.rx_msg_len):
        wire_count_drop(DROP_BAD_FRAGMENT)
        p.rx_next_frag = u32(0)
        return RX_NOTHING
    bytecopy(addr_of(p.reasm) + u64(p.rx_got), payload, u64(h.payload_len))
    p.rx_got += u32(h.payload_len)
    p.rx_next_frag += 1
    if p.rx_next_frag < u32(h.frag_count):
        return RX_NOTHING
    p.rx_next_frag = u32(0)
    if p.rx_got != p.rx_msg_len:
        wire_count_drop(DROP_BAD_FRAGMENT)
        return RX_NOTHING
    return _deliver(p, h, addr_of(p.reasm), p.rx_got, out)


def _deliver(p: Peer, h: WireHeader, payload: u64, length: u32, out: RxMsg) -> u32:
    p.delivered_msgs += 1
    out.payload = payload
    out.length = length
    out.msg_type = u32(h.msg_type)
    out.flags = u32(h.flags)
    out.req_id = h.req_id
    out.src = h.src_node
    return RX_DELIVER
