"""virtio-net probe: discovery from the host DTB, the version-2 check, feature negotiation, queue setup."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pyhv.lang import u32, u64

from pyhv.cluster.nic import nic, nic_set
from pyhv.drivers.virtio_net import (
    VIRTIO_NET_ERR_FEATURES, VIRTIO_NET_ERR_LEGACY, VIRTIO_NET_ERR_NO_DEVICE, VIRTIO_NET_ERR_QUEUE,
    VIRTIO_NET_NIC_OPS, virtio_net_init, virtio_net_intid, virtio_net_mac, virtio_net_mtu, virtio_net_probe,
)

from .conftest import VIRTIO_BASE, VIRTIO_FIRST_SPI, VIRTIO_STRIDE, NetBoard
from .models.virtio_net import (
    ACKNOWLEDGE, DESC_F_WRITE, DRIVER, DRIVER_OK, F_MAC, F_MRG_RXBUF, F_MTU, F_STATUS, F_VERSION_1, FAILED,
    FEATURES_OK, VirtioNetModel, read_le,
)

MakeBoard = Callable[..., NetBoard]


def test_probe_skips_empty_slots_and_other_devices_and_takes_the_first_net(make_board: MakeBoard) -> None:
    empty, block, net, net2 = (VirtioNetModel(device_id=0), VirtioNetModel(device_id=2), VirtioNetModel(),
                               VirtioNetModel(mac=bytes.fromhex("525400999999")))
    make_board([empty, block, net, net2])
    assert virtio_net_probe()
    assert empty.writes == [] and block.writes == [] and net2.writes == []
    assert net.status == ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK
    assert int(virtio_net_mac()) == 0x525400123456
    assert int(virtio_net_intid()) == 32 + VIRTIO_FIRST_SPI + 2
    assert net.violations == []


def test_probe_skips_disabled_nodes(make_board: MakeBoard) -> None:
    first, second = VirtioNetModel(), VirtioNetModel(mac=bytes.fromhex("525400999999"))
    make_board([first, second], disabled=(0,))
    assert virtio_net_probe()
    assert first.writes == [] and int(virtio_net_mac()) == 0x525400999999


def test_probe_without_any_net_device_fails_quietly(make_board: MakeBoard) -> None:
    board = make_board([VirtioNetModel(device_id=0), VirtioNetModel(device_id=4)])
    assert not virtio_net_probe()
    assert board.console() == ""


def test_legacy_device_is_refused_with_a_message_naming_the_qemu_option(make_board: MakeBoard) -> None:
    legacy = VirtioNetModel(version=1)
    board = make_board([legacy])
    assert not virtio_net_probe()
    assert "legacy (version 1)" in board.console()
    assert "-global virtio-mmio.force-legacy=false" in board.console()
    assert legacy.writes == []                                  # not touched at all


def test_legacy_net_is_skipped_for_a_modern_one(make_board: MakeBoard) -> None:
    modern = VirtioNetModel(mac=bytes.fromhex("525400777777"))
    make_board([VirtioNetModel(version=1), modern])
    assert virtio_net_probe()
    assert int(virtio_net_mac()) == 0x525400777777


def test_device_without_version_1_is_refused(make_board: MakeBoard) -> None:
    old = VirtioNetModel(features=F_MAC)
    board = make_board([old])
    assert virtio_net_init(u64(VIRTIO_BASE), u32(0)) == VIRTIO_NET_ERR_FEATURES
    assert "VIRTIO_F_VERSION_1" in board.console()
    assert old.status & FAILED and not old.status & DRIVER_OK


def test_device_refusing_features_ok_is_refused(make_board: MakeBoard) -> None:
    dev = VirtioNetModel(accept_features_ok=False)
    make_board([dev])
    assert virtio_net_init(u64(VIRTIO_BASE), u32(0)) == VIRTIO_NET_ERR_FEATURES
    assert dev.status & FAILED and not dev.status & FEATURES_OK


def test_a_slot_with_a_bad_magic_value_is_not_driven(make_board: MakeBoard) -> None:
    odd = VirtioNetModel(magic=0x12345678)
    make_board([odd])
    assert virtio_net_init(u64(VIRTIO_BASE), u32(0)) == VIRTIO_NET_ERR_NO_DEVICE
    assert odd.writes == []


def test_only_offered_features_we_use_are_accepted(make_board: MakeBoard) -> None:
    dev = VirtioNetModel(features=F_VERSION_1 | F_MAC | F_MTU | F_MRG_RXBUF | F_STATUS, mtu=1500)
    make_board([dev])
    assert virtio_net_probe()
    assert dev.driver_features == F_VERSION_1 | F_MAC | F_MTU


@pytest.mark.parametrize("features,config_mtu,mtu", [
    (F_VERSION_1 | F_MAC, 9000, 1500),          # no VIRTIO_NET_F_MTU: the config value means nothing
    (F_VERSION_1 | F_MAC | F_MTU, 9000, 9000),  # jumbo
    (F_VERSION_1 | F_MAC | F_MTU, 4200, 4200),
    (F_VERSION_1 | F_MAC | F_MTU, 65535, 9000),  # capped at what the receive buffers hold
    (F_VERSION_1 | F_MAC | F_MTU, 1400, 1400),  # a smaller link MTU is the truth: we must not exceed it
])
def test_mtu(make_board: MakeBoard, features: int, config_mtu: int, mtu: int) -> None:
    make_board([VirtioNetModel(features=features, mtu=config_mtu)])
    assert virtio_net_probe()
    assert int(virtio_net_mtu()) == mtu


def test_without_the_mac_feature_a_locally_administered_mac_is_made(make_board: MakeBoard) -> None:
    make_board([VirtioNetModel(features=F_VERSION_1)])
    assert virtio_net_probe()
    mac = int(virtio_net_mac())
    assert mac >> 40 == 0x02 and mac < 1 << 48


def test_rings_are_page_aligned_and_the_receive_queue_is_prefilled(make_board: MakeBoard) -> None:
    dev = VirtioNetModel()
    make_board([dev])
    assert virtio_net_probe()
    rx, tx = dev.queues
    for q in (rx, tx):
        assert q.ready == 1 and q.num == 32
        assert q.desc % 4096 == 0 and q.driver % 2 == 0 and q.device % 4 == 0
    assert dev.rx_buffers_available() == 32
    assert dev.notifies == [1, 0]
    for i in range(32):
        length, flags = read_le(rx.desc + 16 * i + 8, 4), read_le(rx.desc + 16 * i + 12, 2)
        assert length >= 12 + 14 + 9000 and flags == DESC_F_WRITE
    assert read_le(tx.driver, 2) == 1                               # transmit: VIRTQ_AVAIL_F_NO_INTERRUPT


def test_queue_size_follows_a_smaller_queue_num_max(make_board: MakeBoard) -> None:
    dev = VirtioNetModel(queue_num_max=8)
    make_board([dev])
    assert virtio_net_probe()
    assert [q.num for q in dev.queues] == [8, 8] and dev.rx_buffers_available() == 8
    assert dev.violations == []


def test_a_device_without_queues_is_refused(make_board: MakeBoard) -> None:
    dev = VirtioNetModel(queue_num_max=0)
    make_board([dev])
    assert virtio_net_init(u64(VIRTIO_BASE), u32(0)) == VIRTIO_NET_ERR_QUEUE
    assert dev.status & FAILED


def test_the_ops_table_fills_the_cluster_nic_slot(make_board: MakeBoard) -> None:
    make_board([VirtioNetModel()])
    assert virtio_net_probe()
    nic_set(VIRTIO_NET_NIC_OPS)
    assert int(nic().mac()) == 0x525400123456 and int(nic().mtu()) == 1500


def test_legacy_and_empty_results_are_distinct(make_board: MakeBoard) -> None:
    make_board([VirtioNetModel(device_id=0), VirtioNetModel(version=1)])
    assert virtio_net_init(u64(VIRTIO_BASE), u32(0)) == VIRTIO_NET_ERR_NO_DEVICE
    assert virtio_net_init(u64(VIRTIO_BASE + VIRTIO_STRIDE), u32(0)) == VIRTIO_NET_ERR_LEGACY
