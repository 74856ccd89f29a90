"""Types of the dialect as the checker sees them, their C spelling, and C struct layout.

Layout is computed here with C's rules (natural alignment, padding, `packed` removes it); the emitted C
carries `_Static_assert`s of these numbers, and tests/compiler check them against pyhv.lang.struct_layout,
so compiler, gcc and the CPython prelude are held to one layout.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from compiler import ast as A
from compiler.diagnostics import DialectError


@dataclass(frozen=True)
class IntT:
    name: str
    bits: int
    signed: bool

    @property
    def size(self) -> int:
        return self.bits // 8

    @property
    def min(self) -> int:
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def max(self) -> int:
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    def __str__(self) -> str:
        return self.name


INT_TYPES: dict[str, IntT] = {n: IntT(n, b, n[0] == "i") for n, b in
                              [("u8", 8), ("u16", 16), ("u32", 32), ("u64", 64),
                               ("i8", 8), ("i16", 16), ("i32", 32), ("i64", 64)]}
INT_TYPES["usize"] = INT_TYPES["u64"]
U64 = INT_TYPES["u64"]
U32 = INT_TYPES["u32"]
U8 = INT_TYPES["u8"]
I64 = INT_TYPES["i64"]


@dataclass(frozen=True)
class BoolT:
    def __str__(self) -> str:
        return "bool"


@dataclass(frozen=True)
class VoidT:
    noreturn: bool = False

    def __str__(self) -> str:
        return "NoReturn" if self.noreturn else "None"


@dataclass(frozen=True)
class StrT:
    def __str__(self) -> str:
        return "str"


@dataclass(frozen=True)
class LitIntT:
    """Type of an integer literal (or Final int-literal constant) before it meets a fixed type."""

    value: int

    def __str__(self) -> str:
        return "integer literal"


@dataclass(eq=False)
class StructT:
    name: str
    module: str
    pos: A.Pos
    packed: bool
    fields: list[tuple[str, Type, A.Pos]] = field(default_factory=list)
    offsets: dict[str, int] = field(default_factory=dict)
    size: int = 0
    align: int = 1
    laid_out: bool = False
    busy: bool = False

    def field_type(self, name: str) -> Type | None:
        for n, t, _ in self.fields:
            if n == name:
                return t
        return None

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class ArrayT:
    elem: Type
    n: int

    def __str__(self) -> str:
        return f"Array[{self.elem}, {self.n}]"


@dataclass(frozen=True)
class AtomicT:
    inner: IntT

    def __str__(self) -> str:
        return f"Atomic[{self.inner}]"


@dataclass(frozen=True)
class SpinLockT:
    def __str__(self) -> str:
        return "SpinLock"


@dataclass(frozen=True)
class FuncT:
    params: tuple[Type, ...]
    ret: Type

    def __str__(self) -> str:
        return f"Callable[[{', '.join(map(str, self.params))}], {self.ret}]"


@dataclass(eq=False)
class OpsT:
    name: str
    module: str
    pos: A.Pos
    fields: list[tuple[str, FuncT | IntT | BoolT]] = field(default_factory=list)

    def field_type(self, name: str) -> FuncT | IntT | BoolT | None:
        for n, t in self.fields:
            if n == name:
                return t
        return None

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class StorageT:
    """Static(T) / PerCpu(T) / OpsSlot(T) declaration; `.get()` yields a reference to inner."""

    kind: str  # 'Static' | 'PerCpu' | 'OpsSlot'
    inner: StructT | OpsT

    def __str__(self) -> str:
        return f"{self.kind}({self.inner})"


@dataclass(frozen=True)
class TypeRef:
    """A name that denotes a type (u32, a struct or ops class) used as a value: constructor/conversion."""

    t: Type

    def __str__(self) -> str:
        return f"type {self.t}"


@dataclass(frozen=True)
class ModuleT:
    name: str

    def __str__(self) -> str:
        return f"module {self.name}"


@dataclass(frozen=True)
class PreludeT:
    """A prelude name (intrinsic function or special form) not yet applied."""

    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class MethodT:
    """A bound method of an Atomic/SpinLock/storage value (e.g. `x.count.load`)."""

    recv: Type
    name: str

    def __str__(self) -> str:
        return f"{self.recv}.{self.name}"


Type = (IntT | BoolT | VoidT | StrT | LitIntT | StructT | ArrayT | AtomicT | SpinLockT | FuncT | OpsT | StorageT
        | TypeRef | ModuleT | PreludeT | MethodT)

BOOL = BoolT()
VOID = VoidT()
NORETURN = VoidT(True)
STR = StrT()
SPINLOCK = SpinLockT()

SPINLOCK_SIZE = 8  # struct pyhv_spinlock { u32 next; u32 owner; }
SPINLOCK_ALIGN = 4


def size_align(t: Type) -> tuple[int, int]:
    if isinstance(t, IntT):
        return t.size, t.size
    if isinstance(t, BoolT):
        return 1, 1
    if isinstance(t, AtomicT):
        return t.inner.size, t.inner.size
    if isinstance(t, SpinLockT):
        return SPINLOCK_SIZE, SPINLOCK_ALIGN
    if isinstance(t, StructT):
        layout_struct(t)
        return t.size, t.align
    if isinstance(t, ArrayT):
        s, a = size_align(t.elem)
        return s * t.n, a
    raise ValueError(f"type {t} has no layout")


def _packed_field(s: StructT, name: str, t: Type, pos: A.Pos) -> None:
    """A packed struct sits at any address, so a reference to a nested struct inside it may be misaligned:
    C's `struct T *` promises T's alignment (undefined behaviour otherwise), the prelude's view does not care.
    Nested structs (and arrays of them) must be packed too; atomics and locks need their alignment."""
    elem = t.elem if isinstance(t, ArrayT) else t
    if isinstance(elem, StructT) and not elem.packed:
        raise DialectError(pos, f"field '{name}' of packed struct {s.name} is struct {elem.name}, which is not "
                                "packed: a reference to it could be misaligned (declare it packed=True)")
    if isinstance(elem, (AtomicT, SpinLockT)):
        raise DialectError(pos, f"field '{name}': a packed struct cannot hold an atomic or a lock "
                                "(they need their alignment)")


def layout_struct(s: StructT) -> None:
    """C layout: each field at the next multiple of its alignment (1 if packed); size rounded to align."""
    if s.laid_out:
        return
    if s.busy:
        raise DialectError(s.pos, f"struct {s.name} contains itself (through its fields)")
    s.busy = True
    off = 0
    align = 1
    for name, t, pos in s.fields:
        fs, fa = size_align(t)
        if s.packed:
            _packed_field(s, name, t, pos)
            fa = 1
        off = (off + fa - 1) // fa * fa
        s.offsets[name] = off
        off += fs
        align = max(align, fa)
    s.size = (off + align - 1) // align * align
    s.align = align
    s.laid_out = True
    s.busy = False


def same(a: Type, b: Type) -> bool:
    if isinstance(a, (StructT, OpsT)) or isinstance(b, (StructT, OpsT)):
        return a is b
    return a == b


def is_value_int(t: Type) -> bool:
    return isinstance(t, (IntT, LitIntT))
