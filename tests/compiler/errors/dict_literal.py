# Dicts and sets are not dialect.
from pyhv.lang import u32


def f() -> u32:
    xs = {}  # error@10: syntax error: unexpected character '{' (dicts and sets are not dialect)
    return u32(0)
