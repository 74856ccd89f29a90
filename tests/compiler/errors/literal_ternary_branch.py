# `200 if c else a` is a plain int under CPython when c holds: (y + y) >> 1 would be 200 there, 72 in C.
from pyhv.lang import u8


def f(a: u8, c: bool) -> u8:
    y = 200 if c else a  # error@9: integer literal 200 is a plain int under CPython as a branch of a conditional expression, but u8 in C: write u8(200)
    return (y + y) >> 1
