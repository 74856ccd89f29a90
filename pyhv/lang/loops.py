"""Typed counting loops: `for i in range(u32(a), n):` where `i` has the bounds' fixed-width type.

Python's builtin `range` yields plain `int`s, which would make a loop variable mean something different under
CPython than in C (`i - 1` is -1 in Python but 0xFFFFFFFF for a C `uint32_t`). Dialect modules therefore import
`range` from `pyhv.lang`: the loop variable is a value of the bounds' type in both worlds. One bound may be an
int literal (converted to the other bound's type); the step is always 1. After the loop the variable holds the
last value it took (as in Python; the compiler keeps that meaning in C).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar, overload

from pyhv.lang.ints import _Fixed

_F = TypeVar("_F", bound=_Fixed)


@overload
def range(stop: _F, /) -> Iterator[_F]: ...
@overload
def range(start: _F, stop: _F | int, /) -> Iterator[_F]: ...
@overload
def range(start: int, stop: _F, /) -> Iterator[_F]: ...


def range(start: _F | int, stop: _F | int | None = None, /) -> Iterator[_F]:
    if stop is None:
        first: _F | int = 0
        last: _F | int = start
    else:
        first, last = start, stop
    kind = type(last) if isinstance(last, _Fixed) else type(first)
    if not isinstance(first, (int, kind)) or not isinstance(last, (int, kind)):
        raise TypeError(f"range bounds of different types: {type(first).__name__}, {type(last).__name__}")
    if not issubclass(kind, _Fixed):
        raise TypeError("range needs a fixed-width integer bound, e.g. range(u32(4))")
    lo = int(kind(first))
    hi = int(kind(last))
    value = lo
    while value < hi:
        yield kind(value)
        value += 1
