# Inconsistent dedent.
from pyhv.lang import u32


def f() -> u32:
        x = u32(1)
    return x  # error@5: unindent does not match any outer indentation level
