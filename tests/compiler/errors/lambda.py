# Lambdas are not dialect.
from pyhv.lang import u32


def f() -> u32:
    g = lambda: u32(1)  # error@9: lambdas are not dialect
    return u32(0)
