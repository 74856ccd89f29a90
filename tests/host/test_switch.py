"""The cluster switch with plain Python sockets as nodes: learning, flooding, no echo to the ingress port,
seeded loss/duplication within binomial bounds (and exactly as counted), reordering, the socket-queue
backpressure and congestion drops, marker and garbage frames, the control socket, and the switch as its
own process (SIGUSR1 stats dump, clean SIGTERM). No timing asserts: waits are bounded only to avoid hangs."""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pyhv.host.switch import Switch, control_socket_path, node_socket_path, switch_request, switch_socket_path
from pyhv.host.switch_faults import BANDWIDTH_PRESETS, FaultConfig, TokenBucket
from pyhv.host.switch_frames import GARBAGE_KINDS, MSG_MARKER, is_pyhv, parse_header

REPO = Path(__file__).resolve().parents[2]
BCAST = b"\xff" * 6
WAIT_S = 20.0


def wait_until(cond: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    end = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.001)


class Node:
    """A fake node: the socket QEMU would bind, sending raw Ethernet frames to its switch port."""

    def __init__(self, sock_dir: Path, index: int) -> None:
        self.index = index
        self.mac = bytes([0x52, 0x54, 0, 0, 0, index + 1])
        self.port = switch_socket_path(sock_dir, index)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(node_socket_path(sock_dir, index)))
        self.sock.settimeout(WAIT_S)

    def send(self, dst: bytes, payload: bytes = b"", ethertype: int = 0x88B5) -> None:
        self.sock.sendto(dst + self.mac + struct.pack(">H", ethertype) + payload, str(self.port))

    def recv(self) -> bytes:
        return self.sock.recv(65536)


@pytest.fixture
def lan_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="pyhv-sw-") as d:       # short: socket paths are <= 108 bytes
        yield Path(d)


def _lan(lan_dir: Path, ports: int, faults: FaultConfig | None = None, queue_frames: int = 1024,
         cluster: str = "pyhv") -> tuple[Switch, list[Node]]:
    nodes = [Node(lan_dir, i) for i in range(ports)]
    return Switch(ports, lan_dir, faults, cluster=cluster, queue_frames=queue_frames).start(), nodes


def _stat(sw: Switch, port: int, name: str) -> int:
    ports = sw.stats()["ports"]
    assert isinstance(ports, list)
    value = ports[port][name]
    assert isinstance(value, int)
    return value


def test_learns_floods_unknown_and_broadcast_and_never_echoes(lan_dir: Path) -> None:
    sw, (a, b, c) = _lan(lan_dir, 3)
    try:
        a.send(b.mac, b"first")                       # b unknown: flooded to b and c
        assert b.recv().endswith(b"first") and c.recv().endswith(b"first")
        b.send(a.mac, b"reply")                       # a learned on port 0: only a
        assert a.recv().endswith(b"reply")
        c.send(BCAST, b"hello all")
        assert a.recv().endswith(b"hello all") and b.recv().endswith(b"hello all")
        a.send(a.mac, b"to myself")                   # learned on the ingress port: filtered
        wait_until(lambda: _stat(sw, 0, "rx") == 2, "a's second frame")
        assert [_stat(sw, i, "tx") for i in range(3)] == [2, 2, 1]
        assert [_stat(sw, i, "flooded") for i in range(3)] == [1, 0, 1]
        assert sw.stats()["macs"] == {"52:54:00:00:00:01": 0, "52:54:00:00:00:02": 1, "52:54:00:00:00:03": 2}
        c.send(a.mac, b"", 0x0800)
        a.recv()
        b.sock.sendto(BCAST + a.mac + b"\x88\xb5", str(b.port))   # a's MAC now seen on port 1: it moved
        wait_until(lambda: sw.stats()["mac_moves"] == 1, "the MAC move")
        c.send(a.mac, b"follow")
        assert b.recv().endswith(b"follow")
    finally:
        sw.stop()
    assert not switch_socket_path(lan_dir, 0).exists() and not control_socket_path(lan_dir).exists()


def _blast(sw: Switch, src: Node, dst: Node, count: int) -> Counter[int]:
    """Send count numbered frames src -> dst (two ports: flooded or learned, they go to dst alone), then
    read everything the switch delivered."""
    for i in range(count):
        src.send(dst.mac, struct.pack("<I", i) + bytes(60))
    wait_until(lambda: _stat(sw, src.index, "rx") == count, "the switch to take every frame")
    # rx is counted after a frame's fate is decided, so these counts are final now
    expected = count - _stat(sw, dst.index, "injected_drops") + _stat(sw, dst.index, "injected_dups")
    seen: Counter[int] = Counter()
    for _ in range(expected):
        seen[struct.unpack_from("<I", dst.recv(), 14)[0]] += 1       # blocks (bounded) until the next one
    wait_until(lambda: sw.idle() and _stat(sw, dst.index, "tx") == expected, "the last tx count")
    return seen


def test_loss_and_duplication_are_seeded_counted_exactly_and_binomial(lan_dir: Path) -> None:
    n, loss, dup = 2000, 0.05, 0.02
    sw, (a, b) = _lan(lan_dir, 2, faults=FaultConfig(seed=7, loss=loss, dup=dup), queue_frames=4096)
    try:
        seen = _blast(sw, a, b, n)
    finally:
        sw.stop()
    drops, dups = _stat(sw, 1, "injected_drops"), _stat(sw, 1, "injected_dups")
    assert sum(1 for i in range(n) if seen[i] == 0) == drops
    assert sum(1 for i in range(n) if seen[i] == 2) == dups
    assert max(seen.values()) <= 2 and set(seen) <= set(range(n))
    # five standard deviations either side of the mean: holds for the fixed seed, and any sane one
    sd_loss = (n * loss * (1 - loss)) ** 0.5
    assert abs(drops - n * loss) < 5 * sd_loss, drops
    kept = n - drops
    assert abs(dups - kept * dup) < 5 * (kept * dup * (1 - dup)) ** 0.5, dups
    assert _stat(sw, 1, "eagain") > 0                 # b read nothing while 2000 frames came: queued, not lost
    assert _stat(sw, 1, "congestion_drops") == 0


def test_same_seed_same_faults(lan_dir: Path) -> None:
    results = []
    for run in range(2):
        d = lan_dir / str(run)
        d.mkdir()
        sw, (a, b) = _lan(d, 2, faults=FaultConfig(seed=3, loss=0.1, dup=0.1), queue_frames=1024)
        try:
            seen = _blast(sw, a, b, 300)
        finally:
            sw.stop()
        results.append(sorted(seen.items()))
    assert results[0] == results[1]


def test_reorder_swaps_each_held_frame_with_the_next(lan_dir: Path) -> None:
    sw, (a, b) = _lan(lan_dir, 2, faults=FaultConfig(reorder=1.0, reorder_hold_s=60.0))
    try:
        for i in range(6):
            a.send(b.mac, struct.pack("<I", i))
        order = [struct.unpack_from("<I", b.recv(), 14)[0] for _ in range(6)]
    finally:
        sw.stop()
    assert order == [1, 0, 3, 2, 5, 4]
    assert _stat(sw, 1, "reordered") == 3


def test_a_held_frame_is_released_when_nothing_follows(lan_dir: Path) -> None:
    sw, (a, b) = _lan(lan_dir, 2, faults=FaultConfig(reorder=1.0, reorder_hold_s=0.01))
    try:
        a.send(b.mac, b"alone")
        assert b.recv().endswith(b"alone")
    finally:
        sw.stop()


def test_delay_and_bandwidth_keep_fifo_order_and_deliver_everything(lan_dir: Path) -> None:
    faults = FaultConfig(delay_s=0.001, bandwidth=BANDWIDTH_PRESETS["1g"])
    sw, (a, b) = _lan(lan_dir, 2, faults=faults)
    try:
        b.send(BCAST)
        a.recv()
        for i in range(200):
            a.send(b.mac, struct.pack("<I", i) + bytes(1400))
        order = [struct.unpack_from("<I", b.recv(), 14)[0] for _ in range(200)]
    finally:
        sw.stop()
    assert order == list(range(200))


def test_token_bucket_models_serialisation_at_1g() -> None:
    bucket = TokenBucket(BANDWIDTH_PRESETS["1g"])
    wire = (1500 + 24) * 8 / 1e9                      # a 1500-byte frame plus preamble, FCS, gap
    departures = [bucket.departure(10.0, 1500) for _ in range(3)]
    assert departures == pytest.approx([10.0 + wire, 10.0 + 2 * wire, 10.0 + 3 * wire])
    assert bucket.departure(20.0, 1500) == pytest.approx(20.0 + wire)     # an idle link starts afresh


def test_full_switch_queue_is_a_congestion_drop_not_an_injected_one(lan_dir: Path) -> None:
    sw, (a, b) = _lan(lan_dir, 2, queue_frames=8)
    try:
        b.send(BCAST)
        a.recv()
        for i in range(100):                          # b reads nothing meanwhile
            a.send(b.mac, struct.pack("<I", i))
        wait_until(lambda: _stat(sw, 0, "rx") == 100, "every frame into the switch")
        congested = _stat(sw, 1, "congestion_drops")
        got = [struct.unpack_from("<I", b.recv(), 14)[0] for _ in range(100 - congested)]
        wait_until(sw.idle, "the queue to drain")
    finally:
        sw.stop()
    assert congested > 0 and _stat(sw, 1, "injected_drops") == 0
    assert got == sorted(got) and _stat(sw, 1, "tx") == len(got)
    assert len(got) >= 8 + 1                          # the switch queue plus at least one in the socket


def test_marker_reaches_every_port_and_garbage_is_counted(lan_dir: Path) -> None:
    sw, nodes = _lan(lan_dir, 3, cluster="lan", faults=FaultConfig(seed=1, garbage=0.5))
    try:
        marker_id = sw.send_marker()
        for node in nodes:
            frame = node.recv()
            assert is_pyhv(frame) and parse_header(frame).msg_type == MSG_MARKER
            assert int.from_bytes(frame[46:54], "little") == marker_id
        nodes[0].send(BCAST, struct.pack("<I", 1))
        for node in nodes[1:]:
            node.recv()                               # the broadcast, possibly followed by garbage
        wait_until(lambda: _stat(sw, 0, "rx") == 1 and sw.idle(), "the broadcast's fate")
        garbage = _stat(sw, 1, "garbage_injected") + _stat(sw, 2, "garbage_injected")
        assert _stat(sw, 1, "tx") + _stat(sw, 2, "tx") == 2 * 2 + garbage
        assert sw.stats()["markers"] == 1
    finally:
        sw.stop()


def test_control_socket_stats_marker_and_garbage(lan_dir: Path) -> None:
    sw, (a, b) = _lan(lan_dir, 2, cluster="lan")
    try:
        reply = switch_request(lan_dir, "marker")
        assert parse_header(a.recv()).req_id == reply["marker_id"] == parse_header(b.recv()).req_id
        assert switch_request(lan_dir, "garbage version 1") == {"ok": True}
        assert parse_header(b.recv()).version != 1
        assert "error" in switch_request(lan_dir, "garbage nonsense")
        assert "error" in switch_request(lan_dir, "reboot")
        stats = switch_request(lan_dir, "stats")
        ports = stats["ports"]
        assert isinstance(ports, list) and ports[1]["garbage_injected"] == 1 and ports[0]["markers"] == 1
    finally:
        sw.stop()
    assert set(GARBAGE_KINDS) >= {"version", "truncated", "ethertype"}


def test_switch_process_dumps_stats_on_sigusr1_and_stops_on_sigterm(lan_dir: Path) -> None:
    a, b = Node(lan_dir, 0), Node(lan_dir, 1)
    stats = lan_dir / "stats.json"
    proc = subprocess.Popen([sys.executable, "-m", "pyhv.host.switch", "--ports", "2", "--dir", str(lan_dir),
                             "--loss", "0%", "--seed", "5"], cwd=REPO, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: control_socket_path(lan_dir).exists(), "the switch process to come up")
        a.send(BCAST, b"x")
        assert b.recv().endswith(b"x")
        proc.send_signal(signal.SIGUSR1)
        wait_until(stats.exists, "the SIGUSR1 stats dump")
        assert json.loads(stats.read_text())["ports"][0]["rx"] == 1
        a.send(BCAST, b"y")
        b.recv()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=WAIT_S) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert json.loads(stats.read_text())["ports"][0]["rx"] == 2          # the exit dump
    assert not os.path.exists(switch_socket_path(lan_dir, 0))
