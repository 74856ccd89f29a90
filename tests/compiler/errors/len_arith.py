# len() is a Python int under CPython: `len(buf) - 100` is negative there and wraps in C.
from typing import Annotated

from pyhv.lang import Array, Struct, u8, u32


class Buf(Struct):
    data: Annotated[Array[u8], 64]


def f(b: Buf) -> u32:
    return u32((len(b.data) - 100) // 3)  # error@17: len() is a plain Python int under CPython but u64 in C: convert it where it is used (u64(len(a)), u32(len(a))) or write array_len(a)
