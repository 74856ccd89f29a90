# range() whose bounds are all literals has no fixed-width type for its loop variable.
from pyhv.lang import range, u32


def bit_reverse(x: u32) -> u32:
    r = u32(0)
    for i in range(32):  # error@20: range bounds need a type: write range(u32(n))
        r = (r << 1) | ((x >> i) & 1)
    return r
