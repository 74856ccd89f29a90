"""Differential corpus: memory views (docs/dialect.md §3, "Memory"). struct_copy between overlapping views
copies like memmove in both worlds; struct_at and mem_read/mem_write at a misaligned address panic in both;
a bool field over a byte holding 2 reads True in both; unary + exists. The views are over a Static buffer
(8-byte aligned in both worlds: it holds u64 words), so the offsets decide alignment."""
from typing import Annotated, Final

from pyhv.lang import (
    Array, Static, Struct, addr_of, mem_read16, mem_read32, mem_write8, mem_write32, range, struct_at,
    struct_copy, u8, u32, u64,
)


class Words(Struct):
    w: Annotated[Array[u64], 8]


class Run(Struct):
    v: Annotated[Array[u32], 6]


class Flagged(Struct):
    on: bool
    n: u8
    flags: Annotated[Array[bool], 4]


_mem: Final = Static(Words)


def _reset() -> u64:
    m = _mem.get()
    for i in range(u32(8)):
        m.w[i] = u64(0)
    return addr_of(m)


def _fill(base: u64) -> None:
    r = struct_at(Run, base)
    for i in range(u32(6)):
        r.v[i] = i + 1
    r2 = struct_at(Run, base + 24)
    for i in range(u32(6)):
        r2.v[i] = i + 11


def _digest(base: u64) -> u32:
    t = u32(0)
    for i in range(u64(0), u64(14)):
        t = t * 31 + mem_read32(base + i * 4)
    return t


def copy_overlapping_forward(k: u8) -> u32:
    base = _reset()
    _fill(base)
    shift = u64(k & 3) * 4
    struct_copy(struct_at(Run, base + shift), struct_at(Run, base))
    return _digest(base)


def copy_overlapping_backward(k: u8) -> u32:
    base = _reset()
    _fill(base)
    shift = u64(k & 3) * 4
    struct_copy(struct_at(Run, base), struct_at(Run, base + shift))
    return _digest(base)


def struct_at_alignment(k: u8) -> u32:
    base = _reset()
    r = struct_at(Run, base + u64(k & 7))
    r.v[0] = u32(5)
    return r.v[0] + u32(k)


def mem_access_alignment(k: u8, wide: bool) -> u32:
    base = _reset()
    a = base + u64(k & 7)
    if wide:
        mem_write32(a, u32(0x01020304))
        return mem_read32(a)
    return u32(mem_read16(a))


def bool_byte_not_one(k: u8) -> u32:
    base = _reset()
    f = struct_at(Flagged, base)
    mem_write8(base, k)
    mem_write8(base + 2 + u64(k & 3), k >> 1)
    t = u32(0)
    if f.on:
        t += 1
    if f.on == True:  # noqa: E712 -- the comparison, not the truth test, is what differs on a byte of 2
        t += 2
    for i in range(u32(4)):
        if f.flags[i]:
            t += u32(4) << i
    return t


def unary_plus(a: u32) -> u32:
    return +a - +(a >> 1)
