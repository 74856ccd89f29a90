# return inside `with lock:` would skip the unlock.
from typing import Final

from pyhv.lang import SpinLock, Static, Struct, u32


class Counter(Struct):
    lock: SpinLock
    n: u32


_c: Final = Static(Counter)


def bump() -> u32:
    c = _c.get()
    with c.lock:
        c.n += 1
        return c.n  # error@9: 'return' inside 'with' would skip the unlock
