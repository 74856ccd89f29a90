# `p = Pair()` again while q still refers to the first Pair: C has one slot per name, Python a new object.
from pyhv.lang import Struct, u32


class Pair(Struct):
    x: u32
    y: u32


def f(a: u32) -> u32:
    p = Pair()
    p.x = a
    q = p
    p = Pair()  # error@9: 'p' is bound to new storage again while 'q' may still refer to the old one (C reuses p's single slot): use another name
    p.x = u32(1)
    return q.x
