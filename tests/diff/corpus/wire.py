"""Differential corpus: a packed wire header with u8/u16/u32/u64 fields (no padding) serialised to bytes
little-endian by reading its fields, then parsed back; sizeof of packed vs unpacked layouts."""
from typing import Annotated

from pyhv.lang import Array, Struct, array_len, range, sizeof, u8, u16, u32, u64


class WireHeader(Struct, packed=True):
    kind: u8
    flags: u16
    seq: u32
    addr: u64
    tail: u8


class PaddedHeader(Struct):
    kind: u8
    flags: u16
    seq: u32
    addr: u64
    tail: u8


class WireBytes(Struct):
    b: Annotated[Array[u8], 16]


class Frame(Struct, packed=True):
    hdr: WireHeader
    payload: Annotated[Array[u8], 5]
    crc: u32


def _put_le(buf: WireBytes, at: u64, v: u64, n: u64) -> None:
    for i in range(n):
        buf.b[at + i] = u8(v >> (i * 8))


def _serialise(h: WireHeader, buf: WireBytes) -> u64:
    _put_le(buf, u64(0), u64(h.kind), u64(1))
    _put_le(buf, u64(1), u64(h.flags), u64(2))
    _put_le(buf, u64(3), u64(h.seq), u64(4))
    _put_le(buf, u64(7), h.addr, u64(8))
    _put_le(buf, u64(15), u64(h.tail), u64(1))
    return sizeof(WireHeader)


def wire_byte(kind: u8, flags: u16, seq: u32, addr: u64, idx: u64) -> u8:
    h = WireHeader()
    h.kind = kind
    h.flags = flags
    h.seq = seq
    h.addr = addr
    h.tail = kind ^ 0xFF
    buf = WireBytes()
    n = _serialise(h, buf)
    assert n == 16
    return buf.b[idx]


def wire_roundtrip(flags: u16, seq: u32, addr: u64) -> u64:
    h = WireHeader()
    h.flags = flags
    h.seq = seq
    h.addr = addr
    out = WireBytes()
    _serialise(h, out)
    back = WireHeader()
    back.flags = u16(out.b[1]) | (u16(out.b[2]) << 8)
    s = u32(0)
    for i in range(u64(4)):
        s |= u32(out.b[3 + i]) << (i * 8)
    back.seq = s
    a = u64(0)
    for i in range(u64(8)):
        a |= u64(out.b[7 + i]) << (i * 8)
    back.addr = a
    return back.addr ^ u64(back.seq) ^ (u64(back.flags) << 48)


def frame_fields(seq: u32, b: u8, crc: u32) -> u64:
    f = Frame()
    f.hdr.seq = seq
    f.hdr.addr = u64(seq) << 32
    for i in range(u64(5)):
        f.payload[i] = b + u8(i)
    f.crc = crc
    total = u64(f.crc)
    for i in range(array_len(f.payload)):
        total += u64(f.payload[i])
    return total + f.hdr.addr + u64(f.hdr.seq)


def layout_sizes(k: u8) -> u64:
    if k == 0:
        return sizeof(WireHeader)
    if k == 1:
        return sizeof(PaddedHeader)
    return sizeof(Frame)
