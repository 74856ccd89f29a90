"""The mock machine: sparse RAM, MMIO bus, per-CPU sysregs, current-CPU context."""

from __future__ import annotations

import pytest

from pyhv.lang import Panic, mem_read32, mem_read64, mem_write8, mem_write64, mmio_read32, mmio_write16, u8, u64
from pyhv.lang import mmio_write32, sysreg_read, sysreg_write, u16, u32
from pyhv.lang.machine import (
    ConsoleDevice, Machine, MockBusError, MockMachineError, current_cpu, current_node,
)


class Regs:
    """A device model with a few 32-bit registers; remembers accesses."""

    def __init__(self) -> None:
        self.regs: dict[int, int] = {0x10: 0xDEAD_BEEF}
        self.writes: list[tuple[int, int, int]] = []

    def read(self, offset: int, width_bytes: int) -> int:
        return self.regs.get(offset, 0)

    def write(self, offset: int, width_bytes: int, value: int) -> None:
        self.writes.append((offset, width_bytes, value))
        self.regs[offset] = value


def test_ram_is_sparse_zeroed_and_spans_pages() -> None:
    m = Machine()
    node = m.add_node()
    with m.on_cpu(node, 0):
        assert mem_read64(u64(0xFFFF_0000_0000 - 8)) == 0
        mem_write64(u64(0x8000_0ff8), u64(0x0102_0304_0506_0708))
        mem_write8(u64(0x8000_1000), u8(0x99))
        assert mem_read32(u64(0x8000_0ffc)) == 0x0102_0304
    assert node.ram.read(0x8000_0ffe, 3) == bytes([0x02, 0x01, 0x99])
    assert len(node.ram.pages) == 3


def test_memory_accesses_must_be_aligned() -> None:
    m = Machine()
    node = m.add_node()
    with m.on_cpu(node, 0):
        with pytest.raises(Panic, match="misaligned"):
            mem_read32(u64(0x1002))
        with pytest.raises(Panic, match="misaligned"):
            mmio_write16(u64(0x0900_0001), u16(1))


def test_mmio_reaches_the_mapped_device_with_relative_offsets() -> None:
    m = Machine()
    node = m.add_node()
    dev = Regs()
    node.mmio.map(0x0800_0000, 0x1000, dev)
    with m.on_cpu(node, 0):
        assert mmio_read32(u64(0x0800_0010)) == u32(0xDEAD_BEEF)
        mmio_write32(u64(0x0800_0020), u32(5))
        with pytest.raises(MockBusError) as e:
            mmio_read32(u64(0x0800_1000))
    assert dev.writes == [(0x20, 4, 5)]
    assert e.value.addr == 0x0800_1000


def test_overlapping_mmio_regions_are_rejected() -> None:
    node = Machine().add_node()
    node.mmio.map(0x1000, 0x100, Regs())
    with pytest.raises(ValueError):
        node.mmio.map(0x10F0, 0x100, Regs())


def test_console_device_captures_bytes() -> None:
    m = Machine()
    node = m.add_node()
    node.mmio.map(0x0900_0000, 0x1000, ConsoleDevice(node))
    with m.on_cpu(node, 0):
        for ch in b"hi\n":
            mmio_write32(u64(0x0900_0000), u32(ch))
    assert node.console_text() == "hi\n"


def test_sysregs_are_per_cpu_with_hooks() -> None:
    m = Machine()
    node = m.add_node(cpus=2)
    ticks = iter(range(100, 200))
    node.cpus[1].read_hooks["cntpct_el0"] = lambda: next(ticks)
    with m.on_cpu(node, 0):
        sysreg_write("HCR_EL2", u64(0x8000_0000))
        assert sysreg_read("hcr_el2") == u64(0x8000_0000)
    with m.on_cpu(node, 1):
        assert sysreg_read("hcr_el2") == 0
        assert sysreg_read("cntpct_el0") == 100 and sysreg_read("cntpct_el0") == 101


def test_on_cpu_is_a_reentrant_stack() -> None:
    m = Machine()
    a, b = m.add_node(cpus=2), m.add_node(cpus=1)
    with pytest.raises(MockMachineError):
        current_cpu()
    with m.on_cpu(a, 1):
        with m.on_cpu(b, 0):
            assert current_node() is b
        assert current_cpu() is a.cpus[1]
    with pytest.raises(MockMachineError):
        Machine().on_cpu(a, 0).__enter__()
