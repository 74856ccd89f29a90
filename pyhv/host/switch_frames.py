"""Host-side view of the pyhv wire format for the cluster switch (host tooling, not dialect): the switch's
marker frame and the garbage frames it injects. Field layout as in docs/protocol.md and
pyhv/cluster/wire.py; tests/host/test_switch_frames.py checks these bytes against the dialect wire code
run under CPython, so the two cannot drift apart silently.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass

ETH_P_PYHV = 0x88B5
ETH_HDR_BYTES = 14
WIRE_HDR_BYTES = 32
HDRS_BYTES = ETH_HDR_BYTES + WIRE_HDR_BYTES
FRAME_MAX_BYTES = 4206
WIRE_MAGIC = 0x4850
WIRE_VERSION = 2                # pyhv.cluster.wire.WIRE_VERSION
NODE_NONE = 0xFFFF
MSG_ANNOUNCE = 2
MSG_MARKER = 11                       # docs/protocol.md: broadcast by the host switch, never by a node
MARKER_PAYLOAD_BYTES = 16             # marker_id u64, host_ns u64 (CLOCK_MONOTONIC of the switch host)
BROADCAST = b"\xff" * 6
SWITCH_MAC = bytes.fromhex("027079687600")   # locally administered, "pyhv" + 00: the switch's own frames

_HDR = struct.Struct("<HBBBBBBHHIIIHHHH")
_CSUM_WORD = 14                       # hdr_csum is halfword 14 of the header

GARBAGE_KINDS = ("ethertype", "truncated", "oversize", "magic", "version", "checksum", "foreign_cluster",
                 "unknown_type", "bad_fragment")


@dataclass
class WireHeader:
    msg_type: int
    magic: int = WIRE_MAGIC
    version: int = WIRE_VERSION
    flags: int = 0
    frag_index: int = 0
    frag_count: int = 1
    epochs: int = 0
    src_node: int = NODE_NONE
    dst_node: int = NODE_NONE
    seq: int = 0
    ack: int = 0
    req_id: int = 0
    payload_len: int = 0
    msg_len: int = 0
    hdr_csum: int = 0
    cluster_id: int = 0

    def pack(self) -> bytes:
        return _HDR.pack(self.magic, self.version, self.msg_type, self.flags, self.frag_index, self.frag_count,
                         self.epochs, self.src_node, self.dst_node, self.seq, self.ack, self.req_id,
                         self.payload_len, self.msg_len, self.hdr_csum, self.cluster_id)

    @staticmethod
    def unpack(raw: bytes) -> WireHeader:
        (magic, version, msg_type, flags, frag_index, frag_count, epochs, src_node, dst_node, seq, ack,
         req_id, payload_len, msg_len, hdr_csum, cluster_id) = _HDR.unpack_from(raw, 0)
        return WireHeader(msg_type, magic, version, flags, frag_index, frag_count, epochs, src_node,
                          dst_node, seq, ack, req_id, payload_len, msg_len, hdr_csum, cluster_id)


def header_csum(hdr: bytes) -> int:
    """Ones' complement sum of the 16 little-endian header halfwords (hdr_csum taken as 0), complemented."""
    words = struct.unpack_from("<16H", hdr, 0)
    total = sum(w for i, w in enumerate(words) if i != _CSUM_WORD)
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    result: int = ~total & 0xFFFF
    return result


def cluster_id(name: str) -> int:
    """FNV-1a (32-bit) of the cluster name folded to 16 bits, as pyhv.cluster.table.cluster_name_id."""
    h = 0x811C9DC5
    for byte in name.encode():
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return (h >> 16) ^ (h & 0xFFFF)


def build_frame(dst: bytes, src: bytes, hdr: WireHeader, payload: bytes, seal: bool = True) -> bytes:
    """An Ethernet frame of our EtherType; seal computes hdr_csum (the payload/msg lengths are the caller's)."""
    raw = bytearray(hdr.pack())
    if seal:
        struct.pack_into("<H", raw, 2 * _CSUM_WORD, 0)
        struct.pack_into("<H", raw, 2 * _CSUM_WORD, header_csum(bytes(raw)))
    return dst + src + struct.pack(">H", ETH_P_PYHV) + bytes(raw) + payload


def is_pyhv(frame: bytes) -> bool:
    return len(frame) >= HDRS_BYTES and frame[12:14] == struct.pack(">H", ETH_P_PYHV)


def parse_header(frame: bytes) -> WireHeader:
    return WireHeader.unpack(frame[ETH_HDR_BYTES:HDRS_BYTES])


def marker_frame(marker_id: int, host_ns: int, cluster: int) -> bytes:
    """The switch's MARKER broadcast: a datagram from no node to every node (req_id = low 32 bits of the id)."""
    payload = struct.pack("<QQ", marker_id, host_ns)
    hdr = WireHeader(MSG_MARKER, req_id=marker_id & 0xFFFFFFFF, payload_len=len(payload), msg_len=len(payload),
                     cluster_id=cluster)
    return build_frame(BROADCAST, SWITCH_MAC, hdr, payload)


def garbage_frame(kind: str, template: bytes, cluster: int, rng: random.Random) -> bytes:
    """A malformed frame of the given kind (GARBAGE_KINDS), addressed like template (the frame being
    forwarded). Each kind trips exactly the validation step it is named after (docs/protocol.md order):
    the header is resealed unless the checksum itself is the fault."""
    if kind not in GARBAGE_KINDS:
        raise ValueError(f"unknown garbage kind {kind!r}; kinds: {', '.join(GARBAGE_KINDS)}")
    dst = template[0:6] if len(template) >= 6 else BROADCAST
    if is_pyhv(template):
        hdr = parse_header(template)
        payload = template[HDRS_BYTES:HDRS_BYTES + hdr.payload_len]
    else:
        payload = bytes(24)
        hdr = WireHeader(MSG_ANNOUNCE, payload_len=24, msg_len=24, cluster_id=cluster)
    if kind == "ethertype":
        frame = build_frame(dst, SWITCH_MAC, hdr, payload)
        return frame[:12] + b"\x88\xb6" + frame[14:]          # local experimental EtherType 2: not ours
    if kind == "truncated":
        return build_frame(dst, SWITCH_MAC, hdr, payload)[:ETH_HDR_BYTES + rng.randrange(2, WIRE_HDR_BYTES)]
    if kind == "oversize":
        frame = build_frame(dst, SWITCH_MAC, hdr, payload)
        return frame + bytes(max(0, FRAME_MAX_BYTES + 1 - len(frame)) + rng.randrange(0, 64))
    if kind == "magic":
        hdr.magic = 0x5048
    elif kind == "version":
        hdr.version = WIRE_VERSION + 1 + rng.randrange(0, 200)
    elif kind == "foreign_cluster":
        hdr.cluster_id = (hdr.cluster_id ^ (1 + rng.randrange(0, 0xFFFF))) & 0xFFFF
    elif kind == "unknown_type":
        hdr.msg_type = 200 + rng.randrange(0, 56)
    elif kind == "bad_fragment":
        hdr.frag_count, hdr.frag_index = 5 + rng.randrange(0, 3), 0
    frame = build_frame(dst, SWITCH_MAC, hdr, payload)
    if kind == "checksum":
        pos = ETH_HDR_BYTES + 2 * _CSUM_WORD
        frame = frame[:pos] + bytes([frame[pos] ^ (1 << rng.randrange(0, 8))]) + frame[pos + 1:]
    return frame
