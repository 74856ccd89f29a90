# `if x:` needs a bool.
from pyhv.lang import u32


def f(a: u32) -> u32:
    if a:  # error@8: condition must be bool, not u32 (write x != 0)
        return a
    return u32(0)
