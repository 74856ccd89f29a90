"""Differential corpus: array-typed names as references — a local name bound to an array field, and array
parameters with and without a length. CPython accepts all three (an Array is a view on bytes, like a struct);
kept apart so a rejection by the checker does not hide the rest of the corpus."""
from typing import Annotated

from pyhv.lang import Array, Struct, u8, u32, u64


class Bytes13(Struct):
    count: u32
    raw: Annotated[Array[u8], 13]


def array_field_alias(a: u8, idx: u8) -> u32:
    t = Bytes13()
    b = t.raw
    b[0] = a
    t.raw[12] = a + 1
    b[idx] = u8(0xEE)
    r = u32(0)
    for i in range(u64(13)):
        r = (r << 2) ^ u32(t.raw[i])
    return r


def _fill_unsized(buf: Array[u8], v: u8) -> None:
    for i in range(u64(len(buf))):
        buf[i] = v + u8(i)


def array_param_unsized(v: u8, idx: u64) -> u8:
    buf = Array(u8, 8)
    _fill_unsized(buf, v)
    return buf[idx]


def _fill_sized(buf: Annotated[Array[u8], 8], v: u8) -> None:
    for i in range(u64(8)):
        buf[i] = v ^ u8(i)


def array_param_sized(v: u8, idx: u64) -> u8:
    buf = Array(u8, 8)
    _fill_sized(buf, v)
    return buf[idx]
