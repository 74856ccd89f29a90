# An augmented assignment reads its target first.
from pyhv.lang import range, u32


def f(n: u32) -> u32:
    for i in range(n):
        if i == 0:
            t = u32(0)
        t += i  # error@9: 't' may be read before it is assigned (on some path to here it is not: CPython raises UnboundLocalError, the C reads a stale slot)
    return n
