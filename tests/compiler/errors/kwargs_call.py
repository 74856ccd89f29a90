# Keyword arguments are only used to build Ops tables.
from pyhv.lang import u32


def g(a: u32) -> u32:
    return a


def f() -> u32:
    return g(a=u32(1))  # error@14: keyword arguments are not dialect (only when building an Ops table)
