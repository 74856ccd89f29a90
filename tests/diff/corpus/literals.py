"""Differential corpus: integer literals where the prelude converts them (docs/dialect.md §1, "Literals"):
operands of arithmetic, shifts and comparisons next to a typed operand, array indexes, range bounds, the
argument of a conversion (also a conditional expression of literals), untyped Final constants used as
operands, and the divisor of sdiv. In each, CPython and C see the value converted to the operand's type, so
the wrap-arounds agree; the contexts where a literal would stay a plain int are errors (tests/compiler/errors
literal_*.py)."""
from typing import Annotated, Final

from pyhv.lang import Array, Struct, i8, range, sdiv, u8, u16, u32

STEP: Final = 200
BIAS: Final = 0xFFFF


class Buf(Struct):
    b: Annotated[Array[u8], 8]


def literal_operands(a: u8) -> u8:
    y = 200 + a
    z = (y + y) >> 1
    return z - 250 + (a * 3)


def literal_ternary_converted(a: u8, c: bool) -> u8:
    y = u8(200 if c else 100) + a
    w = (u8(1) if c else a) + 255
    return (y + y) >> 1 ^ w


def constant_operands(a: u16) -> u16:
    x = a + BIAS
    if x > STEP:
        x = x - STEP
    return x * STEP


def literal_compare_and_index(a: u8, k: u8) -> u32:
    buf = Buf()
    buf.b[3] = a
    buf.b[7] = a + 255
    t = u32(0)
    for i in range(u8(0), 8):
        if buf.b[i] > 100:
            t += 1
    if a == 255:
        t += 1000
    return t + u32(buf.b[k & 7]) + u32(buf.b[7])


def literal_shift_and_sdiv(a: i8, n: u8) -> i8:
    s = (a << 1) >> 7
    return sdiv(a, -1) + sdiv(s, 3) + (a >> (n & 7)) + a * -128
