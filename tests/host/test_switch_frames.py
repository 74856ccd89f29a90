"""The switch's host-side frame codec agrees byte for byte with the dialect wire code (pyhv.cluster.wire run
under CPython), its MARKER passes the dialect's validation, and each garbage kind is rejected by the
dialect's wire_validate for exactly the reason it is named after."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings, strategies as st

from pyhv.cluster.table import cluster_name_id
from pyhv.cluster.wire import (
    DROP_BAD_FRAGMENT, DROP_CHECKSUM, DROP_ETHERTYPE, DROP_FOREIGN_CLUSTER, DROP_MAGIC, DROP_NONE, DROP_OVERSIZE,
    DROP_TRUNCATED, DROP_UNKNOWN_TYPE, DROP_VERSION, FRAME_PAD, KIND_DATAGRAM, MSG_ANNOUNCE, MSG_TYPES,
    NODE_NONE, WireHeader as DialectHeader, wire_push_headers, wire_seal, wire_validate,
)
from pyhv.host.switch_frames import (
    GARBAGE_KINDS, HDRS_BYTES, MSG_MARKER, WireHeader, build_frame, cluster_id, garbage_frame, marker_frame,
    parse_header,
)
from pyhv.lang import Array, addr_of, struct_at, u8, u16, u32, u64
from pyhv.lang.machine import read_memory, write_memory

SRC = 0x52_54_00_00_00_01
DST = 0x52_54_00_00_00_02


def _dialect_frame(msg_type: int, flags: int, src_node: int, dst_node: int, seq: int, ack: int, req_id: int,
                   payload: bytes, cluster: str, frag: tuple[int, int] = (0, 1)) -> bytes:
    """A frame built and sealed by the real dialect code, read back as bytes."""
    buf = Array(u8, 4224)
    base = int(addr_of(buf))
    write_memory(base + 48, payload)
    wire_push_headers(addr_of(buf), u64(DST), u64(SRC), u32(msg_type), u8(flags), u16(src_node), u16(dst_node),
                      u32(req_id), u32(len(payload)), u32(len(payload)), u16(cluster_name_id(cluster)))
    hdr = struct_at(DialectHeader, addr_of(buf) + FRAME_PAD + u64(14))
    hdr.seq, hdr.ack = u32(seq), u32(ack)
    hdr.frag_index, hdr.frag_count = u8(frag[0]), u8(frag[1])
    wire_seal(addr_of(buf))
    return read_memory(base + 2, HDRS_BYTES + len(payload))


def _validate(frame: bytes, cluster: str = "lan", my_node: int = 3) -> int:
    """The dialect's verdict on a received frame (unknown types get the 'no row' kind, as the node does)."""
    buf = Array(u8, 4224 + 128)
    write_memory(int(addr_of(buf)) + 2, frame[:4224])
    msg_type = frame[17] if len(frame) >= HDRS_BYTES else 0
    kind = KIND_DATAGRAM if msg_type < int(MSG_TYPES) or msg_type == MSG_MARKER else 0xFFFFFFFF
    return int(wire_validate(addr_of(buf), u32(len(frame)), u16(my_node), u16(cluster_name_id(cluster)),
                             u32(9000), u32(kind), u32(16)))


@settings(max_examples=60, deadline=None)
@given(msg_type=st.integers(0, 10), flags=st.integers(0, 7), src=st.integers(0, 0xFFFF),
       dst=st.integers(0, 0xFFFF), seq=st.integers(0, 2**32 - 1), ack=st.integers(0, 2**32 - 1),
       req=st.integers(0, 2**32 - 1), payload=st.binary(max_size=64), cluster=st.text(min_size=1, max_size=12),
       frag=st.sampled_from([(0, 1), (1, 3), (2, 4)]))
def test_host_codec_matches_the_dialect_wire_code(msg_type: int, flags: int, src: int, dst: int, seq: int, ack: int,
                                                  req: int, payload: bytes, cluster: str,
                                                  frag: tuple[int, int]) -> None:
    cluster = "".join(c for c in cluster if c != "\0") or "x"
    want = _dialect_frame(msg_type, flags, src, dst, seq, ack, req, payload, cluster, frag)
    hdr = WireHeader(msg_type, flags=flags, frag_index=frag[0], frag_count=frag[1], src_node=src, dst_node=dst,
                     seq=seq, ack=ack, req_id=req, payload_len=len(payload), msg_len=len(payload),
                     cluster_id=cluster_id(cluster))
    got = build_frame(DST.to_bytes(6, "big"), SRC.to_bytes(6, "big"), hdr, payload)
    assert got == want
    assert parse_header(got) == WireHeader.unpack(want[14:46])
    assert parse_header(got).hdr_csum == int.from_bytes(want[42:44], "little")


def test_marker_is_a_valid_broadcast_datagram_of_type_11() -> None:
    frame = marker_frame(0x1_0000_0005, 123456789, cluster_id("lan"))
    hdr = parse_header(frame)
    assert frame[:6] == b"\xff" * 6 and frame[12:14] == b"\x88\xb5"
    assert (hdr.msg_type, hdr.src_node, hdr.dst_node) == (11, int(NODE_NONE), int(NODE_NONE))
    assert (hdr.req_id, hdr.payload_len) == (5, 16)
    assert int.from_bytes(frame[46:54], "little") == 0x1_0000_0005
    assert int.from_bytes(frame[54:62], "little") == 123456789
    assert _validate(frame) == int(DROP_NONE)
    assert _validate(frame, cluster="other") == int(DROP_FOREIGN_CLUSTER)


EXPECTED_DROP = {
    "ethertype": DROP_ETHERTYPE, "truncated": DROP_TRUNCATED, "oversize": DROP_OVERSIZE, "magic": DROP_MAGIC,
    "version": DROP_VERSION, "checksum": DROP_CHECKSUM, "foreign_cluster": DROP_FOREIGN_CLUSTER,
    "unknown_type": DROP_UNKNOWN_TYPE, "bad_fragment": DROP_BAD_FRAGMENT,
}


@pytest.mark.parametrize("kind", GARBAGE_KINDS)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_each_garbage_kind_trips_its_own_validation_step(kind: str, seed: int) -> None:
    template = _dialect_frame(int(MSG_ANNOUNCE), 0, 0, 0xFFFF, 0, 0, 0, bytes(range(24)), "lan")
    assert _validate(template) == int(DROP_NONE)
    garbage = garbage_frame(kind, template, cluster_id("lan"), random.Random(seed))
    assert garbage[:6] == template[:6]            # addressed like the frame it follows
    assert _validate(garbage) == int(EXPECTED_DROP[kind])


def test_garbage_from_a_foreign_template_still_trips_its_step() -> None:
    foreign = b"\x52\x54\x00\x00\x00\x02" + b"\x52\x54\x00\x00\x00\x01" + b"\x08\x00" + bytes(40)
    for kind in GARBAGE_KINDS:
        garbage = garbage_frame(kind, foreign, cluster_id("lan"), random.Random(0))
        assert _validate(garbage) == int(EXPECTED_DROP[kind]), kind
    with pytest.raises(ValueError):
        garbage_frame("nonsense", foreign, 0, random.Random(0))
