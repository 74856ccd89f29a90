"""Differential corpus: for-range loops whose bounds are all literals (docs/dialect.md §2: "bounds must be
same-typed fixed-width integers or literals"), kept apart so a rejection does not hide the rest of the corpus."""
from pyhv.lang import u8, u32


def bit_reverse_lit(x: u32) -> u32:
    r = u32(0)
    for i in range(32):
        r = (r << 1) | ((x >> i) & 1)
    return r


def sum_lit_bounds(a: u8) -> u8:
    s = a
    for i in range(3, 10):
        s = s * 3 + u8(i)
    return s
