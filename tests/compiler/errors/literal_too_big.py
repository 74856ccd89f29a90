# A literal must fit the type of the other operand.
from pyhv.lang import u8


def f(a: u8) -> u8:
    return a + 300  # error@16: integer literal 300 does not fit u8
