# Default arguments are not dialect.
from pyhv.lang import u32


def f(a: u32 = u32(1)) -> u32:  # error@14: syntax error: unexpected '=' (default arguments are not dialect)
    return a
