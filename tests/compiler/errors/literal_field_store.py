# The prelude's struct fields take only their own type (CPython raises TypeError on an int).
from pyhv.lang import Struct, u32


class Box(Struct):
    x: u32


def f() -> u32:
    b = Box()
    b.x = 7  # error@11: integer literal 7 is a plain int under CPython as a stored value, but u32 in C: write u32(7)
    return b.x
