# Operands of an arithmetic operator must have the same fixed-width type.
from pyhv.lang import u32, u64


def f(a: u32, b: u64) -> u32:
    return a + b  # error@14: mixed widths: u32 + u64 (convert one side explicitly)
