# A while loop with a condition may end without running its return.
from pyhv.lang import u32


def f(n: u32) -> u32:
    while n < 10:  # error@5: f() can reach the end of its body without returning u32: return (or panic) on every path
        if n == 5:
            return n
        n += 1
