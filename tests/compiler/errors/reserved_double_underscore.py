# A local named like the hidden loop counter `i__end` (or `p__storage`, `<module>__NAME`) is rejected.
from pyhv.lang import range, u32


def f(n: u32) -> u32:
    t = u32(0)
    for i in range(n):
        i__end = i + 1  # error@9: 'i__end': local names containing '__' are reserved for names the compiler derives
        t += i__end
    return t
