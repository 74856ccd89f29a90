"""The cluster LAN: a learning Ethernet switch joining QEMU nodes over UNIX datagram sockets (host tooling,
not dialect; no root, no tap).

Port i is the socket D/switch<i>.sock; its node is the socket D/node<i>.sock, which QEMU binds with
    -netdev dgram,id=n<i>,local.type=unix,local.path=D/node<i>.sock,remote.type=unix,remote.path=D/switch<i>.sock
(one raw Ethernet frame per datagram, no FCS). The switch learns source MACs per port, forwards unicast to
the learned port (floods while unknown), floods broadcast/multicast, never sends back to the ingress port.
Faults (pyhv/host/switch_faults.py) are off by default and seeded. Frames the switch originates: a MARKER
broadcast on request (docs/protocol.md, type 11) and garbage frames (switch_frames.GARBAGE_KINDS).
Every frame written to a port is also written to the pcap file, if any.

Queues. A UNIX datagram socket accepts at most net.unix.max_dgram_qlen + 1 unread datagrams per receiver
(the default qlen is 10, so 11 frames, measured here for 60-, 1514-, 4206- and 9014-byte frames alike);
the default SO_SNDBUF (212992 bytes) would allow ~20 jumbo frames, so the queue length is the binding limit
and a bigger SO_SNDBUF does not help. A send beyond it fails with EAGAIN (counted as `eagain`): the switch
then keeps the frame in its own per-port queue (default 1024 frames), drained when the port's socket, which
is connect()ed to the node socket, polls writable. Only a frame arriving at a full switch queue is a
congestion drop (`congestion_drops`), counted apart from injected faults. In the other direction QEMU
retries by itself when the switch's socket is full, so ingress loses nothing.

Control: Switch.send_marker(), Switch.stats() in-process; the datagram socket D/control.sock answers
"stats", "marker" and "garbage KIND [PORT]" with JSON; SIGUSR1 writes the stats JSON (to --stats, default
D/stats.json), as does the exit.

    python3 -m pyhv.host.switch --ports 3 --dir /tmp/lan [--loss 5% --dup 1% --bandwidth 1g --pcap lan.pcap]
"""

from __future__ import annotations

import errno
import heapq
import json
import os
import random
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from pyhv.host.pcap import PcapWriter
from pyhv.host.switch_faults import FaultConfig, TokenBucket
from pyhv.host.switch_frames import GARBAGE_KINDS, cluster_id, garbage_frame, marker_frame

DEFAULT_QUEUE_FRAMES = 1024
MAX_FRAME = 65536


def switch_socket_path(sock_dir: Path, port: int) -> Path:
    return sock_dir / f"switch{port}.sock"


def node_socket_path(sock_dir: Path, port: int) -> Path:
    return sock_dir / f"node{port}.sock"


def control_socket_path(sock_dir: Path) -> Path:
    return sock_dir / "control.sock"


@dataclass
class PortStats:
    rx: int = 0                   # frames received from the node
    tx: int = 0                   # frames written to the node (forwarded, duplicates, marker, garbage)
    rx_bytes: int = 0
    tx_bytes: int = 0
    flooded: int = 0              # frames received here that were flooded (broadcast or unknown dst)
    injected_drops: int = 0       # copies toward this port dropped by the loss fault
    injected_dups: int = 0        # copies toward this port sent twice
    reordered: int = 0            # copies toward this port held back behind the next one
    congestion_drops: int = 0     # the switch's queue toward this port was full
    eagain: int = 0               # the node's socket queue was full (frame kept in the switch's queue)
    unreachable: int = 0          # no node socket yet (node not started / gone): copy dropped
    garbage_injected: int = 0
    markers: int = 0
    runts: int = 0                # received frames shorter than an Ethernet header (dropped)


class _Port:
    def __init__(self, index: int, sock: socket.socket, peer: Path, queue_frames: int) -> None:
        self.index = index
        self.sock = sock
        self.peer = peer
        self.connected = False
        self.outq: deque[bytes] = deque()
        self.pending = 0              # frames in the timer heap for this port
        self.held: bytes | None = None
        self.bucket: TokenBucket | None = None
        self.queue_frames = queue_frames
        self.stats = PortStats()
        self.writing = False


class Switch:
    """A learning switch over UNIX datagram sockets; run() in the caller's thread or start()/stop()."""

    def __init__(self, ports: int, sock_dir: Path, faults: FaultConfig | None = None,
                 pcap_path: Path | None = None, cluster: str = "pyhv",
                 queue_frames: int = DEFAULT_QUEUE_FRAMES, stats_path: Path | None = None) -> None:
        if ports < 1:
            raise ValueError("a switch needs at least one port")
        self.sock_dir = sock_dir
        self.faults = faults if faults is not None else FaultConfig()
        self.rng = random.Random(self.faults.seed)
        self.cluster_id = cluster_id(cluster)
        self.stats_path = stats_path
        self.macs: dict[bytes, int] = {}
        self.mac_moves = 0
        self.markers_sent = 0
        self._marker_next = 1
        self._timers: list[tuple[float, int, int, bytes | None]] = []   # (due, seq, port, frame|None=release)
        self._timer_seq = 0
        self._calls: deque[Callable[[], None]] = deque()
        self._lock = threading.Lock()
        self._stop = False
        self._dump_requested = False
        self._thread: threading.Thread | None = None
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, -1)
        sock_dir.mkdir(parents=True, exist_ok=True)
        self.ports: list[_Port] = []
        for i in range(ports):
            sock = self._bind(switch_socket_path(sock_dir, i))
            port = _Port(i, sock, node_socket_path(sock_dir, i), queue_frames)
            if self.faults.bandwidth is not None:
                port.bucket = TokenBucket(self.faults.bandwidth)
            self.ports.append(port)
            self._sel.register(sock, selectors.EVENT_READ, i)
        self._control = self._bind(control_socket_path(sock_dir))
        self._sel.register(self._control, selectors.EVENT_READ, -2)
        self.pcap = PcapWriter(pcap_path) if pcap_path is not None else None

    @staticmethod
    def _bind(path: Path) -> socket.socket:
        if path.exists() or path.is_symlink():
            path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(str(path))
        sock.setblocking(False)
        return sock

    # ---- control (any thread) ----

    def start(self) -> Switch:
        self._thread = threading.Thread(target=self.run, name="pyhv-switch", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop = True
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def __enter__(self) -> Switch:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def call_soon(self, fn: Callable[[], None]) -> None:
        with self._lock:
            self._calls.append(fn)
        self._wake()

    def send_marker(self) -> int:
        """Broadcast a MARKER frame to every port (no faults applied); returns its marker id."""
        with self._lock:
            marker_id = self._marker_next
            self._marker_next += 1
        self.call_soon(lambda: self._emit_marker(marker_id))
        return marker_id

    def inject_garbage(self, kind: str, port: int | None = None) -> None:
        """Send one malformed frame of this kind to one port (None: every port)."""
        if kind not in GARBAGE_KINDS:
            raise ValueError(f"unknown garbage kind {kind!r}")
        self.call_soon(lambda: self._emit_garbage(kind, port))

    def request_dump(self) -> None:
        """Write the stats JSON to stats_path from the switch's loop (async-signal-safe: sets a flag)."""
        self._dump_requested = True
        self._wake()

    def stats(self) -> dict[str, object]:
        return {
            "ports": [asdict(p.stats) for p in self.ports],
            "macs": {mac.hex(":"): port for mac, port in dict(self.macs).items()},   # copy: loop may add
            "mac_moves": self.mac_moves,
            "markers": self.markers_sent,
            "queued": [len(p.outq) + p.pending + (p.held is not None) for p in self.ports],
            "faults": {k: v for k, v in asdict(self.faults).items() if k != "bandwidth"}
            | {"bandwidth_bps": self.faults.bandwidth.bits_per_s if self.faults.bandwidth else None},
        }

    def idle(self) -> bool:
        """Nothing waiting in any switch queue (a test's bounded-wait condition)."""
        return all(not p.outq and p.pending == 0 and p.held is None for p in self.ports)

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except (BlockingIOError, OSError):
            pass

    # ---- the loop (one thread) ----

    def run(self) -> None:
        try:
            while not self._stop:
                timeout = None
                if self._timers:
                    timeout = max(0.0, self._timers[0][0] - time.monotonic())
                if self.pcap is not None:
                    self.pcap.flush()
                for key, events in self._sel.select(timeout):
                    tag = key.data
                    if tag == -1:
                        self._drain_wake()
                    elif tag == -2:
                        self._control_request()
                    else:
                        port = self.ports[tag]
                        if events & selectors.EVENT_WRITE:
                            self._drain_outq(port)
                        if events & selectors.EVENT_READ:
                            self._receive(port)
                self._run_timers()
                if self._dump_requested:
                    self._dump_requested = False
                    self.dump_stats()
        finally:
            self._close()

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass
        while True:
            with self._lock:
                if not self._calls:
                    return
                fn = self._calls.popleft()
            fn()

    def _receive(self, port: _Port) -> None:
        for _ in range(64):               # bounded, so one busy port cannot starve the others
            try:
                frame = port.sock.recv(MAX_FRAME)
            except BlockingIOError:
                return
            self._ingress(port, frame)

    def _ingress(self, port: _Port, frame: bytes) -> None:
        # rx is counted after the frame was handled, so a reader that sees rx == n sees all n forwarded
        if len(frame) < 14:
            port.stats.runts += 1
        else:
            self._forward(port, frame)
        port.stats.rx_bytes += len(frame)
        port.stats.rx += 1

    def _forward(self, port: _Port, frame: bytes) -> None:
        st = port.stats
        dst, src = frame[0:6], frame[6:12]
        if not src[0] & 1:
            old = self.macs.get(src)
            if old != port.index:
                self.mac_moves += old is not None
                self.macs[src] = port.index
        out = self.macs.get(dst) if not dst[0] & 1 else None
        if out is None:
            st.flooded += 1
            for other in self.ports:
                if other is not port:
                    self._deliver(other, frame)
        elif out != port.index:
            self._deliver(self.ports[out], frame)

    def _deliver(self, port: _Port, frame: bytes) -> None:
        f, st = self.faults, port.stats
        if f.loss > 0 and self.rng.random() < f.loss:
            st.injected_drops += 1
            return
        copies = 1
        if f.dup > 0 and self.rng.random() < f.dup:
            st.injected_dups += 1
            copies = 2
        for _ in range(copies):
            self._reorder_stage(port, frame)
        if f.garbage > 0 and self.rng.random() < f.garbage:
            kinds = f.garbage_kinds or GARBAGE_KINDS
            kind = kinds[self.rng.randrange(len(kinds))]
            st.garbage_injected += 1
            self._timed_stage(port, garbage_frame(kind, frame, self.cluster_id, self.rng))

    def _reorder_stage(self, port: _Port, frame: bytes) -> None:
        if port.held is not None:
            held, port.held = port.held, None
            self._timed_stage(port, frame)
            self._timed_stage(port, held)
        elif self.faults.reorder > 0 and self.rng.random() < self.faults.reorder:
            port.stats.reordered += 1
            port.held = frame
            self._add_timer(time.monotonic() + self.faults.reorder_hold_s, port, None)
        else:
            self._timed_stage(port, frame)

    def _timed_stage(self, port: _Port, frame: bytes) -> None:
        f = self.faults
        if not f.timed:
            self._transmit(port, frame)
            return
        if port.pending + len(port.outq) >= port.queue_frames:
            port.stats.congestion_drops += 1
            return
        due = time.monotonic() + f.delay_s
        if f.jitter_s > 0:
            due += self.rng.uniform(0.0, f.jitter_s)
        if port.bucket is not None:
            due = port.bucket.departure(due, len(frame))
        port.pending += 1
        self._add_timer(due, port, frame)

    def _add_timer(self, due: float, port: _Port, frame: bytes | None) -> None:
        self._timer_seq += 1
        heapq.heappush(self._timers, (due, self._timer_seq, port.index, frame))

    def _run_timers(self) -> None:
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            _, _, index, frame = heapq.heappop(self._timers)
            port = self.ports[index]
            if frame is None:                     # reorder hold expired: nothing came after it
                if port.held is not None:
                    held, port.held = port.held, None
                    self._timed_stage(port, held)
                continue
            port.pending -= 1
            self._transmit(port, frame)

    def _transmit(self, port: _Port, frame: bytes) -> None:
        if port.outq:
            if len(port.outq) + port.pending >= port.queue_frames:
                port.stats.congestion_drops += 1
            else:
                port.outq.append(frame)
            return
        if self._send(port, frame) == errno.EAGAIN:
            port.outq.append(frame)
            self._want_write(port, True)

    def _send(self, port: _Port, frame: bytes) -> int:
        """0 when sent (or dropped as unreachable), errno.EAGAIN when the node's queue is full."""
        for attempt in range(2):
            if not port.connected:
                try:
                    port.sock.connect(str(port.peer))
                    port.connected = True
                except (FileNotFoundError, ConnectionRefusedError):
                    port.stats.unreachable += 1
                    return 0
            try:
                port.sock.send(frame)
            except BlockingIOError:
                port.stats.eagain += 1
                return errno.EAGAIN
            except (ConnectionRefusedError, FileNotFoundError, ConnectionResetError):
                port.connected = False            # the node went away (or restarted): reconnect once
                if attempt == 0:
                    continue
                port.stats.unreachable += 1
                return 0
            port.stats.tx += 1
            port.stats.tx_bytes += len(frame)
            if self.pcap is not None:
                self.pcap.write(frame)
            return 0
        return 0

    def _drain_outq(self, port: _Port) -> None:
        while port.outq:
            if self._send(port, port.outq[0]) == errno.EAGAIN:
                return
            port.outq.popleft()
        self._want_write(port, False)

    def _want_write(self, port: _Port, on: bool) -> None:
        if port.writing != on:
            port.writing = on
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if on else 0)
            self._sel.modify(port.sock, events, port.index)

    def _emit_marker(self, marker_id: int) -> None:
        frame = marker_frame(marker_id, time.monotonic_ns(), self.cluster_id)
        self.markers_sent += 1
        for port in self.ports:
            port.stats.markers += 1
            self._transmit(port, frame)

    def _emit_garbage(self, kind: str, only: int | None) -> None:
        template = marker_frame(0, 0, self.cluster_id)
        for port in self.ports:
            if only is None or port.index == only:
                port.stats.garbage_injected += 1
                self._transmit(port, garbage_frame(kind, template, self.cluster_id, self.rng))

    def _control_request(self) -> None:
        try:
            data, addr = self._control.recvfrom(4096)
        except BlockingIOError:
            return
        words = data.decode(errors="replace").split()
        reply: dict[str, object]
        try:
            if words == ["stats"]:
                reply = self.stats()
            elif words == ["marker"]:
                with self._lock:
                    marker_id = self._marker_next
                    self._marker_next += 1
                self._emit_marker(marker_id)
                reply = {"marker_id": marker_id}
            elif len(words) in (2, 3) and words[0] == "garbage":
                if words[1] not in GARBAGE_KINDS:
                    raise ValueError(f"unknown garbage kind {words[1]!r}; kinds: {', '.join(GARBAGE_KINDS)}")
                self._emit_garbage(words[1], int(words[2]) if len(words) == 3 else None)
                reply = {"ok": True}
            else:
                reply = {"error": f"unknown command {' '.join(words)!r}: stats | marker | garbage KIND [PORT]"}
        except (ValueError, IndexError) as err:
            reply = {"error": str(err)}
        if addr:
            try:
                self._control.sendto(json.dumps(reply).encode(), addr)
            except OSError:
                pass

    def dump_stats(self) -> None:
        if self.stats_path is None:
            return
        tmp = self.stats_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.stats(), indent=1) + "\n")
        tmp.replace(self.stats_path)

    def _close(self) -> None:
        self.dump_stats()
        if self.pcap is not None:
            self.pcap.close()
        self._sel.close()
        for sock in [p.sock for p in self.ports] + [self._control, self._wake_r, self._wake_w]:
            sock.close()
        for path in [switch_socket_path(self.sock_dir, p.index) for p in self.ports] + \
                [control_socket_path(self.sock_dir)]:
            try:
                path.unlink()
            except FileNotFoundError:
                pass


def switch_request(sock_dir: Path, command: str, timeout_s: float = 5.0) -> dict[str, object]:
    """Send one control command to a running switch (any process) and return its JSON answer."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.bind("")                             # Linux autobind: an abstract address for the reply
        sock.settimeout(timeout_s)
        sock.sendto(command.encode(), str(control_socket_path(sock_dir)))
        reply: dict[str, object] = json.loads(sock.recv(1 << 20))
        return reply
    finally:
        sock.close()


if __name__ == "__main__":
    from pyhv.host.switch_main import main

    raise SystemExit(main())
