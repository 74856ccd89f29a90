# Exceptions are not dialect.
from pyhv.lang import u32


def f() -> u32:
    try:  # error@5: exceptions are not dialect (use panic)
        return u32(1)
    finally:
        return u32(2)
