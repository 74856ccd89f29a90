"""Fixtures for the VM glue tests: one mock node (2 CPUs) running as CPU 0, console captured."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pyhv.lang import u8
from pyhv.lang.machine import Machine, MockCpu, MockNode

from pyhv.core.printk import ConsoleOps, printk_set_console


class Node:
    def __init__(self) -> None:
        self.machine = Machine()
        self.node: MockNode = self.machine.add_node(cpus=2)
        self.console = bytearray()

    @property
    def cpu(self) -> MockCpu:
        return self.node.cpus[0]

    def putc(self, c: u8) -> None:
        self.console.append(int(c))

    def text(self) -> str:
        return self.console.decode()


@pytest.fixture
def node() -> Iterator[Node]:
    n = Node()
    with n.machine.on_cpu(n.node, 0):
        printk_set_console(ConsoleOps(putc=n.putc))
        yield n
