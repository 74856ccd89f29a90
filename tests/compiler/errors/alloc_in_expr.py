# T() allocates on the stack and must be bound to a local name.
from pyhv.lang import Struct, u32


class Point(Struct):
    x: u32


def f() -> u32:
    return Point().x  # error@12: Point() allocates on the stack: assign it to a local name
