# Field names are checked.
from pyhv.lang import Struct, u32


class Point(Struct):
    x: u32


def f(p: Point) -> u32:
    return p.y  # error@14: struct Point has no field 'y'
