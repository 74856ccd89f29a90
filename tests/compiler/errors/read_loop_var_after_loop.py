# The body of a for loop may not run: its variable is unassigned after an empty range.
from pyhv.lang import range, u32


def f(n: u32) -> u32:
    for i in range(n):
        pass
    return i  # error@12: 'i' may be read before it is assigned (on some path to here it is not: CPython raises UnboundLocalError, the C reads a stale slot)
