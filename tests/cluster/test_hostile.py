"""Issue 12: well-formed but hostile frames never panic, stall or hijack a node, and every received frame lands
in exactly one WireStats bucket. One regression test per item of the issue (2, the stall, is
tests/cluster/test_backlog.py), each built from the issue's description and fed through the real receive path
of a node in the state the issue names (pyhv/sim/hostile_node.py); and a short seeded run of the directed
hostile-frame campaign (pyhv/sim/hostile.py; `pyhv hostile --frames N` for a big one)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pyhv.lang import u16
from pyhv.cluster.echo import echo_stats
from pyhv.cluster.admission import ADMIT_BURST
from pyhv.cluster.membership import M_FORMING, M_SEEKING, WELCOME_FULL, WELCOME_OK, membership_state
from pyhv.cluster.table import cluster_self, cluster_table
from pyhv.cluster.transport import transport_peer
from pyhv.cluster.wire import (
    DROP_BAD_FIELD, DROP_RATE_LIMITED, DROP_SPOOFED, DROP_STRAY_REPLY, DROP_WRONG_DST, F_ACK, F_RELIABLE,
    F_REPLY, MAC_BROADCAST, MSG_ACK, MSG_ANNOUNCE, MSG_BOOT, MSG_CLOCK_REPLY, MSG_CLUSTER_TABLE, MSG_ECHO,
    MSG_JOIN, MSG_WELCOME, wire_stats,
)
from pyhv.sim.hostile import campaign
from pyhv.sim.hostile_node import (
    ATTACKER_MAC, BOOT_MAC, JOINER_MAC, FrameSpec, HostileNode,
)


def _node(state: str) -> Iterator[HostileNode]:
    h = HostileNode(state)
    try:
        yield h
    finally:
        h.close()


@pytest.fixture
def boot() -> Iterator[HostileNode]:
    yield from _node("bootstrap")


@pytest.fixture
def seeking() -> Iterator[HostileNode]:
    yield from _node("seeking")


@pytest.fixture
def formed() -> Iterator[HostileNode]:
    yield from _node("formed")


def _drops(reason: int) -> int:
    return int(wire_stats().drops[reason])


def _welcomes(h: HostileNode) -> list[tuple[int, int]]:
    """(node, status) of every WELCOME the node sent."""
    out = []
    for f in h.sent:
        if f[14 + 3] == int(MSG_WELCOME):
            out.append((int.from_bytes(f[46 + 24:46 + 28], "little"), int.from_bytes(f[46 + 28:46 + 32], "little")))
    return out


# --- item 1: a WELCOME's node id is range-checked, and only the bootstrap heard in ANNOUNCE may send one ------

@pytest.mark.parametrize("node", [16, 0x1234, 0xFFFF, 0])
@pytest.mark.parametrize("announced", [True, False])
def test_item1_welcome_with_an_out_of_range_id_is_dropped_and_the_joiner_keeps_seeking(
        seeking: HostileNode, node: int, announced: bool) -> None:
    h = seeking
    if announced:
        h.feed(h.build(FrameSpec(int(MSG_ANNOUNCE), h.announce_payload(), src_mac=BOOT_MAC,
                                 dst_mac=int(MAC_BROADCAST))))
    h.feed(h.build(FrameSpec(int(MSG_WELCOME), h.welcome_payload(node), src_mac=BOOT_MAC)))
    # The rest of the sequence: TABLE (seq 0), four CLOCK_REPLY (1-4), BOOT (5), node 0 -> dst `node`.
    for seq, (t, payload) in enumerate([(MSG_CLUSTER_TABLE, h.table_payload(my_node=node % 16))]
                                       + [(MSG_CLOCK_REPLY, h.clock_reply_payload(i)) for i in range(4)]
                                       + [(MSG_BOOT, (2).to_bytes(4, "little"))]):
        h.feed(h.build(FrameSpec(int(t), payload, flags=int(F_RELIABLE | F_ACK), src_node=0, dst_node=node,
                                 seq=seq, epochs=0x11, src_mac=BOOT_MAC)))
        h.poll()
    assert int(membership_state().state) == int(M_SEEKING)
    assert int(cluster_self().node) == 0xFFFF
    assert _drops(int(DROP_BAD_FIELD if announced else DROP_SPOOFED)) == 1
    assert h.accounted()


def test_item1_welcome_from_another_mac_than_the_announced_bootstrap_is_spoofed(seeking: HostileNode) -> None:
    h = seeking
    h.feed(h.build(FrameSpec(int(MSG_ANNOUNCE), h.announce_payload(), src_mac=BOOT_MAC, dst_mac=int(MAC_BROADCAST))))
    h.feed(h.build(FrameSpec(int(MSG_WELCOME), h.welcome_payload(1), src_mac=ATTACKER_MAC)))
    h.feed(h.build(FrameSpec(int(MSG_WELCOME), h.welcome_payload(1, bootstrap_mac=ATTACKER_MAC),
                             src_mac=ATTACKER_MAC)))
    assert int(membership_state().state) == int(M_SEEKING) and _drops(int(DROP_SPOOFED)) == 2
    # The real one is taken.
    h.feed(h.build(FrameSpec(int(MSG_WELCOME), h.welcome_payload(1), src_mac=BOOT_MAC)))
    assert int(cluster_self().node) == 1


def test_item1_a_table_without_us_or_with_contradictory_entries_is_not_applied(formed: HostileNode) -> None:
    h = formed
    gen = int(cluster_table().generation)
    bad = [h.table_payload(count=17, generation=gen + 1), h.table_payload(count=0, generation=gen + 1),
           h.table_payload(count=1, generation=gen + 1), h.table_payload(count=3, my_node=2, generation=gen + 1)]
    overlap = bytearray(h.table_payload(count=3, generation=gen + 1))
    overlap[12 + 2 * 40 + 16:12 + 2 * 40 + 20] = (1).to_bytes(4, "little")     # node 2's vcpu_base inside node 1's
    bad.append(bytes(overlap))
    for payload in bad:
        h.feed(h.legit(int(MSG_CLUSTER_TABLE), payload))
    assert _drops(int(DROP_BAD_FIELD)) == len(bad)
    assert int(cluster_table().count) == 2 and int(cluster_table().generation) == gen
    h.feed(h.legit(int(MSG_CLUSTER_TABLE), h.table_payload(count=3, generation=gen + 1)))
    assert int(cluster_table().count) == 3


# --- item 3: a JOIN with the bootstrap's own MAC (or one no node can have) is refused ---------------------------

@pytest.mark.parametrize("mac", [BOOT_MAC, int(MAC_BROADCAST), 0x03_00_00_00_00_01, 0])
def test_item3_join_with_the_bootstraps_or_a_group_mac_is_refused(boot: HostileNode, mac: int) -> None:
    h = boot
    h.feed(h.build(FrameSpec(int(MSG_JOIN), h.join_payload(mac, incarnation=0x9999), src_mac=mac)))
    h.poll()
    st = membership_state()
    assert _drops(int(DROP_BAD_FIELD)) == 1
    assert int(cluster_table().count) == 2 and int(st.restarts) == 0
    assert int(st.setup_mask) & 1 == 1 and int(cluster_table().entries[0].epoch) == 1
    assert int(st.state) == int(M_FORMING) and _welcomes(h) == [(1, int(WELCOME_OK))]


# --- item 4: admissions are rate-limited ----------------------------------------------------------------------

def test_item4_a_burst_of_forged_joins_cannot_fill_the_table_before_a_real_joiner(boot: HostileNode) -> None:
    h = boot
    forged = [0x02_66_00_00_00_00 + i for i in range(15)]
    for mac in forged:
        h.feed(h.build(FrameSpec(int(MSG_JOIN), h.join_payload(mac), src_mac=mac)))
    admitted = int(ADMIT_BURST) - 1                     # node 1's JOIN took one admission of this second
    assert int(cluster_table().count) == 2 + admitted
    assert _drops(int(DROP_RATE_LIMITED)) == 15 - admitted
    # A repeated JOIN of an admitted node is answered even now (a lost WELCOME is not an admission).
    h.feed(h.build(FrameSpec(int(MSG_JOIN), h.join_payload(JOINER_MAC), src_mac=JOINER_MAC)))
    assert _welcomes(h)[-1] == (1, int(WELCOME_OK))
    # A second later the real joiner is admitted.
    h.advance_us(1_000_001)
    real = 0x02_00_00_00_00_CC
    h.feed(h.build(FrameSpec(int(MSG_JOIN), h.join_payload(real), src_mac=real)))
    assert _welcomes(h)[-1] == (2 + admitted, int(WELCOME_OK))
    assert all(status != int(WELCOME_FULL) for _, status in _welcomes(h))
    assert h.accounted()


# --- item 5: the Ethernet source must be the sender's MAC ------------------------------------------------------

def test_item5_a_members_node_id_from_another_mac_is_dropped_as_spoofed(boot: HostileNode) -> None:
    h = boot
    p = transport_peer(u16(1))
    rx_next, una = int(p.rx_next), int(p.una)
    echo = h.legit(int(MSG_ECHO), (7).to_bytes(8, "little"), req_id=5)
    forged = bytearray(echo)
    forged[6:12] = ATTACKER_MAC.to_bytes(6, "big")          # Ethernet source (covered by no checksum)
    h.feed(bytes(forged))
    ack = bytearray(h.legit_ack())
    ack[6:12] = ATTACKER_MAC.to_bytes(6, "big")
    h.feed(bytes(ack))
    assert _drops(int(DROP_SPOOFED)) == 2
    assert int(p.rx_next) == rx_next and int(p.una) == una and int(echo_stats().handled[1]) == 0
    h.feed(echo)
    assert int(echo_stats().handled[1]) == 1


def test_item5_an_announce_whose_mac_is_not_its_source_is_spoofed(seeking: HostileNode) -> None:
    s = seeking
    s.feed(s.build(FrameSpec(int(MSG_ANNOUNCE), s.announce_payload(BOOT_MAC), src_mac=ATTACKER_MAC,
                             dst_mac=int(MAC_BROADCAST))))
    assert _drops(int(DROP_SPOOFED)) == 1 and not any(f[14 + 3] == int(MSG_JOIN) for f in s.sent)
    s.feed(s.build(FrameSpec(int(MSG_ANNOUNCE), s.announce_payload(BOOT_MAC), src_mac=BOOT_MAC,
                             dst_mac=int(MAC_BROADCAST))))
    assert any(f[14 + 3] == int(MSG_JOIN) for f in s.sent)


def test_item5_a_join_whose_mac_is_not_its_source_is_spoofed(boot: HostileNode) -> None:
    b = boot
    b.feed(b.build(FrameSpec(int(MSG_JOIN), b.join_payload(0x02_00_00_00_00_CC), src_mac=ATTACKER_MAC)))
    assert _drops(int(DROP_SPOOFED)) == 1 and int(cluster_table().count) == 2


# --- item 6: every received frame lands in exactly one bucket ------------------------------------------------

def test_item6_pure_acks_fragments_and_stray_replies_are_each_counted_once(boot: HostileNode) -> None:
    h = boot
    h.feed(h.legit_ack())                                           # a pure ack: rx_ok
    p = transport_peer(u16(1))
    first = FrameSpec(int(MSG_ECHO), bytes(1000), flags=int(F_RELIABLE | F_ACK), src_node=1, dst_node=0,
                      seq=int(p.rx_next), req_id=9, epochs=0x11, src_mac=JOINER_MAC, frag_count=2,
                      msg_len=1500)
    h.feed(h.build(first))                                          # a partial fragment: rx_ok
    stray = h.legit(int(MSG_ECHO), bytes(8), req_id=0x4242, flags=int(F_REPLY))
    h.feed(stray)                                                   # whole message after a partial one: a
    assert _drops(int(DROP_STRAY_REPLY)) == 1                       # stray reply, and only that
    s = wire_stats()
    assert int(s.rx_frames) == 4 and int(s.rx_ok) == 3              # the JOIN, the ack, the fragment
    assert h.accounted()


def test_only_acks_that_advance_una_refresh_last_heard(boot: HostileNode) -> None:
    h = boot
    p = transport_peer(u16(1))
    assert int(p.una) != int(p.sent)                                # the table is in flight
    heard = int(p.last_heard)
    h.advance_us(5000)
    ack = FrameSpec(int(MSG_ACK), flags=int(F_ACK), src_node=1, dst_node=0, ack=int(p.una), epochs=0x11,
                    src_mac=JOINER_MAC)
    h.feed(h.build(ack))
    assert int(p.last_heard) == heard
    h.feed(h.legit_ack())
    assert int(p.last_heard) == h.now() and int(p.una) == int(p.sent)


def test_frames_to_another_node_id_are_wrong_dst(formed: HostileNode) -> None:
    h = formed
    h.feed(h.build(FrameSpec(int(MSG_ECHO), bytes(8), flags=int(F_RELIABLE), src_node=0, dst_node=7,
                             epochs=0x11, src_mac=BOOT_MAC)))
    assert _drops(int(DROP_WRONG_DST)) == 1


# --- the directed campaign (short; `pyhv hostile --frames 200000` is the big run) ------------------------------

@pytest.mark.parametrize("state", ["bootstrap", "seeking", "formed"])
def test_hostile_campaign_short(state: str) -> None:
    r = campaign(state, seed=12, frames=2000)
    assert r.panics == [] and r.stalls == [] and r.unaccounted == []
    assert r.frames >= 2000 and r.rx_frames == r.rx_ok + sum(r.drops.values())
    assert r.live, r.liveness
