"""Differential corpus: `for _ in range(n)`, the idiomatic loop whose variable is never read; kept apart so a
rejection does not hide the rest of the corpus."""
from pyhv.lang import range, u8, u64


def fib_u64(n: u8) -> u64:
    a = u64(0)
    b = u64(1)
    for _ in range(n):
        t = a + b
        a = b
        b = t
    return a
