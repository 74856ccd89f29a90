"""Atomics and spinlocks under CPython: the values C would produce and the lock rules checked."""

from __future__ import annotations

import pytest

from pyhv.lang import (
    ACQ_REL, ACQUIRE, RELAXED, RELEASE, SEQ_CST, Atomic, Panic, SpinLock, Struct, as_bytes, u32, u64,
)
from pyhv.lang.machine import Machine, MockCpu


class Shared(Struct):
    count: Atomic[u32]
    total: Atomic[u64]
    lock: SpinLock


def test_atomic_operations_return_the_previous_value() -> None:
    s = Shared()
    assert s.count.fetch_add(u32(0xFFFF_FFFF), SEQ_CST) == 0
    assert s.count.fetch_add(u32(2), RELAXED) == u32(0xFFFF_FFFF)
    assert s.count.load(ACQUIRE) == 1  # wrapped
    assert s.total.swap(u64(9), ACQ_REL) == 0
    assert not s.total.cas(u64(8), u64(1), ACQ_REL)
    assert s.total.cas(u64(9), u64(1), SEQ_CST)
    s.total.store(u64(7), RELEASE)
    assert as_bytes(s)[8:16] == (7).to_bytes(8, "little")


def test_atomic_rejects_invalid_orders_and_types() -> None:
    s = Shared()
    with pytest.raises(Panic):
        s.count.load(RELEASE)
    with pytest.raises(Panic):
        s.count.store(u32(1), ACQUIRE)
    with pytest.raises(TypeError):
        s.count.store(u64(1), RELAXED)  # type: ignore[arg-type]


def test_lock_is_a_ticket_lock_in_the_bytes() -> None:
    m = Machine()
    node = m.add_node()
    s = Shared()
    with m.on_cpu(node, 0):
        with s.lock:
            assert s.lock.held()
            # owner: ticket 0 served (low half), held by CPU 0 (tag 1 in the high half), as in the C
            assert as_bytes(s)[16:24] == bytes([1, 0, 0, 0, 0, 0, 1, 0])
        assert not s.lock.held()
        assert as_bytes(s)[16:24] == bytes([1, 0, 0, 0, 1, 0, 0, 0])


def test_relocking_on_the_same_cpu_panics() -> None:
    m = Machine()
    node = m.add_node()
    s = Shared()
    with m.on_cpu(node, 0):
        with pytest.raises(Panic, match="self-deadlock"):
            with s.lock:
                with s.lock:
                    pass


def test_contended_lock_without_scheduler_panics() -> None:
    m = Machine()
    node = m.add_node(cpus=2)
    s = Shared()
    with m.on_cpu(node, 0):
        s.lock.__enter__()
    with m.on_cpu(node, 1):
        with pytest.raises(Panic, match="contended"):
            with s.lock:
                pass


def test_contended_lock_waits_through_the_scheduler_hook() -> None:
    m = Machine()
    node = m.add_node(cpus=2)
    s = Shared()
    waits: list[tuple[MockCpu, str]] = []

    def hook(cpu: MockCpu, kind: str) -> None:
        waits.append((cpu, kind))
        with m.on_cpu(node, 0):  # the holder runs and releases
            s.lock.__exit__(None, None, None)

    m.wait_hook = hook
    with m.on_cpu(node, 0):
        s.lock.__enter__()
    with m.on_cpu(node, 1):
        with s.lock:
            assert s.lock.held()
    assert waits == [(node.cpus[1], "spinlock")]


def test_views_cannot_be_constructed_alone() -> None:
    with pytest.raises(TypeError):
        SpinLock()
    with pytest.raises(TypeError):
        Atomic()
