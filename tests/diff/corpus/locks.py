"""Differential corpus: `with lock:` under real lock semantics in both worlds (the host build runs the ticket
lock: taking a lock its CPU holds panics, as the prelude does). Every way out of a `with` block — return from
nested loops, break and continue, nested withs — must release the lock: each function takes the lock again
afterwards, so a missing unlock is a self-deadlock panic in C and a value under CPython. Nested `with` on the same
lock panics in both worlds (and leaves the lock held: `reentry_panics` has a lock of its own, so after its first panic every
later call panics at the outer `with`, in both worlds)."""
from typing import Final

from pyhv.lang import SpinLock, Static, Struct, range, u8, u32


class Guarded(Struct):
    lock: SpinLock
    other: SpinLock
    n: u32


class Trap(Struct):
    lock: SpinLock


_g: Final = Static(Guarded)
_t: Final = Static(Trap)
_reentry: Final = Static(Trap)  # held for good after the first self-deadlock: nothing else uses it


def _find(g: Guarded, k: u32) -> u32:
    with g.lock:
        for i in range(u32(4)):
            for j in range(u32(4)):
                if i * 4 + j == k:
                    return i * 16 + j  # unlocks before returning
        g.n += 1
    return u32(255)


def _locked_read(g: Guarded) -> u32:
    with g.lock:
        return g.n  # the value is read while the lock is held


def return_from_nested_loops(k: u8) -> u32:
    g = _g.get()
    g.n = u32(0)
    r = _find(g, u32(k & 31))
    with g.lock:  # taken again: the return above released it
        g.n += 1
    return r * 256 + _locked_read(g)


def break_and_continue_leave_the_block(k: u8) -> u32:
    g = _g.get()
    g.n = u32(0)
    for i in range(u32(8)):
        with g.lock:
            g.n += 1
            if i == u32(k & 7):
                break
            if (i & 1) == 0:
                continue
            g.n += 16
    while True:
        with g.lock:
            g.n += 256
            break
    return _locked_read(g)


def nested_withs_unlock_in_order(k: u8) -> u32:
    g = _g.get()
    g.n = u32(0)
    for i in range(u32(4)):
        with g.lock:
            with g.other:
                g.n += 1
                if i == u32(k & 3):
                    break
                with _t.get().lock:
                    if (k & 4) != 0:
                        continue
                g.n += 8
    with g.other:
        with _t.get().lock:
            g.n += 64
    return _locked_read(g)


def _early(g: Guarded, k: u32) -> u32:
    with g.lock:
        while True:
            with g.other:
                if k == 0:
                    return u32(1)
                for i in range(k):
                    if i == 2:
                        return u32(2)
            return u32(3)
    return u32(4)


def return_through_two_withs(k: u8) -> u32:
    g = _g.get()
    r = _early(g, u32(k & 3))
    with g.lock:
        with g.other:
            r += 16
    return r


def lock_then_lock_again(k: u8) -> u32:
    # The brief's case: take the lock, return from inside a loop, take it again; no panic in either world.
    g = _g.get()
    g.n = u32(k)
    a = _find(g, u32(k & 15))
    b = _find(g, u32(k & 15))
    return a + b + _locked_read(g)


def reentry_panics(k: u8) -> u32:
    t = _reentry.get()
    if k == 0:
        return u32(0)  # does not touch the lock
    with t.lock:
        with t.lock:  # self-deadlock: panics under CPython and in C
            return u32(1)
