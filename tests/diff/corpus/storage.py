"""Differential corpus: stack storage of `T()` locals. Each `p = T()` starts zeroed in both worlds, also when it
runs again (a loop, a second binding of the same name without aliases); references through other names and
struct_copy behave alike. (A rebinding while another local still refers to the old struct is a compile-time
error: tests/compiler/errors/storage_reuse*.py.)"""
from pyhv.lang import Struct, range, struct_copy, u8, u32


class Pair(Struct):
    x: u32
    y: u32


def _fill(p: Pair, a: u32) -> Pair:
    p.x = a
    p.y = a * 3
    return p


def rebinding_starts_zeroed(a: u32) -> u32:
    p = Pair()
    _fill(p, a)
    t = p.x + p.y
    p = Pair()
    return t + p.x * 7 + p.y


def loop_storage_zeroed_each_time(n: u8) -> u32:
    total = u32(0)
    for i in range(u32(n & 15)):
        cur = Pair()
        total += cur.x + cur.y
        cur.x = i
        cur.y += i * 2
        total += cur.x + cur.y
    return total


def prev_and_cur_by_copy(n: u8) -> u32:
    prev = Pair()
    cur = Pair()
    for i in range(u32(n & 15)):
        struct_copy(prev, cur)
        cur.x = prev.x + i
        cur.y = prev.x
    return cur.x * 65536 + prev.x


def alias_sees_writes(a: u32) -> u32:
    p = Pair()
    q = _fill(p, a)
    r = q
    r.y = u32(9)
    return p.x ^ p.y ^ q.x
