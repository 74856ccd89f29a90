# Chained comparisons are not dialect.
from pyhv.lang import u32


def f(a: u32, b: u32, c: u32) -> bool:
    return a < b < c  # error@18: chained comparisons are not dialect (use 'and')
