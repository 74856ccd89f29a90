"""Differential corpus: array lengths. Builtin `len()` is a plain Python int under CPython, so the checker lets
it appear only where that cannot show (converted, a range bound, compared); `array_len()` is u64 in both
worlds, so its arithmetic wraps alike."""
from typing import Annotated

from pyhv.lang import Array, Struct, array_len, range, u8, u32, u64


class Buf(Struct):
    data: Annotated[Array[u8], 64]


def converted_len_wraps(k: u8) -> u32:
    b = Buf()
    return u32((u64(len(b.data)) - 100 - u64(k)) // 3)


def array_len_wraps(k: u8) -> u64:
    b = Buf()
    return array_len(b.data) - 100 + u64(k)


def len_compared_and_bound(k: u8) -> u32:
    b = Buf()
    t = u32(0)
    for i in range(u64(k & 7), len(b.data)):
        b.data[i] = u8(i)
    for i in range(u64(0), len(b.data)):
        t += u32(b.data[i])
    if u64(k) < len(b.data):
        t += 1000
    return t
