# continue inside `with lock:` would skip the unlock.
from typing import Final

from pyhv.lang import SpinLock, Static, Struct, range, u32


class Counter(Struct):
    lock: SpinLock
    n: u32


_c: Final = Static(Counter)


def spin() -> None:
    c = _c.get()
    for i in range(u32(4)):
        with c.lock:
            continue  # error@13: 'continue' inside 'with' would skip the unlock
