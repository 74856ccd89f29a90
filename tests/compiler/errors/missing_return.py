# A path that reaches the end of a value-returning function: CPython returns None, the C garbage.
from pyhv.lang import u32


def f(c: bool, n: u32) -> u32:
    if c:  # error@5: f() can reach the end of its body without returning u32: return (or panic) on every path
        return n
    elif n == 3:
        return u32(1)
