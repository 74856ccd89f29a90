# `x: u8 = 255; x += 1` is 256 under CPython, 0 in C.
from pyhv.lang import u8


def f() -> u8:
    x: u8 = 255  # error@13: integer literal 255 is a plain int under CPython in local 'x', but u8 in C: write u8(255)
    x += 1
    return x
