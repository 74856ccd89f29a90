# A literal argument stays a plain int inside the callee under CPython.
from pyhv.lang import u8


def _twice(a: u8) -> u8:
    return a + a


def f(a: u8) -> u8:
    return _twice(200) + a  # error@19: integer literal 200 is a plain int under CPython for an argument of _twice(), but u8 in C: write u8(200)
