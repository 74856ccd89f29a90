# A local bound to len() would be a plain int under CPython.
from pyhv.lang import Array, u8, u64


def f() -> u64:
    buf = Array(u8, 8)
    n = len(buf)  # error@9: len() is a plain Python int under CPython but u64 in C: convert it where it is used (u64(len(a)), u32(len(a))) or write array_len(a)
    return n
