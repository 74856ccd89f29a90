# A returned literal reaches the caller as a plain int under CPython.
from pyhv.lang import u8


def f(a: u8) -> u8:
    if a == 0:
        return 255  # error@16: integer literal 255 is a plain int under CPython as a return value, but u8 in C: write u8(255)
    return a
