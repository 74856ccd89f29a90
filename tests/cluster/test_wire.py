"""Frame validation: every malformed or foreign frame is dropped and counted under its reason, never an
exception; the message table is one row per type, in order."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given, settings, strategies as st

from pyhv.lang import Array, addr_of, u8, u16, u32, u64
from pyhv.lang.machine import write_memory

from pyhv.cluster.membership import JOIN_MSG_BYTES, JoinMsg
from pyhv.cluster.msgtable import MSG_TABLE, msgtable_check
from pyhv.cluster.node import cluster_handle_frame
from pyhv.cluster.table import cluster_name_id, cluster_table
from pyhv.cluster.wire import (
    DROP_BAD_FRAGMENT, DROP_CHECKSUM, DROP_ETHERTYPE, DROP_FOREIGN_CLUSTER, DROP_MAGIC, DROP_NOT_MEMBER,
    DROP_OVERSIZE, DROP_REASONS, DROP_SHORT_MSG, DROP_TRUNCATED, DROP_UNKNOWN_TYPE, DROP_VERSION,
    DROP_WRONG_DST, F_RELIABLE, FRAME_PAD, MSG_ECHO, MSG_JOIN, NODE_NONE, MSG_TYPES,
    wire_push_headers, wire_seal, wire_stats,
)
from tests.cluster.conftest import MAC, Bootstrap

JOINER_MAC = 0x02_00_00_00_00_BB


def _join_frame(freq: int = 62_500_000, incarnation: int = 0x1234, cpus: int = 2, mtu: int = 9000) -> bytes:
    """A valid JOIN datagram as a joiner sends it."""
    buf = Array(u8, 4224)
    j = JoinMsg()
    j.mac, j.ram_bytes, j.freq_hz, j.cpus, j.mtu = u64(JOINER_MAC), u64(1 << 28), u64(freq), u32(cpus), u32(mtu)
    j.incarnation = u32(incarnation)
    n = int(JOIN_MSG_BYTES)
    from pyhv.lang.machine import read_memory
    write_memory(int(addr_of(buf)) + 48, read_memory(int(addr_of(j)), n))
    wire_push_headers(addr_of(buf), u64(MAC), u64(JOINER_MAC), MSG_JOIN, u8(0), NODE_NONE, NODE_NONE, u32(0),
                      u32(n), u32(n), u16(cluster_name_id("test")))
    wire_seal(addr_of(buf))
    return read_memory(int(addr_of(buf)) + 2, 46 + n)


def _feed(frame: bytes) -> None:
    buf = Array(u8, 4224 + 64)
    data = frame[:4222]
    write_memory(int(addr_of(buf)) + int(FRAME_PAD), data)
    cluster_handle_frame(addr_of(buf), u32(len(frame)))


def _drops() -> list[int]:
    s = wire_stats()
    return [int(s.drops[i]) for i in range(int(DROP_REASONS))]


def _reseal(frame: bytearray) -> bytes:
    """Recompute the header checksum of a frame edited by a test (so the intended check fires)."""
    buf = Array(u8, 4224)
    write_memory(int(addr_of(buf)) + 2, bytes(frame))
    wire_seal(addr_of(buf))
    from pyhv.lang.machine import read_memory
    return read_memory(int(addr_of(buf)) + 2, len(frame))


def test_valid_join_is_accepted_and_admits_the_joiner(bootstrap: Bootstrap) -> None:
    _feed(_join_frame())
    assert int(wire_stats().rx_ok) == 1
    assert int(cluster_table().count) == 2
    assert int(cluster_table().entries[1].mac) == JOINER_MAC


def test_counter_frequency_mismatch_is_refused_with_a_message(bootstrap: Bootstrap) -> None:
    _feed(_join_frame(freq=54_000_000))
    assert int(cluster_table().count) == 1
    assert "refusing node" in bootstrap.node.console_text()
    assert "54000000 Hz" in bootstrap.node.console_text()


def _edit(offset: int, value: bytes, reseal: bool = True) -> bytes:
    f = bytearray(_join_frame())
    f[offset:offset + len(value)] = value
    return _reseal(f) if reseal else bytes(f)


# (frame builder, expected reason); offsets are within the frame (Ethernet header = 14 bytes)
CASES: dict[str, tuple[Callable[[], bytes], u32]] = {
    "wrong ethertype": (lambda: _edit(12, b"\x08\x00"), DROP_ETHERTYPE),
    "bad magic": (lambda: _edit(14, b"\x00\x00"), DROP_MAGIC),
    "bad version": (lambda: _edit(16, b"\x09"), DROP_VERSION),
    "bad checksum": (lambda: _edit(40, b"\x00\x01", reseal=False), DROP_CHECKSUM),
    "truncated header": (lambda: _join_frame()[:30], DROP_TRUNCATED),
    "truncated payload": (lambda: _join_frame()[:60], DROP_TRUNCATED),
    "oversize": (lambda: _join_frame() + bytes(9100), DROP_OVERSIZE),
    "unknown type": (lambda: _edit(17, bytes([int(MSG_TYPES) + 3])), DROP_UNKNOWN_TYPE),
    "foreign cluster": (lambda: _edit(44, b"\x12\x34"), DROP_FOREIGN_CLUSTER),
    "short message": (lambda: _edit(38, b"\x04\x00") , DROP_BAD_FRAGMENT),
    "bad fragment index": (lambda: _edit(19, b"\x03"), DROP_BAD_FRAGMENT),
    "wrong destination": (lambda: _edit(24, b"\x05\x00"), DROP_WRONG_DST),
}


def test_every_malformed_kind_is_dropped_and_counted_under_its_reason(bootstrap: Bootstrap) -> None:
    for name, (build, reason) in CASES.items():
        before = _drops()
        _feed(build())
        after = _drops()
        assert after[int(reason)] == before[int(reason)] + 1, name
        assert sum(after) == sum(before) + 1, name
    assert int(cluster_table().count) == 1


def test_reliable_message_from_a_non_member_is_dropped(bootstrap: Bootstrap) -> None:
    buf = Array(u8, 4224)
    wire_push_headers(addr_of(buf), u64(MAC), u64(JOINER_MAC), MSG_ECHO, F_RELIABLE, u16(7), u16(0), u32(1),
                      u32(8), u32(8), u16(cluster_name_id("test")))
    wire_seal(addr_of(buf))
    from pyhv.lang.machine import read_memory
    _feed(read_memory(int(addr_of(buf)) + 2, 54))
    assert _drops()[int(DROP_NOT_MEMBER)] == 1


def test_message_shorter_than_its_type_minimum_is_dropped(bootstrap: Bootstrap) -> None:
    f = bytearray(_join_frame())
    f[38:40] = b"\x04\x00"      # payload_len 4
    f[40:42] = b"\x04\x00"      # msg_len 4 < JOIN's 32
    _feed(_reseal(f)[:50])
    assert _drops()[int(DROP_SHORT_MSG)] == 1


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 77), st.integers(0, 255)), max_size=6), st.integers(0, 80),
       st.booleans())
def test_random_corruption_never_raises_and_every_frame_is_accounted(edits: list[tuple[int, int]], cut: int,
                                                                      reseal: bool) -> None:
    b = Bootstrap()
    from tests.cluster.conftest import _config, _putc
    from pyhv.cluster.clocksync import CLOCK_SYSREG_OPS, clocksync_set_ops
    from pyhv.cluster.nic import NicOps, nic_set
    from pyhv.cluster.node import cluster_init
    from pyhv.core.printk import ConsoleOps, printk_set_console
    with b.machine.on_cpu(b.node, 0):
        printk_set_console(ConsoleOps(putc=_putc))
        nic_set(NicOps(send=lambda a, n: u32(0), poll=lambda a, n: u32(0), mtu=lambda: u32(9000),
                       mac=lambda: u64(MAC)))
        clocksync_set_ops(CLOCK_SYSREG_OPS)
        cluster_init(_config())
        f = bytearray(_join_frame())
        for off, val in edits:
            f[off] = val
        frame = _reseal(f) if reseal else bytes(f)
        _feed(frame[:max(cut, 1)] if cut < len(frame) else frame)
        s = wire_stats()
        assert int(s.rx_frames) == 1
        assert int(s.rx_ok) + sum(_drops()) == 1


def test_msg_table_has_one_row_per_type_in_order() -> None:
    msgtable_check()
    assert [int(r.msg_type) for r in MSG_TABLE] == list(range(int(MSG_TYPES)))
