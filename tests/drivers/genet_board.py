"""The mock RPi4 node the GENET tests run on: a DTB with the ethernet node under a translating bus, a console,
the GENET model at 0xfd580000 with the non-coherent DMA model, and frame helpers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from pyhv.lang import u32, u64
from pyhv.lang.machine import ConsoleDevice, Machine, MockNode, read_memory, write_memory

from pyhv.core.fdt import fdt_init
from pyhv.core.printk import printk_set_console
from pyhv.drivers.genet import genet_link_speed, genet_poll, genet_probe, genet_send
from pyhv.drivers.pl011 import PL011_CONSOLE_OPS, pl011_init
from pyhv.host.fdt_build import FdtBuilder

from .models.dma_cache import NoncoherentDma
from .models.genet import GenetModel

DTB_ADDR = 0x4800_0000
UART_BASE = 0xFE20_1000
GENET_BASE = 0xFD58_0000
GENET_SPI = 157
MAC = bytes.fromhex("dca632010203")
TX_BUF = 0x4100_0000                # caller-side frame buffers in RAM (the cluster passes buf + 2)
RX_BUF = 0x4200_0000


def genet_dtb(with_genet: bool = True, status: str = "okay", mac: bytes | None = MAC) -> bytes:
    f = FdtBuilder()
    f.begin_node("")
    f.prop_u32("#address-cells", 1)
    f.prop_u32("#size-cells", 1)
    f.prop_str("compatible", "raspberrypi,4-model-b")
    f.begin_node("scb")                 # a bus whose child addresses are the legacy 0x7d... ones
    f.prop_u32("#address-cells", 1)
    f.prop_u32("#size-cells", 1)
    f.prop_u32("ranges", 0x7C00_0000, 0xFC00_0000, 0x0400_0000)
    if with_genet:
        f.begin_node("ethernet@7d580000")
        f.prop_str("compatible", "brcm,bcm2711-genet-v5")
        f.prop_u32("reg", 0x7D58_0000, 0x10000)
        f.prop_u32("interrupts", 0, GENET_SPI, 4, 0, GENET_SPI + 1, 4)
        f.prop_str("phy-mode", "rgmii-rxid")
        if mac is not None:
            f.prop("local-mac-address", mac)
        f.prop_str("status", status)
        f.end_node()
    f.end_node()
    f.end_node()
    return f.finish()


@dataclass
class Board:
    machine: Machine
    node: MockNode
    dma: NoncoherentDma
    dev: GenetModel | None = None

    def console(self) -> str:
        return self.node.console_text().replace("\r\n", "\n")

    def attach(self, dev: GenetModel | None = None, with_genet: bool = True, status: str = "okay",
               mac: bytes | None = MAC) -> GenetModel:
        self.dev = dev if dev is not None else GenetModel(self.dma)
        self.node.mmio.map(GENET_BASE, 0x10000, self.dev)
        blob = genet_dtb(with_genet, status, mac)
        self.node.ram.write(DTB_ADDR, blob)
        fdt_init(u64(DTB_ADDR))
        return self.dev

    def up(self, dev: GenetModel | None = None) -> GenetModel:
        """Probe, then poll until the link is up."""
        d = self.attach(dev)
        assert genet_probe()
        for _ in range(10):
            if int(genet_link_speed()) != 0:
                break
            self.poll()
        assert int(genet_link_speed()) != 0
        return d

    def send(self, frame: bytes) -> int:
        write_memory(TX_BUF + 2, frame)
        return int(genet_send(u64(TX_BUF + 2), u32(len(frame))))

    def poll(self, capacity: int = 4222) -> bytes | None:
        n = int(genet_poll(u64(RX_BUF + 2), u32(capacity)))
        return None if n == 0 else read_memory(RX_BUF + 2, min(n, capacity))


@pytest.fixture
def board() -> Iterator[Board]:
    machine = Machine()
    node = machine.add_node(cpus=1)
    with machine.on_cpu(node, 0):
        node.mmio.map(UART_BASE, 0x1000, ConsoleDevice(node))
        pl011_init(u64(UART_BASE))
        printk_set_console(PL011_CONSOLE_OPS)
        yield Board(machine, node, NoncoherentDma(node))


def frame(i: int, length: int = 64) -> bytes:
    """A distinct Ethernet-shaped test frame: unicast dst, locally administered src, then a pattern."""
    body = bytes((i * 7 + k) & 0xFF for k in range(length - 16))
    return MAC + bytes([2, 0, 0, 0, i >> 8 & 0xFF, i & 0xFF]) + b"\x88\xb5" + (i & 0xFFFF).to_bytes(2, "big") + body
