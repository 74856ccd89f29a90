# An untyped Final constant is a literal: returning it returns a plain int under CPython.
from typing import Final

from pyhv.lang import u32

ANSWER: Final = 42


def f() -> u32:
    return ANSWER  # error@12: integer literal 42 is a plain int under CPython as a return value, but u32 in C: write u32(42)
