"""Fixtures for tests of pyhv/core: a mock node to run dialect code on, and a two-node VmConfig."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pyhv.lang import u8, u32, u64
from pyhv.lang.machine import Machine, MockNode

from pyhv.core.printk import ConsoleOps, printk_set_console
from pyhv.core.vmconfig import (
    VM_GICC_BASE, VM_GICD_BASE, VM_GICR_BASE, VM_NR_SPIS, VM_UART_BASE, VM_UART_SPI, VmConfig,
    vmconfig_add_mem, vmconfig_add_vcpu, vmconfig_add_virtio, vmconfig_set_bootargs, vmconfig_set_distance,
    vmconfig_set_numa_nodes,
)

GIB = 1 << 30


class Node:
    """The mock node tests run on (CPU 0), with console output captured in `log`."""

    def __init__(self) -> None:
        self.machine = Machine()
        self.node: MockNode = self.machine.add_node(cpus=1)
        self.log = bytearray()


_current_log: list[bytearray] = []


def _capture_putc(c: u8) -> None:
    _current_log[-1].append(int(c))


CAPTURE_CONSOLE_OPS = ConsoleOps(putc=_capture_putc)


@pytest.fixture
def node() -> Iterator[Node]:
    n = Node()
    with n.machine.on_cpu(n.node, 0):
        _current_log.append(n.log)
        printk_set_console(CAPTURE_CONSOLE_OPS)
        try:
            yield n
        finally:
            _current_log.pop()


def two_node_config(gic_version: int = 3) -> VmConfig:
    """2 nodes x 2 present vCPUs + 2 possible-but-absent vCPUs on a third (not yet joined) node position,
    two RAM regions on two NUMA nodes, one virtio slot."""
    cfg = VmConfig()
    vmconfig_set_numa_nodes(cfg, u32(2))
    vmconfig_set_distance(cfg, u32(0), u32(1), u8(25))
    for node_id in range(2):
        for cpu in range(2):
            vmconfig_add_vcpu(cfg, u32(node_id), u32(cpu), u32(node_id))
    cfg.nr_vcpus = u32(4)
    vmconfig_add_vcpu(cfg, u32(2), u32(0), u32(1))
    vmconfig_add_vcpu(cfg, u32(2), u32(1), u32(1))
    vmconfig_add_mem(cfg, u64(0x4000_0000), u64(GIB), u32(0))
    vmconfig_add_mem(cfg, u64(0x8000_0000), u64(GIB), u32(1))
    cfg.gic_version = u32(gic_version)
    cfg.nr_spis = VM_NR_SPIS
    cfg.gicd_base = VM_GICD_BASE
    cfg.gicc_base = VM_GICC_BASE
    cfg.gicr_base = VM_GICR_BASE
    cfg.uart_base = VM_UART_BASE
    cfg.uart_spi = VM_UART_SPI
    vmconfig_add_virtio(cfg, u64(0x0A00_0000), u32(16))
    vmconfig_set_bootargs(cfg, "console=ttyAMA0 earlycon")
    return cfg
