# A function may not return a reference to its own stack storage.
from pyhv.lang import Struct, u32


class Point(Struct):
    x: u32


def make() -> Point:
    p = Point()
    return p  # error@12: cannot return a reference to stack storage (T() of this function)
