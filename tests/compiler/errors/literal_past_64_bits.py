# Every dialect integer is at most 64 bits wide.
from pyhv.lang import u64


def f(x: u64) -> u64:
    return x >> 123456789012345678901234567890  # error@17: integer literal does not fit 64 bits
