# A for loop over Python's builtin range: the loop variable would be a plain int under CPython.
from pyhv.lang import u32


def total(n: u32) -> u32:
    t = u32(0)
    for i in range(n):  # error@14: import range from pyhv.lang: Python's builtin range yields plain ints, so the loop variable would not wrap like the C
        t = t + i
    return t
