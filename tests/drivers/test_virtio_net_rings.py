"""virtio-net data path against the device model: transmit, receive, wrap-around, exhaustion, oversize
frames, a misbehaving device, interrupts and the barriers around notifications."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pyhv.lang import u32, u64
from pyhv.lang.machine import current_cpu, read_memory, write_memory

from pyhv.drivers.virtio_net import (
    VIRTIO_NET_ERR_LENGTH, VIRTIO_NET_ERR_NOT_READY, VIRTIO_NET_ERR_TX_FULL, VIRTIO_NET_OK, virtio_net_irq,
    virtio_net_poll, virtio_net_probe, virtio_net_send, virtio_net_stats,
)

from .conftest import RX_BUF, NetBoard, frame
from .models.virtio_net import F_MAC, F_MTU, F_VERSION_1, VirtioNetModel

MakeBoard = Callable[..., NetBoard]


def up(make_board: MakeBoard, dev: VirtioNetModel | None = None) -> tuple[NetBoard, VirtioNetModel]:
    dev = dev if dev is not None else VirtioNetModel()
    board = make_board([dev])
    assert virtio_net_probe()
    return board, dev


# --- transmit ---------------------------------------------------------------------------------------------

def test_sent_frame_reaches_the_device_exactly_behind_a_zero_header(make_board: MakeBoard) -> None:
    board, dev = up(make_board)
    f = frame(1, 1514)
    assert board.send(f) == VIRTIO_NET_OK
    assert dev.tx_frames == [f] and dev.tx_headers == [bytes(12)]
    assert dev.violations == []


def test_short_frame_is_zero_padded_to_the_ethernet_minimum(make_board: MakeBoard) -> None:
    board, dev = up(make_board)
    f = frame(2, 46)                                            # a pure ACK: headers only
    write_memory(0x4100_0000 + 2 + 46, b"\xee" * 32)           # junk after the frame in the caller's buffer
    assert board.send(f) == VIRTIO_NET_OK
    assert dev.tx_frames == [f + bytes(14)]


def test_send_refuses_empty_and_over_mtu_frames(make_board: MakeBoard) -> None:
    board, dev = up(make_board)
    assert board.send(b"") == VIRTIO_NET_ERR_LENGTH
    assert board.send(frame(3, 1515)) == VIRTIO_NET_ERR_LENGTH
    assert dev.tx_frames == [] and int(virtio_net_stats().tx_bad_length) == 2


def test_jumbo_frame_is_sent_when_the_device_offers_a_jumbo_mtu(make_board: MakeBoard) -> None:
    board, dev = up(make_board, VirtioNetModel(features=F_VERSION_1 | F_MAC | F_MTU, mtu=9000))
    f = frame(4, 9014)
    assert board.send(f) == VIRTIO_NET_OK and dev.tx_frames == [f]
    assert board.send(frame(5, 9015)) == VIRTIO_NET_ERR_LENGTH


def test_send_before_probe_is_refused(make_board: MakeBoard) -> None:
    make_board([VirtioNetModel()])
    assert virtio_net_send(u64(0x4100_0000), u32(64)) == VIRTIO_NET_ERR_NOT_READY


def test_transmit_ring_wraps_around_many_times(make_board: MakeBoard) -> None:
    board, dev = up(make_board)
    frames = [frame(i, 60 + i % 200) for i in range(2 * 32 * 3 + 7)]
    for f in frames:
        assert board.send(f) == VIRTIO_NET_OK
    assert dev.tx_frames == frames
    assert dev.queues[1].next_avail == len(frames) and dev.violations == []


def test_full_transmit_ring_reports_tx_full_then_recovers(make_board: MakeBoard) -> None:
    board, dev = up(make_board)
    dev.tx_hold = True
    frames = [frame(i) for i in range(32)]
    for f in frames:
        assert board.send(f) == VIRTIO_NET_OK
    assert board.send(frame(99)) == VIRTIO_NET_ERR_TX_FULL
    assert int(virtio_net_stats().tx_full) == 1
    dev.release_tx(list(reversed(range(32))))                 # completions in a different order
    dev.tx_hold = False
    more = [frame(100 + i) for i in range(40)]
    for f in more:
        assert board.send(f) == VIRTIO_NET_OK
    assert dev.tx_frames == frames + more and dev.violations == []


def test_buffers_completed_out_of_order_are_reused_correctly(make_board: MakeBoard) -> None:
    board, dev = up(make_board)
    dev.tx_hold = True
    frames = [frame(i, 300) for i in range(3)]
    for f in frames:
        assert board.send(f) == VIRTIO_NET_OK
    dev.release_tx([0])                                         # the first finishes, the others stay busy
    dev.release_tx([1])                                         # then the third
    dev.tx_hold = False
    later = [frame(10 + i, 200) for i in range(3)]
    for f in later:
        assert board.send(f) == VIRTIO_NET_OK
    dev.release_tx()
    assert dev.tx_frames == frames + later and dev.violations == []


def test_transmit_honours_the_devices_no_notify_hint(make_board: MakeBoard) -> None:
    board, dev = up(make_board)
    assert board.send(frame(1)) == VIRTIO_NET_OK              # completion sets used.flags NO_NOTIFY
    dev.no_notify[1] = True
    assert board.send(frame(2)) == VIRTIO_NET_OK
    notified = dev.notifies[1]
    assert board.send(frame(3)) == VIRTIO_NET_OK
    assert dev.notifies[1] == notified                          # suppressed
    dev.kick(1)
    assert dev.tx_frames == [frame(1), frame(2), frame(3)]


# --- receive ----------------------------------------------------------------------------------------------

def test_received_frames_come_out_in_order_without_the_header(make_board: MakeBoard) -> None:
    board, dev = up(make_board)
    frames = [frame(i, 60 + 13 * i) for i in range(5)]
    for f in frames:
        dev.inject(f)
    assert [board.poll() for _ in range(5)] == frames
    assert board.poll() is None
    assert int(virtio_net_stats().rx_frames) == 5


def test_receive_ring_wraps_around_many_times(make_board: MakeBoard) -> None:
    board, dev = up(make_board)
    got = []
    for i in range(2 * 32 * 3 + 11):
        dev.inject(frame(i))
        if i % 3 == 2:                                          # let a few pile up between polls
            while (f := board.poll()) is not None:
                got.append(f)
    while (f := board.poll()) is not None:
        got.append(f)
    assert got == [frame(i) for i in range(2 * 32 * 3 + 11)]
    assert dev.rx_buffers_available() == 32 and dev.violations == []


def test_exhausted_receive_buffers_are_refilled_and_waiting_frames_delivered(make_board: MakeBoard) -> None:
    board, dev = up(make_board)
    frames = [frame(i) for i in range(32 + 9)]
    for f in frames:
        dev.inject(f)
    assert dev.rx_buffers_available() == 0 and len(dev.pending_rx) == 9
    got = [board.poll() for _ in range(len(frames))]
    assert got == frames and board.poll() is None
    assert dev.rx_buffers_available() == 32 and not dev.pending_rx


@pytest.mark.parametrize("over", [1, 514])
def test_frame_longer_than_the_callers_buffer_is_cut_without_overflow(make_board: MakeBoard, over: int) -> None:
    board, dev = up(make_board)
    write_memory(RX_BUF, b"\xaa" * 1600)
    f = frame(7, 1000 + over)
    dev.inject(f)
    assert int(virtio_net_poll(u64(RX_BUF + 2), u32(1000))) == len(f)  # the real length is reported
    assert read_memory(RX_BUF + 2, 1000) == f[:1000]
    assert read_memory(RX_BUF + 2 + 1000, 500) == b"\xaa" * 500        # nothing past the capacity
    assert int(virtio_net_stats().rx_truncated) == 1
    dev.inject(frame(8))
    assert board.poll() == frame(8)


def test_frame_larger_than_a_receive_buffer_never_reaches_memory(make_board: MakeBoard) -> None:
    board, dev = up(make_board)
    dev.inject(frame(1, 9300))                                  # does not fit a 9 KiB buffer
    dev.inject(frame(2))
    assert dev.rx_dropped_too_big == 1
    assert board.poll() == frame(2) and board.poll() is None


def test_device_claiming_more_than_the_buffer_is_dropped_and_the_buffer_reused(make_board: MakeBoard) -> None:
    board, dev = up(make_board)
    write_memory(RX_BUF, b"\xaa" * 12_000)
    dev.inject(frame(1), claimed_len=100_000)
    dev.inject(frame(2), claimed_len=5)                          # shorter than the virtio-net header
    dev.inject(frame(3))
    assert board.poll() == frame(3)
    assert read_memory(RX_BUF + 2 + 64, 11_000) == b"\xaa" * 11_000   # nothing copied past frame 3
    assert int(virtio_net_stats().rx_errors) == 2
    assert dev.rx_buffers_available() == 32


def test_used_entry_for_a_descriptor_the_device_does_not_own_is_ignored(make_board: MakeBoard) -> None:
    board, dev = up(make_board)
    dev.inject(frame(1))
    assert board.poll() == frame(1)
    dev.inject_used(0, 200, 80)                                 # out of range
    dev.inject(frame(2))
    assert board.poll() == frame(2) and board.poll() is None
    assert int(virtio_net_stats().rx_errors) == 1


def test_free_running_indices_wrap_at_65536(make_board: MakeBoard) -> None:
    # Start both queues as if 65500 frames had gone through each (white box: the driver's and the device's
    # counters and the idx fields in RAM moved together), then cross the u16 wrap in both directions.
    from pyhv.drivers.virtio_net import _net
    board, dev = up(make_board)
    st = _net.get()
    shift = 65500
    for q, dq in ((st.rx, dev.queues[0]), (st.tx, dev.queues[1])):
        q.avail_idx = q.avail_idx + shift
        q.last_used = q.last_used + shift
        dq.next_avail = (dq.next_avail + shift) & 0xFFFF
        dq.used_idx = (dq.used_idx + shift) & 0xFFFF
        write_memory(dq.driver + 2, int(q.avail_idx).to_bytes(2, "little"))
        write_memory(dq.device + 2, dq.used_idx.to_bytes(2, "little"))
    sent = [frame(i) for i in range(80)]
    got = []
    for f in sent:
        assert board.send(f) == VIRTIO_NET_OK
        dev.inject(f)
        got.append(board.poll())
    assert dev.tx_frames == sent and got == sent
    assert int(st.tx.avail_idx) == (shift + 80) & 0xFFFF and dev.violations == []


# --- interrupts and barriers ------------------------------------------------------------------------------

def test_irq_handler_acknowledges_the_receive_interrupt(make_board: MakeBoard) -> None:
    board, dev = up(make_board)
    board.send(frame(1))
    assert dev.interrupt_status == 0                            # transmit asked for no interrupts
    dev.inject(frame(2))
    assert dev.interrupt_status == 1
    virtio_net_irq()
    assert dev.interrupt_status == 0 and int(virtio_net_stats().irqs) == 1
    assert board.poll() == frame(2)                             # the frame waits for poll


def test_every_notify_follows_a_store_barrier(make_board: MakeBoard) -> None:
    dev = VirtioNetModel()
    board = make_board([dev])
    current_cpu().trace = []
    assert virtio_net_probe()
    board.send(frame(1))
    dev.inject(frame(2))
    assert board.poll() == frame(2)
    trace = [(k, op) for k, op, _ in current_cpu().trace or []]
    notifies = [i for i, (k, _) in enumerate(trace) if k == "notify"]
    assert len(notifies) == 3                                   # rx prefill, tx, rx refill
    for i in notifies:
        assert trace[i - 1] == ("dsb", "st") and ("dmb", "osh") in trace[i - 3:i]
    assert ("dmb", "oshld") in trace                            # after reading used.idx
    assert dev.violations == []
