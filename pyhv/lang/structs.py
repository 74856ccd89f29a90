"""Structs and arrays with C layout, as views on bytes (docs/dialect.md §3, §4).

A `Struct` subclass lists its fields as annotations; `__init_subclass__` computes the C layout (natural
alignment and padding, little-endian; `packed=True` removes padding) and installs one descriptor per field, so
`s.f` reads and writes the backing bytes. Nested structs, arrays, atomics and spinlocks come back as views that
share those bytes (references, as in C). `struct_layout(T)` is the layout the compiler emits and
`_Static_assert`s; `sizeof`, `addr_of`, `struct_at`, `struct_copy`, `struct_zero` and `as_bytes` are the
prelude functions of the doc.

Backing bytes are a `LocalBuffer` (for `T()` / `Array(T, n)`: zeroed, with a fake address at LOCAL_BASE and
above) or the current node's `SparseRam` (for `struct_at`, where offsets are the host addresses themselves).
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Annotated, ClassVar, Generic, Self, TypeVar

from pyhv.lang.errors import Panic
from pyhv.lang.ints import FIXED_TYPES, _Fixed, _Unsigned, u64
from pyhv.lang.machine import alloc_local, check_aligned, memory_window
from pyhv.lang.sync import Atomic, Backing, SpinLock

T = TypeVar("T")
S = TypeVar("S", bound="Struct")


@dataclass(frozen=True)
class FieldLayout:
    """One field. kind: "int" | "bool" | "struct" | "array" | "atomic" | "spinlock".

    elem_type: the int class / bool / struct class (for arrays: of one element; for atomics: u32 or u64;
    for spinlocks: SpinLock). count: number of array elements (1 for non-arrays). size/align in bytes
    (align is the natural one, even in a packed struct).
    """

    name: str
    offset: int
    size: int
    kind: str
    elem_type: type
    count: int
    align: int


@dataclass(frozen=True)
class StructLayout:
    size: int
    align: int
    packed: bool
    fields: tuple[FieldLayout, ...]
    name: str


# --- codecs: how one value of a field/element type is read from and written to the bytes --------------

class _Codec:
    kind = ""

    def __init__(self, elem: type, size: int, align: int, count: int = 1) -> None:
        self.elem, self.size, self.align, self.count = elem, size, align, count

    def load(self, buf: Backing, off: int, base: int) -> object:
        raise NotImplementedError

    def store(self, buf: Backing, off: int, v: object) -> None:
        raise TypeError(f"a {self.kind} field cannot be assigned (use struct_copy or its own operations)")


class _IntCodec(_Codec):
    kind = "int"

    def __init__(self, cls: type[_Fixed]) -> None:
        super().__init__(cls, cls.BITS // 8, cls.BITS // 8)
        self.cls = cls

    def load(self, buf: Backing, off: int, base: int) -> object:
        return self.cls._make(int.from_bytes(buf[off:off + self.size], "little"))

    def store(self, buf: Backing, off: int, v: object) -> None:
        if type(v) is not self.cls:
            raise TypeError(f"expected {self.cls.__name__}, got {type(v).__name__}")
        assert isinstance(v, _Fixed)
        buf[off:off + self.size] = (v._v & self.cls.MASK).to_bytes(self.size, "little")


class _BoolCodec(_Codec):
    kind = "bool"

    def load(self, buf: Backing, off: int, base: int) -> object:
        return buf[off:off + 1] != b"\0"

    def store(self, buf: Backing, off: int, v: object) -> None:
        if type(v) is not bool:
            raise TypeError(f"expected bool, got {type(v).__name__}")
        buf[off:off + 1] = b"\1" if v else b"\0"


class _StructCodec(_Codec):
    kind = "struct"

    def __init__(self, cls: type[Struct]) -> None:
        lay = cls._layout
        super().__init__(cls, lay.size, lay.align)
        self.cls = cls

    def load(self, buf: Backing, off: int, base: int) -> object:
        return self.cls._view(buf, off, base)


class _ArrayCodec(_Codec):
    kind = "array"

    def __init__(self, elem: _Codec, count: int) -> None:
        super().__init__(elem.elem, elem.size * count, elem.align, count)
        self.elem_codec = elem

    def load(self, buf: Backing, off: int, base: int) -> object:
        return Array._view(buf, off, base, self.elem_codec, self.count)


class _AtomicCodec(_Codec):
    kind = "atomic"

    def load(self, buf: Backing, off: int, base: int) -> object:
        return Atomic._view(buf, off, self.elem)


class _SpinLockCodec(_Codec):
    kind = "spinlock"

    def load(self, buf: Backing, off: int, base: int) -> object:
        return SpinLock._view(buf, off)


def _elem_codec(t: object, where: str) -> _Codec:
    """Codec of a scalar or struct type (what an array may hold)."""
    if isinstance(t, type) and t in FIXED_TYPES.values():
        assert issubclass(t, _Fixed)
        return _IntCodec(t)
    if t is bool:
        return _BoolCodec(bool, 1, 1)
    if isinstance(t, type) and issubclass(t, Struct) and t is not Struct:
        return _StructCodec(t)
    raise TypeError(f"{where}: unsupported type {t!r}")


def _field_codec(t: object, where: str) -> _Codec:
    if t is SpinLock:
        return _SpinLockCodec(SpinLock, SpinLock.SIZE, SpinLock.ALIGN)
    origin = typing.get_origin(t)
    if origin is Atomic:
        (arg,) = typing.get_args(t)
        if arg not in (FIXED_TYPES["u32"], FIXED_TYPES["u64"]):
            raise TypeError(f"{where}: Atomic[T] needs T = u32 or u64")
        return _AtomicCodec(arg, arg.BITS // 8, arg.BITS // 8)
    if origin is Annotated:
        base, *meta = typing.get_args(t)
        if typing.get_origin(base) is Array and len(meta) == 1 and type(meta[0]) is int and meta[0] > 0:
            return _ArrayCodec(_elem_codec(typing.get_args(base)[0], where), meta[0])
        raise TypeError(f"{where}: only Annotated[Array[T], N] with a positive literal N is supported")
    if t is Array or origin is Array:
        raise TypeError(f"{where}: an array field needs a length: Annotated[Array[T], N]")
    return _elem_codec(t, where)


class _Field:
    """Descriptor of one struct field at a fixed offset."""

    __slots__ = ("codec", "offset", "name")

    def __init__(self, codec: _Codec, offset: int, name: str) -> None:
        self.codec, self.offset, self.name = codec, offset, name

    def __get__(self, obj: Struct | None, owner: type) -> object:
        if obj is None:
            return self
        return self.codec.load(obj._buf, obj._off + self.offset, obj._base)

    def __set__(self, obj: Struct, v: object) -> None:
        self.codec.store(obj._buf, obj._off + self.offset, v)


def _round_up(n: int, a: int) -> int:
    return (n + a - 1) // a * a


class _StructMeta(type):
    """Gives every struct class `__slots__ = ()`, so a misspelt field assignment fails instead of passing."""

    def __new__(mcls, name: str, bases: tuple[type, ...], ns: dict[str, object], **kw: bool) -> _StructMeta:
        ns.setdefault("__slots__", ())
        return super().__new__(mcls, name, bases, ns, **kw)


class Struct(metaclass=_StructMeta):
    """Base of all dialect structs. `T()` gives a zeroed instance with its own bytes."""

    __slots__ = ("_buf", "_off", "_base")
    _layout: ClassVar[StructLayout]
    _buf: Backing
    _off: int
    _base: int

    def __init_subclass__(cls, packed: bool = False) -> None:
        super().__init_subclass__()
        for b in cls.__mro__[1:]:
            if b is not Struct and issubclass(b, Struct):
                raise TypeError(f"struct {cls.__name__}: structs cannot inherit from other structs")
        names = list(cls.__dict__.get("__annotations__", {}))
        if not names:
            raise TypeError(f"struct {cls.__name__} has no fields")
        hints = typing.get_type_hints(cls, include_extras=True)
        offset, align, fields = 0, 1, []
        for name in names:
            codec = _field_codec(hints[name], f"{cls.__name__}.{name}")
            a = 1 if packed else codec.align
            offset = _round_up(offset, a)
            fields.append(FieldLayout(name, offset, codec.size, codec.kind, codec.elem, codec.count, codec.align))
            setattr(cls, name, _Field(codec, offset, name))
            offset += codec.size
            align = max(align, a)
        cls._layout = StructLayout(_round_up(offset, align), align, packed, tuple(fields), cls.__name__)

    def __init__(self) -> None:
        buf = alloc_local(self._layout.size)
        self._buf, self._off, self._base = buf, 0, buf.base

    @classmethod
    def _view(cls, buf: Backing, off: int, base: int) -> Self:
        obj = object.__new__(cls)
        obj._buf, obj._off, obj._base = buf, off, base
        return obj

    def __repr__(self) -> str:
        parts = [f"{f.name}={getattr(self, f.name)!r}" for f in self._layout.fields if f.kind in ("int", "bool")]
        return f"{type(self).__name__}@{self._base + self._off:#x}({', '.join(parts)})"


class Array(Generic[T]):
    """Fixed-size array: `Array(u8, 64)` (zeroed, own bytes) or a struct field `Annotated[Array[T], N]`.

    Indexes are unsigned fixed-width integers or ints; out of range panics. Struct elements are references.
    Iteration is not supported (loop over `range(array_len(a))`).
    """

    __slots__ = ("_buf", "_off", "_base", "_codec", "_count")
    _buf: Backing
    _off: int
    _base: int
    _codec: _Codec
    _count: int

    def __init__(self, elem: type[T], count: int) -> None:
        if type(count) is not int or count <= 0:
            raise TypeError("Array(T, n) needs a positive literal length")
        self._codec = _elem_codec(elem, "Array")
        self._count = count
        buf = alloc_local(self._codec.size * count)
        self._buf, self._off, self._base = buf, 0, buf.base

    @classmethod
    def _view(cls, buf: Backing, off: int, base: int, codec: _Codec, count: int) -> Array[T]:
        obj: Array[T] = object.__new__(cls)
        obj._buf, obj._off, obj._base, obj._codec, obj._count = buf, off, base, codec, count
        return obj

    def _elem_off(self, i: object) -> int:
        if isinstance(i, _Unsigned):
            n = i._v
        elif type(i) is int:
            n = i
        else:
            raise TypeError(f"array index must be an unsigned fixed-width integer or a literal, not {type(i).__name__}")
        if not 0 <= n < self._count:
            raise Panic(f"array index {n} out of range (length {self._count})")
        return self._off + n * self._codec.size

    def __getitem__(self, i: _Unsigned | int) -> T:
        return typing.cast(T, self._codec.load(self._buf, self._elem_off(i), self._base))

    def __setitem__(self, i: _Unsigned | int, v: T) -> None:
        self._codec.store(self._buf, self._elem_off(i), v)

    def __len__(self) -> int:
        return self._count

    __iter__ = None  # no implicit iteration through __getitem__

    def __repr__(self) -> str:
        return f"Array[{self._codec.elem.__name__}]@{self._base + self._off:#x}(len={self._count})"


def array_len(a: Array[T]) -> u64:
    """len(a) as a u64 (what `len(a)` means in the dialect)."""
    return u64(a._count)


def struct_layout(t: type[Struct]) -> StructLayout:
    return t._layout


def sizeof(t: type[Struct] | type[_Fixed]) -> u64:
    if issubclass(t, _Fixed):
        return u64(t.BITS // 8)
    return u64(t._layout.size)


def addr_of(s: Struct | Array[T]) -> u64:
    """Host address of a struct or array (fake LOCAL_BASE addresses for locally created ones)."""
    return u64(s._base + s._off)


def struct_at(t: type[S], addr: u64) -> S:
    """View the memory at host address `addr` (RAM of the current node, or a local buffer) as a `t`."""
    if type(addr) is not u64:
        raise TypeError("struct_at needs a u64 address")
    lay = t._layout
    check_aligned(addr._v, lay.align)
    backing, base = memory_window(addr._v, lay.size)
    return t._view(backing, addr._v - base, base)


def _same_struct(a: Struct, b: Struct, what: str) -> None:
    if type(a) is not type(b):
        raise TypeError(f"{what}: {type(a).__name__} and {type(b).__name__} differ")


def struct_copy(dst: S, src: S) -> None:
    _same_struct(dst, src, "struct_copy")
    n = dst._layout.size
    dst._buf[dst._off:dst._off + n] = bytes(src._buf[src._off:src._off + n])


def struct_zero(s: Struct) -> None:
    n = s._layout.size
    s._buf[s._off:s._off + n] = bytes(n)


def as_bytes(s: Struct) -> bytes:
    """The struct's bytes, exactly as C lays them out (tests only)."""
    n = s._layout.size
    return bytes(s._buf[s._off:s._off + n])
