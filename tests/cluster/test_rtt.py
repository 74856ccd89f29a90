"""The retransmission timeout follows measured round trips (pyhv/cluster/rtt.py, RFC 6298): the integer
estimator against a floating-point rendering of the RFC's formulas, its clamps and convergence, and, through
the real receive path of a mock bootstrap node, that acks feed samples while an ack for a retransmitted
frame does not (Karn's rule)."""

from __future__ import annotations

from hypothesis import given, strategies as st

from pyhv.lang import Array, addr_of, u8, u16, u32, u64

from pyhv.cluster.node import cluster_handle_frame
from pyhv.cluster.rtt import RttEst, rtt_init, rtt_sample
from pyhv.cluster.table import cluster_name_id, ticks_from_us
from pyhv.cluster.transport import transport_peer, transport_send
from pyhv.cluster.txtimers import transport_timers
from pyhv.cluster.wire import F_ACK, FRAME_PAD, HDRS_BYTES, MSG_ACK, MSG_ECHO, wire_push_headers, wire_seal
from pyhv.lang.machine import current_cpu, write_memory
from tests.cluster.conftest import MAC, Bootstrap
from tests.cluster.test_wire import JOINER_MAC, _feed, _join_frame

LO, HI = 1000, 4_000_000


def _reference(samples: list[int]) -> tuple[float, float, float]:
    """RFC 6298 section 2 in real numbers: (SRTT, RTTVAR, RTO before clamping)."""
    srtt, var = float(samples[0]), samples[0] / 2
    for r in samples[1:]:
        var = 0.75 * var + 0.25 * abs(srtt - r)
        srtt = 0.875 * srtt + 0.125 * r
    return srtt, var, srtt + 4 * var


@given(st.lists(st.integers(min_value=0, max_value=1_000_000), min_size=1, max_size=200))
def test_estimator_tracks_the_rfc_formulas(samples: list[int]) -> None:
    e = RttEst()
    rtt_init(e, u64(20_000))
    for r in samples:
        rtt_sample(e, u64(r), u64(LO), u64(HI))
    srtt, var, rto = _reference(samples)
    # Integer floors lose < 1 tick a step; the 7/8 and 3/4 gains keep the drift under 8 and 12 ticks.
    assert abs(int(e.srtt) - srtt) < 8
    assert abs(int(e.rttvar) - var) < 12
    assert int(e.rto) == min(max(int(e.srtt) + 4 * int(e.rttvar), LO), HI)
    assert abs(int(e.rto) - min(max(rto, LO), HI)) < 8 + 4 * 12
    assert int(e.samples) == len(samples)


def test_timeout_starts_at_init_and_converges_on_a_steady_round_trip() -> None:
    e = RttEst()
    rtt_init(e, u64(20_000))
    assert int(e.rto) == 20_000 and int(e.samples) == 0
    rtt_sample(e, u64(3000), u64(LO), u64(HI))
    assert (int(e.srtt), int(e.rttvar), int(e.rto)) == (3000, 1500, 9000)
    for _ in range(100):
        rtt_sample(e, u64(3000), u64(LO), u64(HI))
    assert (int(e.srtt), int(e.rttvar), int(e.rto)) == (3000, 0, 3000)
    for _ in range(100):
        rtt_sample(e, u64(10), u64(LO), u64(HI))
    assert int(e.rto) == LO                         # never under the floor
    rtt_sample(e, u64(50_000_000), u64(LO), u64(HI))
    assert int(e.rto) == HI                         # nor over the cap


def _set_time(ticks: int) -> None:
    current_cpu().sysregs["cntpct_el0"] = ticks


def _ack_from_peer(ack: int) -> None:
    buf = Array(u8, 4224 + 64)
    h = wire_push_headers(addr_of(buf), u64(MAC), u64(JOINER_MAC), MSG_ACK, u8(F_ACK), u16(1), u16(0), u32(0),
                          u32(0), u32(0), u16(cluster_name_id("test")))
    h.ack = u32(ack)
    h.epochs = u8(0x11)                             # both ends in their first life
    wire_seal(addr_of(buf))
    cluster_handle_frame(addr_of(buf), u32(HDRS_BYTES))


def _send_echo() -> None:
    page = Array(u8, 64)
    write_memory(int(addr_of(page)), bytes(range(64)))
    assert transport_send(u16(1), MSG_ECHO, u8(0), u32(0), addr_of(page), u32(64)) == 0


def test_acks_feed_samples_but_not_for_retransmitted_frames(bootstrap: Bootstrap) -> None:
    _set_time(1_000_000)
    _feed(_join_frame())                            # admitted as node 1: the table goes out as its seq 0
    p = transport_peer(u16(1))
    assert int(p.rto_ticks) == int(ticks_from_us(u32(2000)))        # rto_init_us before any sample
    assert int(p.sent) == 1 and int(p.rtt.samples) == 0
    _set_time(1_000_000 + 200_000)
    _ack_from_peer(1)
    assert int(p.rtt.samples) == 1 and int(p.rtt.srtt) == 200_000
    assert int(p.rto_ticks) == 200_000 + 4 * 100_000                  # SRTT + 4 * RTTVAR, over the floor
    # seq 1 times out and is resent; its ack must not count (it may answer either copy).
    _send_echo()
    sent = len(bootstrap.sent)
    _set_time(1_200_000 + int(p.rto_ticks) + 1)
    transport_timers()
    assert len(bootstrap.sent) == sent + 1 and int(p.retransmits) == 1
    _set_time(1_200_000 + int(p.rto_ticks) + 900_000)
    _ack_from_peer(2)
    assert int(p.rtt.samples) == 1 and int(p.rtt.srtt) == 200_000
    assert int(p.una) == 2 and int(p.rto_deadline) == 0              # everything acked: timer off
