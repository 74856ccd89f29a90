# The cluster's receive path and its one waiting primitive. cluster_poll drains the NIC (validating every
# frame: a bad one is dropped and counted in WireStats, never a panic), feeds the reliable transport,
# dispatches complete messages through MSG_TABLE (replies go to the request table), and runs the timers of
# the transport, membership and clock sync. Everything inside cluster_poll (handlers, timers) never waits.
# The waiting primitives, for callers outside the receive path only (a vCPU, a workload loop), keep calling
# cluster_poll until what they wait for is there, so requests from the peer we wait on are served
# meanwhile and two nodes waiting on each other do not deadlock: transport_wait_reply (a reply),
# transport_request_wait (a free request slot), cluster_send_wait (a send backlog buffer). Called from
# inside cluster_poll they panic: a handler that waits could wait for itself. An idle node sleeps in cluster_sleep_until(cluster_next_deadline()) (pyhv/cluster/idle.py:
# on hardware WFI until the NIC interrupt or the EL2 timer; in the simulator the baton passes).

from typing import Final

from pyhv.lang import Static, Struct, addr_of, panic, range, struct_copy, u8, u16, u32, u64

from pyhv.cluster.clocksync import clocksync_init, clocksync_next_deadline, clocksync_tick
from pyhv.cluster.idle import cluster_sleep_until
from pyhv.cluster.membership import membership_init, membership_next_deadline, membership_tick
from pyhv.cluster.msgtable import msgtable_check, msgtable_row
from pyhv.cluster.nic import nic
from pyhv.cluster.requests import (
    REPLY_PENDING, TRANSPORT_ERR_NO_SLOT, Reply, request_table, requests_waiting, transport_complete,
    transport_poll_reply, transport_request,
)
from pyhv.cluster.table import ClusterConfig, cluster_self
from pyhv.cluster.transport import (
    PEER_UNUSED, RX_DELIVER, TRANSPORT_ERR_BUSY, RxMsg, transport_handler_context, transport_peer,
    transport_peer_state, transport_rx, transport_send, transport_set_dispatching,
)
from pyhv.cluster.txtimers import transport_next_deadline, transport_timers
from pyhv.cluster.wire import (
    DROP_NONE, DROP_NOT_MEMBER, DROP_SPOOFED, F_REPLY, FRAME_BUF_BYTES, FRAME_PAD, HDRS_BYTES, KIND_DATAGRAM, MSG_TYPES,
    FrameBuf, wire_count_drop, wire_frame, wire_get_mac, wire_payload_addr, wire_peek_type, wire_stats, wire_validate,
)

RX_BUDGET: Final = u32(16)          # frames handled per cluster_poll before the timers run
_UNKNOWN_KIND: Final = u32(0xFFFFFFFF)


class NodeRx(Struct):
    rx: FrameBuf
    msg: RxMsg


_rx: Final = Static(NodeRx)


def cluster_init(cfg: ClusterConfig) -> None:
    # Everything the node needs before its first cluster_poll (the NIC and clock ops are set already).
    msgtable_check()
    me = cluster_self()
    struct_copy(me.cfg, cfg)
    me.mac = nic().mac()
    me.mtu = nic().mtu()
    clocksync_init()
    membership_init()


def cluster_handle_frame(buf: u64, length: u32) -> None:
    # One received frame in a frame buffer at `buf` (the frame itself starts at buf + FRAME_PAD). Handlers
    # run on the receive path (transport_handler_context) whoever calls this.
    outer = transport_handler_context()
    transport_set_dispatching(True)
    _handle_frame(buf, length)
    transport_set_dispatching(outer)


def _handle_frame(buf: u64, length: u32) -> None:
    # Every frame lands in exactly one bucket of WireStats: one drop reason (wire_count_drop, at most once
    # per frame, wherever on the path it is decided, a handler included), or rx_ok.
    st = wire_stats()
    st.rx_frames += 1
    st.frame_dropped = False
    _handle_one(buf, length)
    if not st.frame_dropped:
        st.rx_ok += 1


def _handle_one(buf: u64, length: u32) -> None:
    st = wire_stats()
    me = cluster_self()
    kind = _UNKNOWN_KIND
    min_len = u32(0)
    if length >= HDRS_BYTES and wire_peek_type(buf) < MSG_TYPES:
        row = msgtable_row(wire_peek_type(buf))
        kind = row.kind
        min_len = row.min_len
    reason = wire_validate(buf, length, me.node, u16(me.cfg.cluster_id), me.mtu, kind, min_len)
    if reason != DROP_NONE:
        wire_count_drop(reason)
        return
    f = wire_frame(buf)
    h = f.hdr
    st.rx_src_mac = wire_get_mac(f.eth.src)
    if kind == KIND_DATAGRAM:
        msgtable_row(u32(h.msg_type)).handler(h.src_node, h.req_id, wire_payload_addr(buf), u32(h.msg_len))
        return
    if transport_peer_state(h.src_node) == PEER_UNUSED or h.src_node == me.node:
        wire_count_drop(DROP_NOT_MEMBER)
        return
    if st.rx_src_mac != transport_peer(h.src_node).mac:
        # Any host on the LAN can write a member's node id into a header; only the member's own MAC may.
        wire_count_drop(DROP_SPOOFED)
        return
    m = _rx.get().msg
    if transport_rx(buf, m) != RX_DELIVER:
        return
    if (m.flags & u32(F_REPLY)) != 0:
        transport_complete(m.src, m.req_id, m.msg_type, m.payload, m.length)
    else:
        msgtable_row(m.msg_type).handler(m.src, m.req_id, m.payload, m.length)


def cluster_poll() -> u32:
    # Handle up to RX_BUDGET received frames, then run the timers. Returns the frames handled.
    if transport_handler_context():
        panic("cluster_poll entered from a handler or timer: code on the receive path must never wait")
    transport_set_dispatching(True)
    buf = addr_of(_rx.get().rx)
    handled = u32(0)
    for i in range(u32(0), RX_BUDGET):
        n = nic().poll(buf + FRAME_PAD, FRAME_BUF_BYTES - u32(FRAME_PAD))
        if n == 0:
            break
        cluster_handle_frame(buf, n)
        handled += 1
    transport_timers()
    membership_tick()
    clocksync_tick()
    transport_set_dispatching(False)
    return handled


def cluster_step() -> None:
    # One turn of a node's main loop: poll, and wait if there was nothing to do.
    if cluster_poll() == 0:
        cluster_sleep_until(cluster_next_deadline())


def transport_wait_reply(req_id: u32, out: Reply) -> u32:
    # Wait for the reply to req_id, serving everything else meanwhile. Returns TRANSPORT_OK (reply in
    # `out`), TRANSPORT_ERR_PEER_LOST (the peer went silent) or TRANSPORT_ERR_NO_REQUEST.
    while True:
        r = transport_poll_reply(req_id, out)
        if r != REPLY_PENDING:
            return r
        if cluster_poll() == 0:
            cluster_sleep_until(cluster_next_deadline())


def cluster_send_wait(dst: u16, msg_type: u32, flags: u8, req_id: u32, payload: u64, length: u32) -> u32:
    # transport_send for a caller that may wait: while the send backlog is down to its reserve, serve the
    # cluster until acks free buffers. Returns what transport_send returns, never TRANSPORT_ERR_BUSY.
    while True:
        r = transport_send(dst, msg_type, flags, req_id, payload, length)
        if r != TRANSPORT_ERR_BUSY:
            return r
        cluster_step()


def transport_request_wait(dst: u16, msg_type: u32, payload: u64, length: u32) -> u32:
    # transport_request for a caller that may wait: while every request slot is busy (or the send backlog
    # is at its reserve), serve the cluster until a slot frees, then send. Returns the request id, or 0 if
    # dst cannot be reached, or if every slot holds a reply its owner has not collected yet and none is
    # still waiting (on one CPU nothing can free a slot then; the caller leaked them).
    t = request_table()
    while True:
        req = transport_request(dst, msg_type, payload, length)
        if req != 0:
            return req
        if t.last_err == TRANSPORT_ERR_NO_SLOT:
            if requests_waiting() == 0:
                return u32(0)
            t.slot_waits += 1
        elif t.last_err != TRANSPORT_ERR_BUSY:
            return u32(0)
        cluster_step()


def cluster_next_deadline() -> u64:
    # The earliest counter value at which some timer has work (all ones: none).
    best = transport_next_deadline()
    t = membership_next_deadline()
    if t < best:
        best = t
    t = clocksync_next_deadline()
    if t < best:
        best = t
    return best
