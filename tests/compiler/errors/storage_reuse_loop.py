# `cur = Pair()` inside a loop while prev keeps the previous iteration's Pair.
from pyhv.lang import Struct, range, u32


class Pair(Struct):
    x: u32
    y: u32


def f(n: u32) -> u32:
    cur = Pair()
    prev = cur
    for i in range(n):
        prev = cur
        cur = Pair()  # error@15: 'cur' is bound to new storage inside a loop while 'prev' may still refer to the old one (C reuses cur's single slot): use another name
        cur.x = prev.x + i
    return prev.x
