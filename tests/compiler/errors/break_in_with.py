# break inside `with lock:` would skip the unlock.
from typing import Final

from pyhv.lang import SpinLock, Static, Struct, u32


class Counter(Struct):
    lock: SpinLock
    n: u32


_c: Final = Static(Counter)


def spin() -> None:
    c = _c.get()
    while True:
        with c.lock:
            break  # error@13: 'break' inside 'with' would skip the unlock
