# A local assigned on only some paths: CPython raises UnboundLocalError, the C would read a stale slot.
from pyhv.lang import u32


def f(c: bool) -> u32:
    if c:
        x = u32(1)
    return x  # error@12: 'x' may be read before it is assigned (on some path to here it is not: CPython raises UnboundLocalError, the C reads a stale slot)
