"""Static/PerCpu storage is per node / per CPU of the mock machine; ops tables and slots."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import pytest

from pyhv.lang import Ops, OpsSlot, Panic, PerCpu, Static, Struct, u32, u64
from pyhv.lang.machine import Machine


class Counters(Struct):
    traps: u64


class CpuState(Struct):
    last_esr: u64


_counters: Final = Static(Counters)
_cpu: Final = PerCpu(CpuState)


def count_trap(esr: u64) -> None:
    _counters.get().traps += 1
    _cpu.get().last_esr = esr


def test_static_is_per_node_and_percpu_is_per_cpu() -> None:
    m = Machine()
    a, b = m.add_node(cpus=2), m.add_node(cpus=2)
    with m.on_cpu(a, 0):
        count_trap(u64(1))
    with m.on_cpu(a, 1):
        count_trap(u64(2))
        assert _counters.get().traps == 2
        assert _cpu.get().last_esr == 2
    with m.on_cpu(a, 0):
        assert _cpu.get().last_esr == 1
    with m.on_cpu(b, 1):
        assert _counters.get().traps == 0 and _cpu.get().last_esr == 0
        count_trap(u64(3))
    with m.on_cpu(a, 0):
        assert _counters.get().traps == 2


def test_get_returns_the_same_storage_each_time() -> None:
    m = Machine()
    node = m.add_node()
    with m.on_cpu(node, 0):
        _counters.get().traps = u64(5)
        assert _counters.get().traps == 5


class GicOps(Ops):
    init: Callable[[], None]
    ack: Callable[[], u32]


_log: list[str] = []


def gic_init() -> None:
    _log.append("init")


def gic_ack() -> u32:
    return u32(27)


GICV3_OPS: Final = GicOps(init=gic_init, ack=gic_ack)
_gic: Final = OpsSlot(GicOps)


def test_ops_slot_is_per_node_and_panics_before_set() -> None:
    m = Machine()
    a, b = m.add_node(), m.add_node()
    with m.on_cpu(a, 0):
        _gic.set(GICV3_OPS)
        _gic.get().init()
        assert _gic.get().ack() == 27
    with m.on_cpu(b, 0):
        with pytest.raises(Panic):
            _gic.get()
    assert _log == ["init"]


def test_ops_tables_are_keyword_only_complete_and_frozen() -> None:
    with pytest.raises(TypeError):
        GicOps(init=gic_init)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        GicOps(init=gic_init, ack=gic_ack, extra=gic_init)  # type: ignore[call-arg]
    with pytest.raises(AttributeError):
        GICV3_OPS.init = gic_init  # type: ignore[misc]
    assert GICV3_OPS.ack is gic_ack


def test_state_declarations_need_struct_classes() -> None:
    with pytest.raises(TypeError):
        Static(u32)  # type: ignore[type-var]
    with pytest.raises(TypeError):
        OpsSlot(Counters)  # type: ignore[type-var]
