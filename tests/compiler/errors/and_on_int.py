# and/or take bool operands only.
from pyhv.lang import u32


def f(a: u32, b: bool) -> bool:
    return a and b  # error@12: 'and' needs bool operands, not u32
