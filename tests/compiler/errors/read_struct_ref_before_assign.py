# A struct reference assigned inside a loop that may not run would be NULL in the C.
from typing import Final

from pyhv.lang import Static, Struct, range, u32


class Box(Struct):
    x: u32


_b: Final = Static(Box)


def f(n: u32) -> u32:
    while n > 0:
        b = _b.get()
        n -= 1
    return b.x  # error@12: 'b' may be read before it is assigned (on some path to here it is not: CPython raises UnboundLocalError, the C reads a stale slot)
