"""Atomics and spinlocks as struct fields (docs/dialect.md §6).

`Atomic[T]` (T = u32 or u64) and `SpinLock` are views on the bytes of the struct that contains them. In C they
are LDXR/STXR loops (ARMv8.0, no LSE) and a ticket lock; under CPython one CPU runs at a time, so an atomic is a
plain read-modify-write and the lock checks its rules instead:

* memory orders are the `MemoryOrder` enum (values = GCC's `__ATOMIC_*`); `load` accepts RELAXED/ACQUIRE/SEQ_CST
  and `store` RELAXED/RELEASE/SEQ_CST (C11 rules), anything else panics;
* `with s.lock:` by the CPU that already holds it panics (self-deadlock); a lock held by another CPU waits via
  the machine's `wait_hook` (the simulator's scheduling point) or, with no hook installed, panics;
* a `Panic` raised inside the `with` block leaves the lock held, as in the C build where the CPU stops.

SpinLock layout: 8 bytes, align 4: `next` ticket (u32) at 0, `owner` (u32) at 4 = the ticket being served in
its low 16 bits and the holder's tag (CPU index + 1, 0 when free) in its high 16 bits, as in the C lock.
"""

from __future__ import annotations

import enum
from typing import Final, Generic, TypeVar

from pyhv.lang.errors import Panic
from pyhv.lang.ints import u32, u64
from pyhv.lang.machine import MockCpu, SparseRam, current_cpu


class MemoryOrder(enum.Enum):
    RELAXED = 0
    ACQUIRE = 2
    RELEASE = 3
    ACQ_REL = 4
    SEQ_CST = 5


RELAXED: Final = MemoryOrder.RELAXED
ACQUIRE: Final = MemoryOrder.ACQUIRE
RELEASE: Final = MemoryOrder.RELEASE
ACQ_REL: Final = MemoryOrder.ACQ_REL
SEQ_CST: Final = MemoryOrder.SEQ_CST

_LOAD_ORDERS: Final = frozenset({RELAXED, ACQUIRE, SEQ_CST})
_STORE_ORDERS: Final = frozenset({RELAXED, RELEASE, SEQ_CST})

Backing = bytearray | SparseRam

_AT = TypeVar("_AT", u32, u64)


def _check_order(order: object, allowed: frozenset[MemoryOrder], what: str) -> None:
    if not isinstance(order, MemoryOrder):
        raise TypeError(f"{what}: memory order must be RELAXED/ACQUIRE/RELEASE/ACQ_REL/SEQ_CST")
    if order not in allowed:
        raise Panic(f"{what} with memory order {order.name} is not allowed")


class Atomic(Generic[_AT]):
    """View of an atomic u32/u64 struct field. Obtain it as `s.field`; it cannot be constructed alone."""

    __slots__ = ("_buf", "_off", "_cls")

    def __init__(self) -> None:
        raise TypeError("Atomic[T] exists only as a struct field")

    @classmethod
    def _view(cls, buf: Backing, off: int, elem: type[_AT]) -> Atomic[_AT]:
        obj: Atomic[_AT] = object.__new__(cls)
        obj._buf, obj._off, obj._cls = buf, off, elem
        return obj

    _buf: Backing
    _off: int
    _cls: type[_AT]

    def _get(self) -> _AT:
        n = self._cls.BITS // 8
        return self._cls._make(int.from_bytes(self._buf[self._off:self._off + n], "little"))

    def _put(self, v: _AT) -> None:
        if type(v) is not self._cls:
            raise TypeError(f"Atomic[{self._cls.__name__}] takes a {self._cls.__name__}, not {type(v).__name__}")
        n = self._cls.BITS // 8
        self._buf[self._off:self._off + n] = v._v.to_bytes(n, "little")

    def load(self, order: MemoryOrder) -> _AT:
        _check_order(order, _LOAD_ORDERS, "Atomic.load")
        return self._get()

    def store(self, v: _AT, order: MemoryOrder) -> None:
        _check_order(order, _STORE_ORDERS, "Atomic.store")
        self._put(v)

    def fetch_add(self, v: _AT, order: MemoryOrder) -> _AT:
        """Adds v (wrapping); returns the previous value."""
        _check_order(order, frozenset(MemoryOrder), "Atomic.fetch_add")
        old = self._get()
        self._put(old + v)
        return old

    def swap(self, v: _AT, order: MemoryOrder) -> _AT:
        """Stores v; returns the previous value."""
        _check_order(order, frozenset(MemoryOrder), "Atomic.swap")
        old = self._get()
        self._put(v)
        return old

    def cas(self, expected: _AT, new: _AT, order: MemoryOrder) -> bool:
        """Compare-and-swap: stores `new` and returns True iff the value was `expected`."""
        _check_order(order, frozenset(MemoryOrder), "Atomic.cas")
        if self._get() != expected:
            return False
        self._put(new)
        return True

    def __repr__(self) -> str:
        return f"Atomic[{self._cls.__name__}]({self._get()._v})"


# Holder of each lock under CPython, keyed by (id of the backing bytes, offset of the lock).
_holders: dict[tuple[int, int], MockCpu] = {}


class SpinLock:
    """View of a ticket spinlock struct field; use only as `with s.lock:`."""

    __slots__ = ("_buf", "_off")
    SIZE: Final = 8
    ALIGN: Final = 4

    def __init__(self) -> None:
        raise TypeError("SpinLock exists only as a struct field")

    @classmethod
    def _view(cls, buf: Backing, off: int) -> SpinLock:
        obj: SpinLock = object.__new__(cls)
        obj._buf, obj._off = buf, off
        return obj

    _buf: Backing
    _off: int

    def _ticket(self, at: int) -> int:
        return int.from_bytes(self._buf[self._off + at:self._off + at + 4], "little")

    def _set_ticket(self, at: int, v: int) -> None:
        self._buf[self._off + at:self._off + at + 4] = (v & 0xFFFF_FFFF).to_bytes(4, "little")

    def _key(self) -> tuple[int, int]:
        return (id(self._buf), self._off)

    def held(self) -> bool:
        """True while some CPU holds the lock (tests and assertions only)."""
        return (self._ticket(0) & 0xFFFF) != (self._ticket(4) & 0xFFFF)

    def __enter__(self) -> None:
        cpu = current_cpu()
        holder = _holders.get(self._key())
        if holder is cpu:
            raise Panic(f"spinlock self-deadlock: {cpu} already holds it")
        hook = cpu.node.machine.wait_hook
        if self.held() and hook is None:
            raise Panic(f"spinlock contended (held by {holder}) and no scheduler is installed")
        ticket = self._ticket(0) & 0xFFFF
        self._set_ticket(0, self._ticket(0) + 1)
        while (self._ticket(4) & 0xFFFF) != ticket:
            assert hook is not None
            hook(cpu, "spinlock")
        # The C lock keeps the holder's tag (CPU index + 1) in the high half of `owner`: same bytes here.
        self._set_ticket(4, ticket | ((cpu.index + 1) & 0xFFFF) << 16)
        _holders[self._key()] = cpu

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: object) -> None:
        if exc_type is not None:
            return  # the C build stops this CPU with the lock held
        cpu = current_cpu()
        if _holders.get(self._key()) is not cpu:
            raise Panic(f"spinlock released by {cpu}, which does not hold it")
        del _holders[self._key()]
        self._set_ticket(4, (self._ticket(4) + 1) & 0xFFFF)
