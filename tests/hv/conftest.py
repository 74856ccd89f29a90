"""Fixtures for the hypervisor tests: a mock machine with one node, a DTB placed in its RAM."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pyhv.lang import u64
from pyhv.lang.machine import Machine, MockNode

from pyhv.core.fdt import fdt_init
from pyhv.core.printk import NULL_CONSOLE_OPS, printk_set_console

from .dtbs import DTB_ADDR


class Board:
    """A mock node the tests run on as CPU 0 (`board.machine.on_cpu(board.node, i)` for others)."""

    def __init__(self, ncpus: int = 4) -> None:
        self.machine = Machine()
        self.node: MockNode = self.machine.add_node(cpus=ncpus)

    def load_dtb(self, blob: bytes, addr: int = DTB_ADDR) -> None:
        self.node.ram.write(addr, blob)
        fdt_init(u64(addr))


@pytest.fixture
def board() -> Iterator[Board]:
    b = Board()
    with b.machine.on_cpu(b.node, 0):
        printk_set_console(NULL_CONSOLE_OPS)
        yield b
