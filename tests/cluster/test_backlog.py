"""The non-blocking send path (docs/protocol.md "Backlog and the non-blocking send"), through the real receive
path of a mock bootstrap node with one joined member (node 1) whose frames the test writes:

* a sender whose peer's TX ring is full never waits: the messages are parked in the backlog and go out, in
  order and exactly once, as acks free the ring (on the old transport the send sat polling the NIC);
* handlers keep running while the peer does not ack; the receive path refuses (and later takes) frames when
  the backlog is down to TRANSPORT_HANDLER_SENDS_MAX, and callers outside it get TRANSPORT_ERR_BUSY at the
  reserve;
* a peer that never advances our una is declared lost after lost_after_us, whether it sends acks that
  advance nothing or fresh data (issue 12 item 2);
* request-slot exhaustion: transport_request never waits (0, NO_SLOT) and transport_request_wait queues
  until a slot frees.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pyhv.lang import Array, addr_of, u8, u16, u32, u64
from pyhv.lang.machine import current_cpu, read_memory, write_memory

from pyhv.cluster.backlog import BACKLOG_BUFS, BACKLOG_RESERVE, backlog_free, backlog_pending
from pyhv.cluster.echo import ECHO_ONEWAY_CHECK, echo_stats
from pyhv.cluster.nic import NicOps, nic_set
from pyhv.cluster.node import cluster_handle_frame, cluster_poll, transport_request_wait
from pyhv.cluster.requests import (
    REQ_SLOTS, TRANSPORT_ERR_NO_SLOT, Reply, request_table, transport_poll_reply, transport_request,
)
from pyhv.cluster.table import cluster_name_id, ticks_from_us
from pyhv.cluster.transport import (
    PEER_ACTIVE, PEER_LOST, TRANSPORT_ERR_BUSY, TRANSPORT_HANDLER_SENDS_MAX, TRANSPORT_OK, TRANSPORT_TIMER_SENDS_MAX, TX_RING,
    transport_peer, transport_send,
)
from pyhv.cluster.wire import (
    DROP_BACKLOG_FULL, F_ACK, F_RELIABLE, F_REPLY, FRAME_PAD, HDRS_BYTES, MSG_ACK, MSG_ECHO, wire_push_headers,
    wire_seal, wire_stats,
)
from tests.cluster.conftest import MAC, Bootstrap
from tests.cluster.test_wire import JOINER_MAC, _feed, _join_frame

PAGE_MSG = 4112                     # token + a 4 KiB page + check word (pyhv/cluster/burst.py)


def _no_waiting(addr: u64, cap: u32) -> u32:
    raise AssertionError("the sender polled the NIC: it waited instead of parking the message")


def _join(b: Bootstrap, mtu: int) -> None:
    _feed(_join_frame(mtu=mtu))
    nic_set(NicOps(send=_record(b), poll=_no_waiting, mtu=lambda: u32(9000), mac=lambda: u64(MAC)))


def _record(b: Bootstrap) -> Callable[[u64, u32], u32]:
    def send(addr: u64, n: u32) -> u32:
        b.sent.append(read_memory(int(addr), int(n)))
        return u32(0)
    return send


def _frame_from_node1(msg_type: int, flags: int, seq: int = 0, ack: int = 0, req_id: int = 0,
                      payload: bytes = b"") -> bytes:
    buf = Array(u8, 4224 + 64)
    write_memory(int(addr_of(buf)) + int(FRAME_PAD) + int(HDRS_BYTES), payload)
    h = wire_push_headers(addr_of(buf), u64(MAC), u64(JOINER_MAC), u32(msg_type), u8(flags), u16(1), u16(0),
                          u32(req_id), u32(len(payload)), u32(len(payload)), u16(cluster_name_id("test")))
    h.seq, h.ack, h.epochs = u32(seq), u32(ack), u8(0x11)
    wire_seal(addr_of(buf))
    return read_memory(int(addr_of(buf)) + int(FRAME_PAD), int(HDRS_BYTES) + len(payload))


def _ack(ack: int) -> None:
    _feed(_frame_from_node1(int(MSG_ACK), int(F_ACK), ack=ack))


def _page(token: int) -> bytes:
    return token.to_bytes(8, "little") + bytes(range(256)) * 16 + (token ^ int(ECHO_ONEWAY_CHECK)).to_bytes(8, "little")


def _send_oneway(token: int) -> int:
    buf = Array(u8, PAGE_MSG)
    write_memory(int(addr_of(buf)), _page(token))
    return int(transport_send(u16(1), MSG_ECHO, u8(0), u32(0), addr_of(buf), u32(PAGE_MSG)))


def _advance_us(us: int) -> None:
    current_cpu().sysregs["cntpct_el0"] += int(ticks_from_us(u32(us)))


def _echo_tokens(sent: list[bytes]) -> list[int]:
    """Tokens of the one-way ECHO messages in the frames sent, first fragments only, in send order."""
    out = []
    for f in sent:
        if len(f) >= 46 and f[14 + 3] == int(MSG_ECHO) and f[14 + 5] == 0:
            out.append(int.from_bytes(f[46:54], "little"))
    return out


@pytest.mark.parametrize("mtu", [1500, 9000])
def test_a_full_ring_parks_messages_and_acks_send_them_in_order_exactly_once(bootstrap: Bootstrap,
                                                                            mtu: int) -> None:
    _join(bootstrap, mtu)
    p = transport_peer(u16(1))
    per_msg = 3 if mtu == 1500 else 1
    in_ring = (int(TX_RING) - 1) // per_msg                 # the table took one slot
    n = in_ring + int(BACKLOG_BUFS) - int(BACKLOG_RESERVE)  # as many as a caller outside the receive path may park
    for k in range(n):
        assert _send_oneway(k) == int(TRANSPORT_OK)         # never waits (the NIC poll would raise)
    assert int(backlog_pending(u16(1))) == n - in_ring
    # Node 1 acks everything it got, again and again: the backlog drains into the ring.
    for _ in range(200):
        if int(p.una) == int(p.next_seq) and int(backlog_pending(u16(1))) == 0:
            break
        _ack(int(p.sent))
    assert int(backlog_pending(u16(1))) == 0 and int(p.una) == int(p.next_seq)
    assert _echo_tokens(bootstrap.sent) == list(range(n))   # in order, each once (no time passed: no resend)
    assert int(backlog_free()) == int(BACKLOG_BUFS)


def test_handlers_keep_running_and_the_receive_path_refuses_when_the_backlog_is_low(bootstrap: Bootstrap) -> None:
    _join(bootstrap, 9000)
    p = transport_peer(u16(1))
    # Outside the receive path: parking stops at the reserve.
    k = 0
    while _send_oneway(k) == int(TRANSPORT_OK):
        k += 1
    assert _send_oneway(k) == int(TRANSPORT_ERR_BUSY) and int(backlog_free()) == int(BACKLOG_RESERVE)
    # Node 1's requests are served from the receive path into the reserve while the handler and timer
    # budgets are free; then its next request is refused (the peer resends it), not dropped for good.
    seq = 0
    while int(backlog_free()) >= int(TRANSPORT_HANDLER_SENDS_MAX) + int(TRANSPORT_TIMER_SENDS_MAX):
        _feed(_frame_from_node1(int(MSG_ECHO), int(F_RELIABLE | F_ACK), seq=seq, req_id=100 + seq,
                                payload=seq.to_bytes(8, "little")))
        seq += 1
    assert seq > 0 and int(echo_stats().handled[1]) == seq
    _feed(_frame_from_node1(int(MSG_ECHO), int(F_RELIABLE | F_ACK), seq=seq, req_id=100 + seq,
                            payload=seq.to_bytes(8, "little")))
    assert int(wire_stats().drops[DROP_BACKLOG_FULL]) == 1 and int(p.rx_next) == seq
    assert int(echo_stats().handled[1]) == seq
    # Node 1 acks our ring: the backlog drains, and its resent request is taken.
    _ack(int(p.sent))
    _feed(_frame_from_node1(int(MSG_ECHO), int(F_RELIABLE | F_ACK), seq=seq, ack=int(p.una), req_id=100 + seq,
                            payload=seq.to_bytes(8, "little")))
    assert int(echo_stats().handled[1]) == seq + 1 and int(p.rx_next) == seq + 1


@pytest.mark.parametrize("hostile", ["non-advancing acks", "fresh data, never an ack"])
def test_a_peer_that_never_advances_una_is_declared_lost(bootstrap: Bootstrap, hostile: str) -> None:
    """Issue 12 item 2: 40 ECHO requests, replies never acked, then every 10 ms either an ACK that advances
    nothing or a new one-way message. The node keeps serving, and declares the peer lost after lost_after_us
    (1 s here) without progress."""
    _join(bootstrap, 9000)
    nic_set(NicOps(send=_record(bootstrap), poll=lambda a, n: u32(0), mtu=lambda: u32(9000),
                   mac=lambda: u64(MAC)))
    p = transport_peer(u16(1))
    for seq in range(40):
        _feed(_frame_from_node1(int(MSG_ECHO), int(F_RELIABLE | F_ACK), seq=seq, req_id=1 + seq,
                                payload=seq.to_bytes(8, "little") + bytes(4096)))
    assert int(echo_stats().handled[1]) == 40           # every handler returned
    seq, waited_ms = 40, 0
    while int(p.state) == int(PEER_ACTIVE) and waited_ms < 3000:
        _advance_us(10_000)
        waited_ms += 10
        if hostile == "non-advancing acks":
            _ack(int(p.una))
        else:
            _feed(_frame_from_node1(int(MSG_ECHO), int(F_RELIABLE | F_ACK), seq=seq, ack=int(p.una),
                                    payload=_page(seq - 40)))
            seq += 1
        cluster_poll()
    assert int(p.state) == int(PEER_LOST)
    assert 1000 <= waited_ms <= 1020
    text = bootstrap.node.console_text()
    assert "cluster: node 1 lost: " in text
    if hostile != "non-advancing acks":
        assert "lost: no progress for" in text and int(echo_stats().oneway[1]) > 90


def _reply_frame(seq: int, req_id: int) -> bytes:
    return _frame_from_node1(int(MSG_ECHO), int(F_RELIABLE | F_ACK | F_REPLY), seq=seq, req_id=req_id,
                             payload=bytes(8))


def test_request_slot_exhaustion_queues_for_a_caller_that_can_wait(bootstrap: Bootstrap) -> None:
    _join(bootstrap, 9000)
    p = transport_peer(u16(1))
    small = Array(u8, 8)
    ids = []
    for _ in range(int(REQ_SLOTS)):
        ids.append(int(transport_request(u16(1), MSG_ECHO, addr_of(small), u32(8))))
        _ack(int(p.sent))
    assert 0 not in ids
    assert int(transport_request(u16(1), MSG_ECHO, addr_of(small), u32(8))) == 0    # never waits
    assert int(request_table().last_err) == int(TRANSPORT_ERR_NO_SLOT)
    # transport_request_wait serves the cluster until a slot frees. The reply to the first request arrives,
    # and (as another vCPU waiting on it would) its owner collects it: a slot is free.
    state = {"polls": 0}

    def poll(addr: u64, cap: u32) -> u32:
        state["polls"] += 1
        if state["polls"] == 3:
            frame = _reply_frame(0, ids[0])
            write_memory(int(addr), frame)
            return u32(len(frame))
        if state["polls"] == 4:
            assert int(transport_poll_reply(u32(ids[0]), Reply())) == int(TRANSPORT_OK)
        return u32(0)

    nic_set(NicOps(send=_record(bootstrap), poll=poll, mtu=lambda: u32(9000), mac=lambda: u64(MAC)))
    req = int(transport_request_wait(u16(1), MSG_ECHO, addr_of(small), u32(8)))
    assert req != 0 and req not in ids and state["polls"] >= 4
    assert int(request_table().slot_waits) >= 1
