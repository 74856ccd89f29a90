"""Static and per-CPU storage, and ops tables (docs/dialect.md §5, §7).

`Static(T)` / `PerCpu(T)` declare one struct per node / per CPU; `.get()` returns the current node's / current
CPU's instance (mock machine), created zeroed on first use. In C a Static is one static struct and a PerCpu is a
field of `struct pyhv_percpu` reached through TPIDR_EL2.

`Ops` is a frozen record of functions declared with annotations (`init: Callable[[], None]`) and built with
keyword arguments only (`GicOps(init=f, ack=g)`); it is not byte-backed (in C: a const struct of function
pointers). `OpsSlot(T)` holds one ops table per node: `.set(ops)` then `.get()`; get before set panics.
"""

from __future__ import annotations

import typing
from typing import Generic, TypeVar, dataclass_transform

from pyhv.lang.errors import Panic
from pyhv.lang.ints import FIXED_TYPES
from pyhv.lang.machine import current_cpu, current_node
from pyhv.lang.structs import Struct

S = TypeVar("S", bound=Struct)
O = TypeVar("O", bound="Ops")


def _check_struct_class(t: type, what: str) -> None:
    if not (isinstance(t, type) and issubclass(t, Struct) and t is not Struct):
        raise TypeError(f"{what}(T) needs a Struct subclass, not {t!r}")


class Static(Generic[S]):
    """One `T` per node: `_x: Final = Static(T)`; `_x.get()`."""

    __slots__ = ("cls",)

    def __init__(self, cls: type[S]) -> None:
        _check_struct_class(cls, "Static")
        self.cls = cls

    def get(self) -> S:
        store = current_node().statics
        obj = store.get(self)
        if obj is None:
            obj = store[self] = self.cls()
        assert isinstance(obj, self.cls)
        return obj


class PerCpu(Generic[S]):
    """One `T` per CPU: `_x: Final = PerCpu(T)`; `_x.get()` is the calling CPU's."""

    __slots__ = ("cls",)

    def __init__(self, cls: type[S]) -> None:
        _check_struct_class(cls, "PerCpu")
        self.cls = cls

    def get(self) -> S:
        store = current_cpu().percpu
        obj = store.get(self)
        if obj is None:
            obj = store[self] = self.cls()
        assert isinstance(obj, self.cls)
        return obj


@dataclass_transform(kw_only_default=True, frozen_default=True)
class Ops:
    """Base of ops tables: a frozen record of callables (and fixed-width integer constants, e.g. a register
    row's offset; docs/vm-model.md), built with keyword arguments only."""

    __slots__ = ("_fns",)
    _fields: typing.ClassVar[tuple[str, ...]] = ()
    _int_fields: typing.ClassVar[dict[str, type]] = {}
    _fns: dict[str, object]

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        names = tuple(cls.__dict__.get("__annotations__", {}))
        hints = typing.get_type_hints(cls)
        ints: dict[str, type] = {}
        for name in names:
            if hints[name] in FIXED_TYPES.values():
                ints[name] = hints[name]
            elif typing.get_origin(hints[name]) is not typing.get_origin(typing.Callable[[], None]):
                raise TypeError(f"ops table {cls.__name__}.{name} must be annotated Callable[[...], R] "
                                "or a fixed-width integer type")
        if not names:
            raise TypeError(f"ops table {cls.__name__} has no entries")
        cls._fields = names
        cls._int_fields = ints

    def __init__(self, **fns: object) -> None:
        missing = set(self._fields) - set(fns)
        extra = set(fns) - set(self._fields)
        if missing or extra:
            raise TypeError(f"{type(self).__name__}: missing {sorted(missing)}, unknown {sorted(extra)}")
        for name, fn in fns.items():
            want = self._int_fields.get(name)
            if want is not None:
                if type(fn) is not want:
                    raise TypeError(f"{type(self).__name__}.{name} must be a {want.__name__}")
            elif not callable(fn):
                raise TypeError(f"{type(self).__name__}.{name} must be a function")
        object.__setattr__(self, "_fns", dict(fns))

    def __getattr__(self, name: str) -> object:
        fns = object.__getattribute__(self, "_fns")
        if name in fns:
            return fns[name]
        raise AttributeError(name)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"ops table {type(self).__name__} is frozen")

    def __repr__(self) -> str:
        fns = object.__getattribute__(self, "_fns")
        inner = ", ".join(f"{k}={getattr(v, '__name__', v)}" for k, v in fns.items())
        return f"{type(self).__name__}({inner})"


class OpsSlot(Generic[O]):
    """One ops table of type T per node: `_gic: Final = OpsSlot(GicOps)`; `_gic.set(t)`; `_gic.get().f()`."""

    __slots__ = ("cls",)

    def __init__(self, cls: type[O]) -> None:
        if not (isinstance(cls, type) and issubclass(cls, Ops) and cls is not Ops):
            raise TypeError(f"OpsSlot(T) needs an Ops subclass, not {cls!r}")
        self.cls = cls

    def set(self, ops: O) -> None:
        if not isinstance(ops, self.cls):
            raise TypeError(f"OpsSlot({self.cls.__name__}).set got {type(ops).__name__}")
        current_node().ops_slots[self] = ops

    def get(self) -> O:
        ops = current_node().ops_slots.get(self)
        if ops is None:
            raise Panic(f"OpsSlot({self.cls.__name__}).get() before set()")
        assert isinstance(ops, self.cls)
        return ops
