"""A mock node with a QEMU-virt-like DTB listing virtio-mmio slots, each backed by a device model."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from pyhv.lang import u32, u64
from pyhv.lang.machine import ConsoleDevice, Machine, MockNode, read_memory, write_memory

from pyhv.core.fdt import fdt_init
from pyhv.core.printk import printk_set_console
from pyhv.drivers.pl011 import PL011_CONSOLE_OPS, pl011_init
from pyhv.drivers.virtio_net import virtio_net_poll, virtio_net_send
from pyhv.host.fdt_build import FdtBuilder

from .models.virtio_net import VirtioNetModel

DTB_ADDR = 0x4800_0000
UART_BASE = 0x0900_0000
VIRTIO_BASE = 0x0A00_0000           # QEMU virt: 32 slots of 0x200 bytes, SPIs 16..47
VIRTIO_STRIDE = 0x200
VIRTIO_FIRST_SPI = 16
TX_BUF = 0x4100_0000                # caller-side frame buffers in RAM (the cluster passes buf + 2)
RX_BUF = 0x4200_0000


def virtio_dtb(nslots: int, disabled: tuple[int, ...] = ()) -> bytes:
    f = FdtBuilder()
    f.begin_node("")
    f.prop_u32("#address-cells", 2)
    f.prop_u32("#size-cells", 2)
    f.prop_str("compatible", "linux,dummy-virt")
    f.begin_node("intc@8000000")
    f.prop_str("compatible", "arm,gic-v3")
    f.prop_u32("#interrupt-cells", 3)
    f.prop_empty("interrupt-controller")
    f.end_node()
    for i in range(nslots):
        base = VIRTIO_BASE + i * VIRTIO_STRIDE
        f.begin_node(f"virtio_mmio@{base:x}")
        f.prop_empty("dma-coherent")
        f.prop_u32("interrupts", 0, VIRTIO_FIRST_SPI + i, 1)
        f.prop_cells("reg", [(base, 2), (VIRTIO_STRIDE, 2)])
        f.prop_str("compatible", "virtio,mmio")
        if i in disabled:
            f.prop_str("status", "disabled")
        f.end_node()
    f.end_node()
    return f.finish()


class NetBoard:
    """One node; `models[i]` sits in virtio-mmio slot i. Frames go through RAM like the cluster's do."""

    def __init__(self, machine: Machine, node: MockNode, models: list[VirtioNetModel],
                 disabled: tuple[int, ...]) -> None:
        self.machine, self.node, self.models = machine, node, models
        for i, m in enumerate(models):
            node.mmio.map(VIRTIO_BASE + i * VIRTIO_STRIDE, VIRTIO_STRIDE, m)
        blob = virtio_dtb(len(models), disabled)
        node.ram.write(DTB_ADDR, blob)
        fdt_init(u64(DTB_ADDR))

    def console(self) -> str:
        return self.node.console_text()

    def send(self, frame: bytes) -> int:
        write_memory(TX_BUF + 2, frame)
        return int(virtio_net_send(u64(TX_BUF + 2), u32(len(frame))))

    def poll(self, capacity: int = 4222) -> bytes | None:
        n = int(virtio_net_poll(u64(RX_BUF + 2), u32(capacity)))
        return None if n == 0 else read_memory(RX_BUF + 2, min(n, capacity))


def frame(i: int, length: int = 64) -> bytes:
    """A distinct Ethernet-shaped test frame: broadcast dst, locally administered src, then a pattern."""
    body = bytes((i * 7 + k) & 0xFF for k in range(length - 16))
    return b"\xff" * 6 + bytes([2, 0, 0, 0, i >> 8 & 0xFF, i & 0xFF]) + b"\x88\xb5" + i.to_bytes(2, "big") + body


@pytest.fixture
def make_board() -> Iterator[Callable[..., NetBoard]]:
    machine = Machine()
    node = machine.add_node(cpus=1)
    with machine.on_cpu(node, 0):
        node.mmio.map(UART_BASE, 0x1000, ConsoleDevice(node))
        pl011_init(u64(UART_BASE))
        printk_set_console(PL011_CONSOLE_OPS)

        def make(models: list[VirtioNetModel], disabled: tuple[int, ...] = ()) -> NetBoard:
            return NetBoard(machine, node, models, disabled)

        yield make
