"""Fixed-width integers of the dialect: u8 u16 u32 u64 i8 i16 i32 i64 (docs/dialect.md §1).

Each type is a class (not an `int` subclass) holding one Python int, masked to the width on construction, so
CPython computes exactly what the generated C computes: two's-complement wrap-around, C casts between widths,
guarded shift counts, unsigned-only `//` and `%`, and `sdiv`/`srem` with C truncation for signed values.

Typing: operators take `Self | int`, so mypy --strict rejects `u32(1) + u64(1)` and accepts `u32(1) + 1`.
At run time mixing two different fixed types raises TypeError; an `int` operand (a literal in the dialect) is
converted to the operand's type, as a C cast would. `__bool__` raises: the dialect requires `x != 0`.
"""

from __future__ import annotations

from typing import ClassVar, Final, Self, TypeVar

from pyhv.lang.errors import Panic


class _Fixed:
    """Shared implementation; concrete types set BITS/SIGNED/C_TYPE. Do not instantiate directly."""

    __slots__ = ("_v",)
    BITS: ClassVar[int] = 0
    SIGNED: ClassVar[bool] = False
    C_TYPE: ClassVar[str] = ""
    MASK: ClassVar[int] = 0
    MIN: ClassVar[int] = 0
    MAX: ClassVar[int] = 0
    _v: int

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        if cls.BITS:
            cls.MASK = (1 << cls.BITS) - 1
            cls.MIN = -(1 << (cls.BITS - 1)) if cls.SIGNED else 0
            cls.MAX = (1 << (cls.BITS - 1)) - 1 if cls.SIGNED else cls.MASK

    def __init__(self, v: int | _Fixed) -> None:
        if isinstance(v, _Fixed):
            raw = v._v
        elif isinstance(v, int):
            raw = int(v)
        else:
            raise TypeError(f"{type(self).__name__}() takes an int or a fixed-width integer, not {type(v).__name__}")
        self._v = self._wrap(raw)

    @classmethod
    def _wrap(cls, raw: int) -> int:
        r = raw & cls.MASK
        if cls.SIGNED and r > cls.MAX:
            r -= 1 << cls.BITS
        return r

    @classmethod
    def _make(cls, raw: int) -> Self:
        obj = object.__new__(cls)
        obj._v = cls._wrap(raw)
        return obj

    def _other(self, other: object, op: str) -> int:
        """The raw value of a same-typed operand or of an int literal converted to this type."""
        if type(other) is type(self):
            assert isinstance(other, _Fixed)
            return other._v
        if type(other) is int:
            return self._wrap(other)
        raise TypeError(f"{type(self).__name__} {op} {type(other).__name__}: operands must have the same type")

    # --- arithmetic, wrapping modulo 2^BITS -------------------------------------------------------------
    def __add__(self, other: Self | int) -> Self:
        return self._make(self._v + self._other(other, "+"))

    def __radd__(self, other: int) -> Self:
        return self._make(self._other(other, "+") + self._v)

    def __sub__(self, other: Self | int) -> Self:
        return self._make(self._v - self._other(other, "-"))

    def __rsub__(self, other: int) -> Self:
        return self._make(self._other(other, "-") - self._v)

    def __mul__(self, other: Self | int) -> Self:
        return self._make(self._v * self._other(other, "*"))

    def __rmul__(self, other: int) -> Self:
        return self._make(self._other(other, "*") * self._v)

    def __and__(self, other: Self | int) -> Self:
        return self._make(self._v & self._other(other, "&"))

    def __rand__(self, other: int) -> Self:
        return self._make(self._other(other, "&") & self._v)

    def __or__(self, other: Self | int) -> Self:
        return self._make(self._v | self._other(other, "|"))

    def __ror__(self, other: int) -> Self:
        return self._make(self._other(other, "|") | self._v)

    def __xor__(self, other: Self | int) -> Self:
        return self._make(self._v ^ self._other(other, "^"))

    def __rxor__(self, other: int) -> Self:
        return self._make(self._other(other, "^") ^ self._v)

    def __pos__(self) -> Self:
        return self

    def __invert__(self) -> Self:
        return self._make(~self._v)

    def __neg__(self) -> Self:
        return self._make(-self._v)

    # --- shifts: the count keeps its own type; out-of-range counts are defined, never UB ----------------
    def _count(self, count: object) -> int:
        if isinstance(count, _Fixed):
            c = count._v
        elif type(count) is int:
            c = count
        else:
            raise TypeError(f"shift count must be a fixed-width integer or a literal, not {type(count).__name__}")
        return c if 0 <= c < self.BITS else self.BITS

    def __lshift__(self, count: _Fixed | int) -> Self:
        c = self._count(count)
        return self._make(0 if c >= self.BITS else self._v << c)

    def __rshift__(self, count: _Fixed | int) -> Self:
        c = self._count(count)
        if c >= self.BITS:
            return self._make(-1 if self._v < 0 else 0)
        return self._make(self._v >> c)

    # --- comparisons -------------------------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if type(other) is type(self) or type(other) is int:
            return self._v == self._other(other, "==")
        if isinstance(other, _Fixed):
            raise TypeError(f"{type(self).__name__} == {type(other).__name__}: operands must have the same type")
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._v)

    def __lt__(self, other: Self | int) -> bool:
        return self._v < self._other(other, "<")

    def __le__(self, other: Self | int) -> bool:
        return self._v <= self._other(other, "<=")

    def __gt__(self, other: Self | int) -> bool:
        return self._v > self._other(other, ">")

    def __ge__(self, other: Self | int) -> bool:
        return self._v >= self._other(other, ">=")

    # --- conversions (tests only) and presentation -----------------------------------------------------
    def __bool__(self) -> bool:
        raise TypeError(f"{type(self).__name__} used as a condition: the dialect requires an explicit `!= 0`")

    def __index__(self) -> int:
        return self._v

    def __int__(self) -> int:
        return self._v

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._v})"

    def __format__(self, spec: str) -> str:
        return format(self._v, spec)


class _Unsigned(_Fixed):
    """Unsigned types also get C's `/` and `%` as `//` and `%` (signed types deliberately do not)."""

    __slots__ = ()

    def __floordiv__(self, other: Self | int) -> Self:
        d = self._other(other, "//")
        if d == 0:
            raise Panic("division by zero")
        return self._make(self._v // d)

    def __rfloordiv__(self, other: int) -> Self:
        if self._v == 0:
            raise Panic("division by zero")
        return self._make(self._other(other, "//") // self._v)

    def __mod__(self, other: Self | int) -> Self:
        d = self._other(other, "%")
        if d == 0:
            raise Panic("remainder by zero")
        return self._make(self._v % d)

    def __rmod__(self, other: int) -> Self:
        if self._v == 0:
            raise Panic("remainder by zero")
        return self._make(self._other(other, "%") % self._v)


class _Signed(_Fixed):
    """Signed types: no `//`/`%` (use sdiv/srem); `>>` is arithmetic."""

    __slots__ = ()
    SIGNED = True


class u8(_Unsigned):
    __slots__ = ()
    BITS = 8
    C_TYPE = "uint8_t"


class u16(_Unsigned):
    __slots__ = ()
    BITS = 16
    C_TYPE = "uint16_t"


class u32(_Unsigned):
    __slots__ = ()
    BITS = 32
    C_TYPE = "uint32_t"


class u64(_Unsigned):
    __slots__ = ()
    BITS = 64
    C_TYPE = "uint64_t"


class i8(_Signed):
    __slots__ = ()
    BITS = 8
    C_TYPE = "int8_t"


class i16(_Signed):
    __slots__ = ()
    BITS = 16
    C_TYPE = "int16_t"


class i32(_Signed):
    __slots__ = ()
    BITS = 32
    C_TYPE = "int32_t"


class i64(_Signed):
    __slots__ = ()
    BITS = 64
    C_TYPE = "int64_t"


usize = u64

FIXED_TYPES: Final[dict[str, type[_Fixed]]] = {
    t.__name__: t for t in (u8, u16, u32, u64, i8, i16, i32, i64)
}

_S = TypeVar("_S", i8, i16, i32, i64)


def _signed_operands(a: _Fixed, b: object, what: str) -> tuple[int, int]:
    if not isinstance(a, _Signed):
        raise TypeError(f"{what} takes signed operands, not {type(a).__name__}")
    d = a._other(b, what)
    if d == 0:
        raise Panic("division by zero" if what == "sdiv" else "remainder by zero")
    return a._v, d


def _trunc_div(n: int, d: int) -> int:
    q = abs(n) // abs(d)
    return q if (n < 0) == (d < 0) else -q


def sdiv(a: _S, b: _S | int) -> _S:
    """C signed `/`: truncates toward zero; INT_MIN / -1 wraps to INT_MIN; b == 0 panics."""
    n, d = _signed_operands(a, b, "sdiv")
    return a._make(_trunc_div(n, d))


def srem(a: _S, b: _S | int) -> _S:
    """C signed `%`: the sign follows the dividend; INT_MIN % -1 == 0; b == 0 panics."""
    n, d = _signed_operands(a, b, "srem")
    return a._make(n - _trunc_div(n, d) * d)
