# Memory orders follow the C11 rules.
from typing import Final

from pyhv.lang import ACQUIRE, Atomic, Static, Struct, u32


class C(Struct):
    n: Atomic[u32]


_c: Final = Static(C)


def f() -> None:
    _c.get().n.store(u32(1), ACQUIRE)  # error@30: store() does not take ACQUIRE (allowed: RELAXED, RELEASE, SEQ_CST)
