"""Fixtures for the stage-2 / guest-memory / decode / MMIO tests: one mock node, running as its CPU 0, with
the console captured so tests can read the warnings pyhv prints."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pyhv.lang import u8
from pyhv.lang.machine import Machine, MockCpu, MockNode

from pyhv.core.printk import ConsoleOps, printk_set_console


class Board:
    def __init__(self) -> None:
        self.machine = Machine()
        self.node: MockNode = self.machine.add_node(cpus=2)
        self.console = bytearray()
        self.guest_table_next = 0       # guestpt.GuestTables: next free table page (IPA), 0 = unset

    @property
    def cpu(self) -> MockCpu:
        return self.node.cpus[0]

    def putc(self, c: u8) -> None:
        self.console.append(int(c))

    def text(self) -> str:
        return self.console.decode()


@pytest.fixture
def board() -> Iterator[Board]:
    b = Board()
    with b.machine.on_cpu(b.node, 0):
        printk_set_console(ConsoleOps(putc=b.putc))
        yield b
