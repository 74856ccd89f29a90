# Storing the address of a stack array in static storage lets it outlive the frame.
from typing import Final

from pyhv.lang import Array, Static, Struct, addr_of, u8, u64


class Keep(Struct):
    where: u64


_k: Final = Static(Keep)


def f() -> None:
    buf = Array(u8, 16)
    _k.get().where = addr_of(buf)  # error@22: the address of this function's stack storage cannot be stored in a field or element: it dangles in C once the function returns (CPython keeps the storage alive)
