"""The BCM2835 mini UART console (pyhv/drivers/bcm2835_aux_uart.py) under CPython against a register model:
bytes go to IO only when LSR says the transmitter accepts one, "\n" is sent as "\r\n", and printk reaches
it once it is the console (how pyhv's log moves there on rpi4 when a guest starts)."""

from __future__ import annotations

from pyhv.lang import kprint, u8, u64
from pyhv.lang.machine import Machine

from pyhv.core.printk import printk_set_console
from pyhv.drivers.bcm2835_aux_uart import AUX_UART_CONSOLE_OPS, aux_uart_init, aux_uart_putc

BASE = 0xFE21_5040


class MiniUartModel:
    """IO at +0x00 collects bytes; LSR at +0x14 reports TX empty (bit 5) on every `busy_reads`-th read only.
    A write while the transmitter is busy is recorded as an overrun (the driver must never cause one)."""

    def __init__(self, busy_reads: int) -> None:
        self.sent = bytearray()
        self.busy_reads = busy_reads
        self.lsr_reads = 0
        self.ready = False
        self.overruns = 0

    def read(self, offset: int, width_bytes: int) -> int:
        if offset == 0x14:
            self.lsr_reads += 1
            self.ready = self.lsr_reads % self.busy_reads == 0
            return 0x20 if self.ready else 0
        return 0

    def write(self, offset: int, width_bytes: int, value: int) -> None:
        if offset == 0x00:
            if not self.ready:
                self.overruns += 1
            self.sent.append(value & 0xFF)
            self.ready = False


def test_bytes_wait_for_the_transmitter_and_newlines_become_crlf() -> None:
    machine = Machine()
    node = machine.add_node()
    model = MiniUartModel(busy_reads=3)
    node.mmio.map(BASE, 0x40, model)
    with machine.on_cpu(node):
        aux_uart_init(u64(BASE))
        for c in b"ok\n":
            aux_uart_putc(u8(c))
    assert bytes(model.sent) == b"ok\r\n"
    assert model.overruns == 0
    assert model.lsr_reads == 3 * 4                  # three polls per byte sent


def test_printk_reaches_the_mini_uart_once_it_is_the_console() -> None:
    machine = Machine()
    node = machine.add_node()
    model = MiniUartModel(busy_reads=1)
    node.mmio.map(BASE, 0x40, model)
    with machine.on_cpu(node):
        aux_uart_init(u64(BASE))
        printk_set_console(AUX_UART_CONSOLE_OPS)
        kprint("vm: log at 0x%x\n", u64(BASE))
    assert bytes(model.sent) == b"vm: log at 0xfe215040\r\n"


def test_an_uninitialised_mini_uart_drops_output_without_touching_the_bus() -> None:
    machine = Machine()
    node = machine.add_node()                        # nothing mapped: any access would raise MockBusError
    with machine.on_cpu(node):
        aux_uart_init(u64(0))
        aux_uart_putc(u8(0x41))
