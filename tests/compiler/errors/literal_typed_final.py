# `Final[u8] = 200` is a plain int constant under CPython.
from typing import Final

from pyhv.lang import u8

LIMIT: Final[u8] = 200  # error@20: integer literal 200 is a plain int under CPython as a typed constant, but u8 in C: write u8(200)


def f(a: u8) -> u8:
    return a + LIMIT
