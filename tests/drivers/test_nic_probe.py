"""The cluster's NIC selection (pyhv/cluster/nic_probe.py): virtio-net where the DTB has one, GENET v5 on a
Raspberry Pi 4 DTB, and on a DTB with neither (QEMU raspi4b) no NIC, said once."""

from __future__ import annotations

from collections.abc import Callable

from pyhv.lang import u32, u64

from pyhv.cluster.nic import nic
from pyhv.cluster.nic_probe import nic_irq_ops, nic_probe

from .conftest import NetBoard
from .genet_board import GENET_SPI, MAC, Board, board, frame
from .models.virtio_net import VirtioNetModel

__all__ = ["board"]                     # the fixture, used by name


def test_virtio_net_is_chosen_where_the_dtb_has_one(make_board: Callable[..., NetBoard]) -> None:
    make_board([VirtioNetModel(mac=bytes.fromhex("525400abcdef"))])
    assert nic_probe()
    assert nic().mac() == u64(0x525400ABCDEF)
    assert nic_irq_ops().intid() == u32(32 + 16)


def test_genet_is_chosen_on_a_raspberry_pi_4_dtb(board: Board) -> None:
    dev = board.attach()
    assert nic_probe()
    assert nic().mac() == u64(int.from_bytes(MAC, "big")) and nic().mtu() == u32(1500)
    assert nic_irq_ops().intid() == u32(32 + GENET_SPI)
    for _ in range(5):
        board.poll()
    f = frame(7, 200)
    assert board.send(f) == 0 and dev.tx_frames == [f]
    dev.deliver(frame(8, 300))
    assert dev.irq_pending()
    nic_irq_ops().irq()
    assert not dev.irq_pending()


def test_without_any_nic_the_node_says_so_once(board: Board) -> None:
    board.attach(with_genet=False)
    assert not nic_probe()
    assert board.console().count("no NIC") == 1
    assert "a one-node cluster" in board.console()
