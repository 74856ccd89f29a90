# A folded shift count past 64 bits would be an over-long C constant.
from pyhv.lang import u32


def f(x: u32) -> u32:
    return x << (1 << 64)  # error@18: shift count 18446744073709551616 does not fit 64 bits
