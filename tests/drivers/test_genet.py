"""GENET v5 driver against the register-level model (tests/drivers/models/genet.py) with non-coherent DMA
(tests/drivers/models/dma_cache.py): bring-up, PHY and link, send/receive at every size, ring wrap-around,
a full ring, RX overflow, error frames, interrupts and the cache maintenance DMA needs."""

from __future__ import annotations

import pytest

from pyhv.lang import u32, u64
from pyhv.lang.machine import read_memory, write_memory

from pyhv.drivers.genet import (
    GENET_ERR_LENGTH, GENET_ERR_NO_DEVICE, GENET_ERR_NO_LINK, GENET_ERR_NO_PHY, GENET_ERR_NOT_READY,
    GENET_ERR_TX_FULL, GENET_NIC_OPS, GENET_OK, genet_init, genet_irq, genet_link_speed, genet_poll,
    genet_probe, genet_send, genet_stats,
)
from pyhv.drivers.genet_setup import RX_DESCS, TX_DESCS

from .genet_board import GENET_BASE, RX_BUF, TX_BUF, Board, board, frame
from .models.genet import IRQ_RXDMA_DONE, GenetModel, PhyModel

__all__ = ["board"]                     # the fixture, used by name


def clean_run(b: Board) -> None:
    assert b.dev is not None
    assert b.dev.violations == [] and b.dma.violations == []


SIZES = (60, 64, 65, 127, 128, 255, 256, 511, 512, 1023, 1024, 1500, 1513, 1514)

# --- bring-up ----------------------------------------------------------------------------------------------


def test_probe_sets_up_mac_rings_and_phy_from_the_device_tree(board: Board) -> None:
    dev = board.attach()
    assert genet_probe()
    r = dev.regs
    assert r[0x004] == 3                                        # SYS_PORT_CTRL: external GPHY
    assert r[0x08C] & (1 << 6) and not r[0x08C] & ((1 << 5) | (1 << 16))   # RGMII on, OOB and ID off
    assert (r[0x80C], r[0x810]) == (0xDCA63201, 0x0203)         # the DT's local-mac-address
    assert r[0x814] == 1536
    assert r[0x300] & 2                                         # RBUF_ALIGN_2B
    assert (0x808, 0x2000 | 0x8000) in dev.writes and r[0x808] & 0x2000 == 0   # soft reset, released
    assert (r[0x3000 + 0x14], r[0x3000 + 0x1C]) == (0, int(RX_DESCS) * 3 - 1)
    assert r[0x3000 + 0x10] == (int(RX_DESCS) << 16) | 2048
    assert (r[0x5000 + 0x14], r[0x5000 + 0x1C]) == (0, int(TX_DESCS) * 3 - 1)
    assert r[0x3040] == r[0x5040] == 1 << 16                    # ring 16 enabled
    assert r[0x3044] == r[0x5044] == (1 << 17) | 1              # DMA enabled with ring 16's buffers
    assert all(d[0] == (2048 << 16) | 0x8000 for d in dev.rx_desc[:int(RX_DESCS)])
    assert dev.rx_cons == 0x1234 and dev.tx_prod == 0xFFF0      # aligned on the hardware's indices
    assert dev.phy.reset_count == 1 and dev.phy.an_started == 1
    assert "genet: fd580000 mac dca632010203 phy 1 id 600d84a2 irq 189 mtu 1500\n" in board.console()
    assert GENET_NIC_OPS.mac() == u64(0xDCA632010203) and GENET_NIC_OPS.mtu() == u32(1500)
    clean_run(board)


def test_no_genet_node_means_no_nic(board: Board) -> None:
    board.attach(with_genet=False)
    assert not genet_probe()
    assert board.console() == ""                                # nic_probe says it, once
    assert int(genet_poll(u64(RX_BUF), u32(100))) == 0
    assert genet_send(u64(TX_BUF), u32(64)) == GENET_ERR_NOT_READY


def test_a_disabled_genet_node_is_ignored(board: Board) -> None:
    dev = board.attach(status="disabled")
    assert not genet_probe() and dev.writes == []


def test_registers_that_are_not_genet_v5_are_refused(board: Board) -> None:
    dev = board.attach(GenetModel(board.dma, rev=0x0500_0000))          # GENET v4
    assert genet_init(u64(GENET_BASE), u32(0), u64(0)) == GENET_ERR_NO_DEVICE
    assert dev.writes == [] and "is not a GENET v5" in board.console()


def test_a_missing_phy_is_reported(board: Board) -> None:
    board.attach(GenetModel(board.dma, phy_addr=40))                     # nobody answers on MDIO
    assert genet_init(u64(GENET_BASE), u32(0), u64(0)) == GENET_ERR_NO_PHY
    assert "no PHY answers" in board.console()


def test_a_phy_at_another_mdio_address_is_found(board: Board) -> None:
    board.up(GenetModel(board.dma, phy_addr=5))
    assert " phy 5 id 600d84a2" in board.console()


def test_without_local_mac_address_a_locally_administered_mac_is_used(board: Board) -> None:
    board.attach(mac=None)
    assert genet_probe()
    mac = int(GENET_NIC_OPS.mac())
    assert mac >> 24 == 0x027079


# --- link -----------------------------------------------------------------------------------------------


def test_link_comes_up_at_1000_after_autonegotiation_and_enables_the_mac(board: Board) -> None:
    dev = board.attach()
    assert genet_probe()
    assert int(genet_link_speed()) == 0 and board.send(frame(1)) == GENET_ERR_NO_LINK
    for _ in range(5):
        board.poll()
    assert int(genet_link_speed()) == 1000
    cmd = dev.regs[0x808]
    assert (cmd >> 2) & 3 == 2 and cmd & 3 == 3 and not cmd & (1 << 10)
    assert dev.regs[0x08C] & (1 << 4)                           # RGMII_LINK
    assert board.console().count("genet: link up 1000 Mb/s full duplex\n") == 1
    assert int(genet_stats().tx_no_link) == 1
    clean_run(board)


def test_a_100_megabit_partner_gives_a_100_megabit_link(board: Board) -> None:
    dev = board.up(GenetModel(board.dma, phy=PhyModel(partner_1000full=False)))
    assert int(genet_link_speed()) == 100 and (dev.regs[0x808] >> 2) & 3 == 1


def test_link_down_and_up_again_is_seen_and_reported(board: Board) -> None:
    dev = board.up()
    dev.phy.unplug()
    assert dev.deliver(frame(1)) == "not_ready"                 # nothing arrives on a dead cable
    for _ in range(5000):                                       # more than LINK_POLL_EVERY polls
        board.poll()
        if int(genet_link_speed()) == 0:
            break
    assert int(genet_link_speed()) == 0 and "genet: link down\n" in board.console()
    assert not dev.regs[0x08C] & (1 << 4)
    assert board.send(frame(2)) == GENET_ERR_NO_LINK
    dev.phy.plug()
    for _ in range(5):
        board.poll()
    assert int(genet_link_speed()) == 1000
    assert board.console().count("link up") == 2 and int(genet_stats().link_changes) == 3
    assert board.send(frame(3)) == GENET_OK and dev.tx_frames == [frame(3)]


# --- transmit ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_sent_frame_reaches_the_wire_intact(board: Board, size: int) -> None:
    dev = board.up()
    f = frame(size, size)
    assert board.send(f) == GENET_OK
    assert dev.tx_frames == [f]
    assert dev.tx_status[0] & 0x2000 and dev.tx_status[0] & 0x4000 and dev.tx_status[0] & 0x40
    assert (dev.tx_status[0] >> 7) & 0x3F == 0x3F
    clean_run(board)


def test_short_frame_is_zero_padded_to_the_ethernet_minimum(board: Board) -> None:
    dev = board.up()
    write_memory(TX_BUF + 2 + 46, b"\xee" * 32)                 # junk after the frame in the caller's buffer
    f = frame(2, 46)
    assert board.send(f) == GENET_OK and dev.tx_frames == [f + bytes(14)]


def test_send_refuses_empty_and_over_mtu_frames(board: Board) -> None:
    dev = board.up()
    assert board.send(b"") == GENET_ERR_LENGTH
    assert board.send(frame(3, 1515)) == GENET_ERR_LENGTH
    assert dev.tx_frames == [] and int(genet_stats().tx_bad_length) == 2


def test_transmit_ring_wraps_around_descriptors_and_the_16_bit_index(board: Board) -> None:
    dev = board.up()                                            # TDMA consumer starts at 0xfff0
    n = 3 * int(TX_DESCS) + 5
    frames = [frame(i, 64 + i * 13 % 1400) for i in range(n)]
    for f in frames:
        assert board.send(f) == GENET_OK
    assert dev.tx_frames == frames and dev.tx_cons == (0xFFF0 + n) & 0xFFFF
    clean_run(board)


def test_full_transmit_ring_refuses_then_recovers_when_the_hardware_completes(board: Board) -> None:
    dev = board.up()
    dev.tx_hold = True
    for i in range(int(TX_DESCS)):
        assert board.send(frame(i)) == GENET_OK
    assert board.send(frame(99)) == GENET_ERR_TX_FULL and int(genet_stats().tx_full) == 1
    assert dev.complete_tx(limit=1) == 1
    assert board.send(frame(100)) == GENET_OK
    dev.complete_tx()
    assert dev.tx_frames == [frame(i) for i in range(int(TX_DESCS))] + [frame(100)]
    clean_run(board)


# --- receive -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_received_frame_arrives_intact(board: Board, size: int) -> None:
    dev = board.up()
    f = frame(size, size)
    assert dev.deliver(f) == "ok"
    assert board.poll() == f
    assert board.poll() is None
    assert int(genet_stats().rx_frames) == 1
    clean_run(board)


def test_receive_ring_wraps_around_descriptors_and_the_16_bit_index(board: Board) -> None:
    dev = board.up(GenetModel(board.dma, rx_prod_start=0xFFF8))
    n = 3 * int(RX_DESCS) + 7
    for i in range(n):
        f = frame(i, 60 + i * 29 % 1455)
        assert dev.deliver(f) == "ok"
        assert board.poll() == f
    assert dev.rx_cons == (0xFFF8 + n) & 0xFFFF
    clean_run(board)


def test_frames_beyond_a_full_receive_ring_are_dropped_and_counted_nothing_corrupted(board: Board) -> None:
    dev = board.up()
    frames = [frame(i, 100 + i) for i in range(int(RX_DESCS) + 10)]
    results = [dev.deliver(f) for f in frames]
    assert results == ["ok"] * int(RX_DESCS) + ["ring_full"] * 10
    got = [board.poll() for _ in range(int(RX_DESCS))]
    assert got == frames[:int(RX_DESCS)]
    assert board.poll() is None
    assert int(genet_stats().rx_overflow) == 10
    later = frame(500, 700)                                     # the ring works on afterwards
    assert dev.deliver(later) == "ok" and board.poll() == later
    assert int(genet_stats().rx_overflow) == 10
    clean_run(board)


def test_the_hardware_discard_counter_is_cleared_before_it_saturates(board: Board) -> None:
    dev = board.up()
    dev.rx_discards = 0xC000                                   # as if 49152 frames had been lost
    assert board.poll() is None
    assert int(genet_stats().rx_overflow) == 0xC000 and dev.rx_discards == 0
    for i in range(int(RX_DESCS) + 2):                          # two more lost after the clear
        dev.deliver(frame(i))
    assert board.poll() == frame(0)
    assert int(genet_stats().rx_overflow) == 0xC002


def test_error_frames_are_dropped_and_counted(board: Board) -> None:
    dev = board.up()
    good = frame(2, 200)
    assert dev.deliver(frame(1, 200), error_bits=0x2) == "ok"  # CRC error
    assert dev.deliver(good) == "ok"
    assert board.poll() == good and int(genet_stats().rx_errors) == 1


def test_frame_longer_than_the_callers_buffer_is_cut_and_its_length_returned(board: Board) -> None:
    dev = board.up()
    f = frame(3, 1000)
    write_memory(RX_BUF, b"\xaa" * 1200)
    assert dev.deliver(f) == "ok"
    assert int(genet_poll(u64(RX_BUF + 2), u32(100))) == 1000
    assert read_memory(RX_BUF + 2, 100) == f[:100]
    assert read_memory(RX_BUF + 102, 500) == b"\xaa" * 500
    assert int(genet_stats().rx_truncated) == 1


# --- interrupts --------------------------------------------------------------------------------------------


def test_only_the_receive_interrupt_is_unmasked_and_the_handler_acknowledges_it(board: Board) -> None:
    dev = board.up()
    assert dev.intr_mask == 0xFFFFFFFF & ~IRQ_RXDMA_DONE
    assert not dev.irq_pending()
    assert board.send(frame(1)) == GENET_OK and not dev.irq_pending()    # TX completions stay masked
    dev.deliver(frame(2))
    assert dev.irq_pending()
    genet_irq()
    assert not dev.irq_pending() and int(genet_stats().irqs) == 1
    assert board.poll() == frame(2)                              # the frame waits for poll


# --- non-coherent DMA ------------------------------------------------------------------------------------


def test_transmit_buffer_is_cleaned_to_memory_before_the_doorbell(board: Board) -> None:
    dev = board.up()
    for i, size in enumerate((1514, 64, 1514)):                  # reuses no buffer; then does
        f = frame(i, size)
        assert board.send(f) == GENET_OK and dev.tx_frames[-1] == f
    ops = [op for op, _ in board.dma.ops[-24:]]
    assert "cvac" in ops
    clean_run(board)


def test_receive_buffers_are_invalidated_before_the_cpu_reads_a_reused_buffer(board: Board) -> None:
    dev = board.up()
    for i in range(int(RX_DESCS) + 3):                           # the last 3 reuse buffers 0..2
        f = frame(i, 1514 - i)
        assert dev.deliver(f) == "ok"
        assert board.poll() == f
    clean_run(board)


def test_model_shows_what_a_missing_transmit_clean_does(board: Board) -> None:
    # The model itself: without DC CVAC the device reads memory the CPU never wrote back.
    dev = board.up()
    board.dma.disabled_ops = {"cvac"}
    f = frame(1, 300)
    assert board.send(f) == GENET_OK and dev.tx_frames[-1] != f


def test_model_shows_what_a_missing_receive_invalidate_does(board: Board) -> None:
    dev = board.up()
    board.dma.disabled_ops = {"ivac"}
    f = frame(1000, 300)
    assert dev.deliver(f) == "ok"
    assert board.poll() != f                                      # the CPU read its stale copy


def test_model_shows_what_skipping_the_initial_clean_invalidate_does(board: Board) -> None:
    board.dma.disabled_ops = {"civac"}
    dev = board.up()
    f = frame(1, 500)
    assert dev.deliver(f) == "ok"
    assert board.poll() != f and board.dma.violations != []
