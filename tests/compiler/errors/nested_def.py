# Functions are defined at module level only.
from pyhv.lang import u32


def f() -> u32:
    def g() -> u32:  # error@5: nested functions are not dialect
        return u32(1)
    return g()
