"""A member that restarts (same MAC, new boot nonce in its JOIN) is readmitted by the bootstrap under its old
id and vCPU range: the old stream to it is dropped in both directions and requests waiting on the old
incarnation fail instead of hanging; a repeated JOIN of the same incarnation changes nothing; a restart with
another CPU count is refused with a message. Message sizes match their structs."""

from __future__ import annotations

from pyhv.lang import Array, addr_of, sizeof, u8, u16, u32, u64

from pyhv.cluster.membership import (
    JOIN_MSG_BYTES, TABLE_MSG_BYTES, WELCOME_MSG_BYTES, JoinMsg, WelcomeMsg, membership_state,
)
from pyhv.cluster.node import cluster_handle_frame, transport_wait_reply
from pyhv.cluster.requests import Reply, transport_request
from pyhv.cluster.table import ClusterTable, cluster_name_id, cluster_table
from pyhv.cluster.transport import TRANSPORT_ERR_PEER_LOST, transport_peer
from pyhv.cluster.wire import (
    DROP_STALE_STREAM, F_ACK, HDRS_BYTES, MSG_ACK, MSG_ECHO, wire_push_headers, wire_seal, wire_stats,
)
from tests.cluster.conftest import MAC, Bootstrap
from tests.cluster.test_wire import JOINER_MAC, _feed, _join_frame


def test_message_sizes_match_their_structs() -> None:
    assert sizeof(JoinMsg) == int(JOIN_MSG_BYTES)
    assert sizeof(ClusterTable) == int(TABLE_MSG_BYTES)
    assert sizeof(WelcomeMsg) == int(WELCOME_MSG_BYTES)


def _echo_request() -> int:
    page = Array(u8, 64)
    return int(transport_request(u16(1), MSG_ECHO, addr_of(page), u32(64)))


def test_restarted_member_is_readmitted_with_a_fresh_stream(bootstrap: Bootstrap) -> None:
    _feed(_join_frame(incarnation=0xAAAA))
    t = cluster_table()
    assert int(t.count) == 2 and int(t.entries[1].incarnation) == 0xAAAA
    base, gen = int(t.entries[1].vcpu_base), int(t.generation)
    req = _echo_request()
    assert req != 0
    p = transport_peer(u16(1))
    assert int(p.next_seq) == 2 and int(p.waiting_reqs) == 1          # the table, then the request
    # The same incarnation again (a lost WELCOME): idempotent.
    _feed(_join_frame(incarnation=0xAAAA))
    assert int(p.next_seq) == 2 and int(membership_state().restarts) == 0
    # The node rebooted.
    _feed(_join_frame(incarnation=0xBBBB))
    assert "cluster: node 1 (200000000bb) restarted" in bootstrap.node.console_text()
    assert int(membership_state().restarts) == 1
    assert int(t.count) == 2                                            # same id, no new entry
    assert int(t.entries[1].incarnation) == 0xBBBB and int(t.entries[1].vcpu_base) == base
    assert int(t.generation) == gen + 1                                 # members learn of it
    assert int(p.next_seq) == 1 and int(p.una) == 0                     # a fresh stream: only the new table
    assert int(p.rx_next) == 0 and int(p.waiting_reqs) == 0
    # The request to the old incarnation fails at once instead of waiting for the loss timeout.
    assert int(transport_wait_reply(u32(req), Reply())) == int(TRANSPORT_ERR_PEER_LOST)
    # Stream epochs: the node's second life is epoch 2; the new table goes out as bootstrap 1 -> node 2.
    assert int(t.entries[1].epoch) == 2
    assert bootstrap.sent[-1][14 + 7] == 0x12                           # WireHeader.epochs
    # An ack from its earlier life (sender epoch 1) would ack the new stream's table: it is dropped.
    _ack_from_node1(epochs=0x11, ack=1)
    assert int(p.una) == 0 and int(wire_stats().drops[DROP_STALE_STREAM]) == 1
    _ack_from_node1(epochs=0x21, ack=1)
    assert int(p.una) == 1 and int(wire_stats().drops[DROP_STALE_STREAM]) == 1


def _ack_from_node1(epochs: int, ack: int) -> None:
    buf = Array(u8, 4224 + 64)
    h = wire_push_headers(addr_of(buf), u64(MAC), u64(JOINER_MAC), MSG_ACK, u8(F_ACK), u16(1), u16(0), u32(0),
                          u32(0), u32(0), u16(cluster_name_id("test")))
    h.ack = u32(ack)
    h.epochs = u8(epochs)
    wire_seal(addr_of(buf))
    cluster_handle_frame(addr_of(buf), u32(HDRS_BYTES))


def test_restart_with_another_cpu_count_is_refused(bootstrap: Bootstrap) -> None:
    _feed(_join_frame(incarnation=0xAAAA, cpus=2))
    _feed(_join_frame(incarnation=0xCCCC, cpus=4))
    assert "refusing node 1 (200000000bb) back: it restarted with 4 CPUs, its vCPU range has 2" in \
        bootstrap.node.console_text()
    assert int(cluster_table().entries[1].incarnation) == 0xAAAA
    assert int(transport_peer(u16(1)).next_seq) == 1                    # the old stream is untouched
