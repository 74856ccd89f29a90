# not takes a bool.
from pyhv.lang import u32


def f(a: u32) -> bool:
    return not a  # error@16: 'not' needs a bool operand, not u32 (write x == 0)
