# bool(x) on an integer: truth tests are not dialect (CPython raises TypeError for them too).
from pyhv.lang import u32


def nonzero(x: u32) -> bool:
    return bool(x)  # error@12: truth tests of integers are not dialect: write x != 0, not bool(x)
