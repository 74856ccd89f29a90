"""PL011 driver against a register-level model, printk formatting, the panic report."""

from __future__ import annotations

import pytest

from pyhv.lang import Panic, i64, kprint, u8, u32, u64
from pyhv.lang.machine import MockCpu

from pyhv.core.panic import panic_at
from pyhv.core.printk import (
    printk_begin, printk_cstr_at, printk_end, printk_hex, printk_sdec, printk_set_console, printk_udec,
)
from pyhv.drivers.pl011 import PL011_CONSOLE_OPS, pl011_init, pl011_putc

from .conftest import Board
from .models.pl011 import CR, CR_RXE, CR_TXE, CR_UARTEN, DR, ICR, IMSC, LCR_H, Pl011Model

BASE = 0x0900_0000


@pytest.fixture
def uart(board: Board) -> Pl011Model:
    model = Pl011Model()
    board.node.mmio.map(BASE, 0x1000, model)
    pl011_init(u64(BASE))
    printk_set_console(PL011_CONSOLE_OPS)
    return model


def test_init_disables_first_then_programs_8n1_fifo_and_enables_tx(board: Board) -> None:
    model = Pl011Model()
    board.node.mmio.map(BASE, 0x1000, model)
    pl011_init(u64(BASE))
    assert model.writes[0] == (CR, 0)
    assert model.regs[LCR_H] == (3 << 5) | (1 << 4)
    assert model.regs[IMSC] == 0 and model.pending_irqs == 0
    assert model.regs[CR] & (CR_UARTEN | CR_TXE) == CR_UARTEN | CR_TXE
    assert model.writes[-1][0] == CR                         # enabled last
    assert [o for o, _ in model.writes].index(ICR) < len(model.writes) - 1


def test_init_waits_for_the_last_character_to_drain(board: Board) -> None:
    model = Pl011Model()
    model.busy_reads = 3
    board.node.mmio.map(BASE, 0x1000, model)
    pl011_init(u64(BASE))
    assert model.busy_reads == 0 and model.fr_reads == 4


def test_putc_writes_bytes_and_expands_newline(uart: Pl011Model) -> None:
    for c in b"hi\n":
        pl011_putc(u8(c))
    assert bytes(uart.tx) == b"hi\r\n"
    assert uart.dropped == b""


def test_putc_waits_while_the_fifo_is_full(uart: Pl011Model) -> None:
    uart.full_reads = 5
    uart.fr_reads = 0
    pl011_putc(u8(0x41))
    assert uart.fr_reads == 6 and bytes(uart.tx) == b"A"


def test_kprint_formats_every_conversion(uart: Pl011Model) -> None:
    kprint("u=%u d=%d x=%x p=%016x s=%s c=%c %%\n", u32(4294967295), i64(-42), u64(0xBEEF), u64(0x1F),
           "str", u8(0x5A))
    assert uart.text() == "u=4294967295 d=-42 x=beef p=000000000000001f s=str c=Z %\r\n"


@pytest.mark.parametrize("value,text", [(0, "0"), (7, "7"), (10, "10"), (2**64 - 1, "18446744073709551615")])
def test_udec(uart: Pl011Model, value: int, text: str) -> None:
    printk_udec(u64(value))
    assert uart.text() == text


@pytest.mark.parametrize("value,text", [(0, "0"), (-1, "-1"), (123, "123"), (-2**63, "-9223372036854775808")])
def test_sdec(uart: Pl011Model, value: int, text: str) -> None:
    printk_sdec(i64(value))
    assert uart.text() == text


@pytest.mark.parametrize("value,width,text", [(0, 0, "0"), (0xABC, 0, "abc"), (0xABC, 6, "000abc"),
                                              (2**64 - 1, 0, "ffffffffffffffff"), (0x12345, 2, "12345")])
def test_hex(uart: Pl011Model, value: int, width: int, text: str) -> None:
    printk_hex(u64(value), u32(width))
    assert uart.text() == text


def test_cstr_at_prints_memory_up_to_the_nul(board: Board, uart: Pl011Model) -> None:
    board.node.ram.write(0x4000_0000, b"model X\0garbage")
    printk_cstr_at(u64(0x4000_0000))
    assert uart.text() == "model X"


def test_a_line_holds_the_console_lock(board: Board, uart: Pl011Model) -> None:
    printk_begin()
    with board.machine.on_cpu(board.node, 1):
        with pytest.raises(Panic, match="self-deadlock|contended"):
            # With no scheduler installed, a second CPU would wait forever: the test scheduler says so.
            def refuse(cpu: MockCpu, kind: str) -> None:
                raise Panic(f"lock contended: {cpu} waits ({kind})")
            board.machine.wait_hook = refuse
            printk_begin()
    board.machine.wait_hook = None
    printk_end()
    printk_begin()       # free again
    printk_end()


class Parked(Exception):
    pass


def test_panic_at_reports_file_line_and_message_then_parks(board: Board, uart: Pl011Model) -> None:
    def park(cpu: MockCpu, kind: str) -> None:
        raise Parked(kind)
    board.machine.wait_hook = park
    with pytest.raises(Parked, match="wfe"):
        panic_at("pyhv/core/fdt.py", u32(42), "fdt: bad magic")
    assert uart.text() == "PANIC at pyhv/core/fdt.py:42: fdt: bad magic\r\n"


def test_panic_at_still_prints_when_this_cpu_holds_the_lock(board: Board, uart: Pl011Model) -> None:
    def park(cpu: MockCpu, kind: str) -> None:
        raise Parked(kind)
    printk_begin()
    board.machine.wait_hook = park
    with pytest.raises(Parked):
        panic_at("x.py", u32(1), "boom")
    assert uart.text().endswith("PANIC at x.py:1: boom\r\n")
