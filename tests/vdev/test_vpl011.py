"""The emulated PL011, driven through mmio_dispatch the way Linux's amba-pl011 driver drives it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pyhv.lang import u8, u32, u64
from pyhv.lang.machine import Machine

from pyhv.core.mmio import (
    MMIO_HANDLED, MmioAccess, MmioCatalog, MmioDevice, mmio_dispatch, mmio_register, mmio_set_catalog,
)
from pyhv.core.printk import NULL_CONSOLE_OPS, printk_set_console
from pyhv.vdev.vpl011 import (
    VPL011_DEVICE, VPL011_RX_NONE, VPL011_SIZE, Vpl011Ops, vpl011_reset, vpl011_rx_bytes, vpl011_rx_full_holds,
    vpl011_rx_ready,
    vpl011_set_ops, vpl011_tx_bytes,
)

BASE = 0x0900_0000
DR, FR, IBRD, FBRD, LCR_H, CR, IFLS, IMSC, RIS, MIS, ICR, DMACR = (
    0x00, 0x18, 0x24, 0x28, 0x2C, 0x30, 0x34, 0x38, 0x3C, 0x40, 0x44, 0x48)
TXFE, RXFF, TXFF, RXFE, BUSY = 1 << 7, 1 << 6, 1 << 5, 1 << 4, 1 << 3
RXIM, TXIM, RTIM = 1 << 4, 1 << 5, 1 << 6
FEN = 1 << 4
UARTEN, TXE, RXE = 1, 1 << 8, 1 << 9


class Wires:
    tx = bytearray()
    irq: list[bool] = []
    host = bytearray()              # the console input still waiting on the host side (its UART FIFO)
    wanted: list[bool] = []         # every rx_wanted() call: the host UART's receive interrupt mask


def _tx(c: u8) -> None:
    Wires.tx.append(int(c))


def _irq(level: bool) -> None:
    Wires.irq.append(level)


def _rx_get() -> u32:
    if not Wires.host:
        return VPL011_RX_NONE
    return u32(Wires.host.pop(0))


def _rx_wanted(on: bool) -> None:
    Wires.wanted.append(on)


def host_input(data: bytes) -> None:
    """Bytes arrive at the host UART, which raises its receive interrupt if pyhv asked for it."""
    Wires.host += data
    if Wires.wanted and Wires.wanted[-1]:
        vpl011_rx_ready()


def _device(i: u32) -> MmioDevice:
    return VPL011_DEVICE


@pytest.fixture(autouse=True)
def uart() -> Iterator[None]:
    m = Machine()
    node = m.add_node(cpus=1)
    with m.on_cpu(node, 0):
        printk_set_console(NULL_CONSOLE_OPS)
        Wires.tx, Wires.irq, Wires.host, Wires.wanted = bytearray(), [], bytearray(), []
        vpl011_set_ops(Vpl011Ops(tx=_tx, irq=_irq, rx_get=_rx_get, rx_wanted=_rx_wanted))
        mmio_set_catalog(MmioCatalog(device=_device))
        assert int(mmio_register(u64(BASE), VPL011_SIZE, u32(0))) == 0
        vpl011_reset()
        yield


def rd(off: int, width: int = 4) -> int:
    acc = MmioAccess()
    acc.ipa, acc.width_bytes, acc.is_write = u64(BASE + off), u8(width), False
    assert mmio_dispatch(u32(0), acc) == MMIO_HANDLED
    return int(acc.value)


def wr(off: int, value: int, width: int = 4) -> None:
    acc = MmioAccess()
    acc.ipa, acc.value, acc.width_bytes, acc.is_write = u64(BASE + off), u64(value), u8(width), True
    assert mmio_dispatch(u32(0), acc) == MMIO_HANDLED


def linux_startup() -> None:
    """What pl011_startup/pl011_set_termios do: baud, 8N1 + FIFO, enable, clear and unmask RX/RT."""
    wr(IBRD, 13, 2)
    wr(FBRD, 1, 2)
    wr(LCR_H, 0x70, 2)                          # WLEN 8, FEN
    wr(IFLS, 0x12, 2)
    wr(CR, UARTEN | TXE | RXE, 2)
    wr(ICR, 0x7FF, 2)
    wr(IMSC, RXIM | RTIM, 2)


def test_peripheral_and_primecell_ids() -> None:
    assert [rd(0xFE0 + 4 * i) for i in range(4)] == [0x11, 0x10, 0x14, 0x00]
    assert [rd(0xFF0 + 4 * i) for i in range(4)] == [0x0D, 0xF0, 0x05, 0xB1]


def test_reset_values() -> None:
    assert rd(CR) == 0x300 and rd(IFLS) == 0x12 and rd(IMSC) == 0 and rd(RIS) == 0
    assert rd(FR) == TXFE | RXFE


def test_configuration_registers_read_back() -> None:
    for off, value in ((IBRD, 0x1234), (FBRD, 0x2A), (LCR_H, 0x70), (CR, 0x301), (IFLS, 0x24),
                       (IMSC, 0x7F0), (DMACR, 0x5)):
        wr(off, value)
        assert rd(off) == value, hex(off)
    wr(FBRD, 0xFF)
    assert rd(FBRD) == 0x3F                      # 6-bit field


def test_16_bit_accesses_work_like_32_bit_ones() -> None:
    wr(IBRD, 0x55, 2)
    assert rd(IBRD, 2) == 0x55 and rd(IBRD, 1) == 0x55


def test_dr_write_goes_to_the_output_hook() -> None:
    linux_startup()
    for c in b"ok\n":
        wr(DR, c, 2)
    assert bytes(Wires.tx) == b"ok\n"
    assert int(vpl011_tx_bytes()) == 3
    assert rd(FR) & (TXFE | TXFF | BUSY) == TXFE


def test_tx_interrupt_fires_when_linux_unmasks_txim_after_writing() -> None:
    # pl011_start_tx_pio: write while FR.TXFF is clear, then unmask TXIM and wait for the interrupt.
    linux_startup()
    wr(DR, ord("a"), 2)
    assert rd(RIS) & TXIM and not rd(MIS) & TXIM and Wires.irq == []
    wr(IMSC, RXIM | RTIM | TXIM, 2)
    assert rd(MIS) & TXIM and Wires.irq == [True]
    # pl011_int: acknowledge, write more, then stop_tx masks TXIM: the line drops.
    wr(ICR, TXIM, 2)
    assert Wires.irq == [True, False]
    wr(DR, ord("b"), 2)
    assert Wires.irq == [True, False, True]
    wr(IMSC, RXIM | RTIM, 2)
    assert Wires.irq == [True, False, True, False]


def test_enabling_the_transmitter_raises_tx() -> None:
    wr(ICR, 0x7FF)
    wr(CR, UARTEN | TXE | RXE)
    assert rd(RIS) & TXIM


def test_icr_clears_and_mask_hides_raw_status() -> None:
    linux_startup()
    wr(DR, 0x41)
    wr(ICR, TXIM)
    assert rd(RIS) & TXIM == 0
    host_input(b"\x01")
    assert rd(RIS) & RTIM and rd(MIS) & RTIM
    wr(IMSC, 0)
    assert rd(MIS) == 0 and rd(RIS) & RTIM
    assert Wires.irq == [True, False]


def test_icr_clears_the_receive_interrupts_while_data_waits() -> None:
    linux_startup()
    host_input(b"x")
    wr(ICR, RXIM | RTIM, 2)
    assert Wires.irq == [True, False]
    assert rd(DR) == ord("x")


def test_input_is_held_on_the_host_until_the_receiver_is_enabled() -> None:
    host_input(b"early")                         # after reset: UART disabled, the host holds its input
    assert Wires.wanted == [False] and Wires.host == b"early"
    assert rd(FR) & RXFE
    linux_startup()
    assert Wires.host == b"" and Wires.wanted == [False, True]
    assert bytes(rd(DR) for _ in range(5)) == b"early"


def test_rx_bytes_are_read_in_order_and_fr_tracks_the_fifo() -> None:
    linux_startup()
    host_input(b"hi")
    assert rd(FR) & RXFE == 0
    assert rd(DR, 2) == ord("h") and rd(DR, 2) == ord("i")
    assert rd(FR) & RXFE
    assert int(vpl011_rx_bytes()) == 2


def test_dr_reads_carry_no_error_bits() -> None:
    linux_startup()
    host_input(b"\xff\x00")
    assert rd(DR, 2) == 0xFF and rd(0x04) == 0       # data in [7:0], [11:8] zero; RSR/ECR clear
    assert rd(DR + 1, 1) == 0 and rd(DR) == 0x00         # a read of byte 1 alone does not pop


def test_rx_below_the_trigger_level_raises_the_timeout_interrupt_until_drained() -> None:
    linux_startup()
    host_input(b"a")
    assert rd(MIS) == RTIM and Wires.irq == [True]
    rd(DR)
    assert rd(RIS) & (RXIM | RTIM) == 0 and Wires.irq == [True, False]


def test_rx_at_the_trigger_level_raises_rx() -> None:
    linux_startup()                              # IFLS 0x12: RX trigger at 1/2 = 8 bytes
    host_input(bytes(range(8)))
    assert rd(MIS) & RXIM and not rd(MIS) & RTIM
    rd(DR)
    assert rd(MIS) & RTIM and not rd(MIS) & RXIM


def test_a_full_fifo_sets_rxff_and_holds_the_rest_on_the_host() -> None:
    linux_startup()
    host_input(bytes(range(20)))
    assert rd(FR) & RXFF
    assert Wires.host == bytes(range(16, 20))    # left in the host UART, nothing dropped
    assert Wires.wanted[-1] is False             # the host receive interrupt is masked while full
    out = [rd(DR) for _ in range(20)]
    assert out == list(range(20))
    assert Wires.wanted[-1] is True and rd(FR) & RXFE
    assert int(vpl011_rx_full_holds()) == 1


def test_a_4_kib_paste_arrives_whole_and_in_order() -> None:
    # The host delivers in bursts whenever its interrupt is enabled; the guest drains like amba-pl011's
    # pl011_fifo_to_tty (FR, DR until RXFE) on each interrupt it sees.
    linux_startup()
    paste = bytes((i * 7 + i // 13) & 0xFF for i in range(4096))
    got = bytearray()
    for i in range(0, len(paste), 100):
        host_input(paste[i:i + 100])
        while rd(MIS) & (RXIM | RTIM):
            while not rd(FR) & RXFE:
                got.append(rd(DR))
            wr(ICR, RXIM | RTIM)
    assert bytes(got) == paste and int(vpl011_rx_bytes()) == 4096
    assert Wires.host == b""


def test_without_fifo_one_byte_fills_the_receiver() -> None:
    wr(LCR_H, 0x60)                              # FEN clear
    wr(IMSC, RXIM)
    wr(CR, UARTEN | TXE | RXE)
    host_input(b"\x07\x08")
    assert rd(FR) & RXFF and rd(MIS) & RXIM
    assert Wires.host == b"\x08"
    assert rd(DR) == 7 and rd(DR) == 8


def test_disabling_the_receiver_holds_new_input() -> None:
    linux_startup()
    wr(CR, UARTEN | TXE)
    assert Wires.wanted[-1] is False
    host_input(b"z")
    assert rd(FR) & RXFE and Wires.host == b"z"


def test_reserved_offsets_read_as_zero() -> None:
    assert rd(0x08) == 0 and rd(0x80) == 0
    wr(0x80, 0xFFFF)
    assert rd(0x80) == 0
