# An expression of literals only (here a conditional one) is a plain int under CPython as well.
from pyhv.lang import u8


def f(c: bool) -> u8:
    x = u8(0)
    x = (1 if c else 2) + 254  # error@9: an expression of literals only is a plain int under CPython in local 'x', but u8 in C: convert it, u8(...)
    return x
