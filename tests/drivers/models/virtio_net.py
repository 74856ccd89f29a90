"""Register-level model of a virtio-mmio network device, written from the spec, not from the driver.

OASIS "Virtual I/O Device (VIRTIO) Version 1.2": §4.2.2 (MMIO registers, version 2), §2.7 (split virtqueues:
the device reads descriptors and the avail ring from RAM and writes the used ring), §5.1 (network device:
queue 0 receive, queue 1 transmit, a 12-byte header before every frame, config = mac, status, max pairs,
mtu). Memory is the mock machine's (`read_memory` / `write_memory`), so the model sees exactly the bytes the
driver left in RAM. It behaves like QEMU where the spec leaves room: a frame that does not fit one receive
chain is dropped (no mergeable buffers), frames arriving with no receive buffer wait until the driver
posts some. `violations` collects what a driver did wrong (tests expect it empty); `version=1` presents a
legacy device, which only answers the identification registers and logs every write.
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass

from pyhv.lang.machine import current_cpu, read_memory, write_memory

MAGIC = 0x74726976
F_MTU = 1 << 3
F_MAC = 1 << 5
F_MRG_RXBUF = 1 << 15
F_STATUS = 1 << 16
F_VERSION_1 = 1 << 32
ACKNOWLEDGE, DRIVER, DRIVER_OK, FEATURES_OK, FAILED = 1, 2, 4, 8, 128
DESC_F_NEXT, DESC_F_WRITE = 1, 2
AVAIL_F_NO_INTERRUPT = 1
USED_F_NO_NOTIFY = 1
HDR = 12


@dataclass
class Queue:
    num_max: int
    num: int = 0
    ready: int = 0
    desc: int = 0
    driver: int = 0
    device: int = 0
    next_avail: int = 0      # the device's position in the avail ring (free-running)
    used_idx: int = 0        # the device's copy of used.idx (free-running)


def read_le(addr: int, n: int) -> int:
    return int.from_bytes(read_memory(addr, n), "little")


def _wr(addr: int, n: int, v: int) -> None:
    write_memory(addr, (v & ((1 << (8 * n)) - 1)).to_bytes(n, "little"))


class VirtioNetModel:
    def __init__(self, *, version: int = 2, device_id: int = 1, features: int = F_VERSION_1 | F_MAC,
                 mac: bytes = bytes.fromhex("525400123456"), mtu: int = 1500, queue_num_max: int = 256,
                 accept_features_ok: bool = True, magic: int = MAGIC) -> None:
        self.magic = magic
        self.version, self.device_id, self.features = version, device_id, features
        self.config = bytearray(mac + struct.pack("<HHH", 1, 1, mtu))   # mac, status = link up, pairs, mtu
        self.accept_features_ok = accept_features_ok
        self.queue_num_max = queue_num_max
        self.writes: list[tuple[int, int]] = []
        self.violations: list[str] = []
        self.tx_frames: list[bytes] = []          # frames the driver sent, header stripped
        self.tx_headers: list[bytes] = []
        self.pending_rx: deque[tuple[bytes, int | None]] = deque()   # (frame, claimed used length) waiting
        self.rx_dropped_too_big = 0
        self.notifies = [0, 0]
        self.tx_hold = False                      # keep transmitted chains instead of completing them
        self.held: list[tuple[int, int]] = []     # (queue head id, bytes) of held transmit chains
        self.no_notify = [False, False]           # used.flags NO_NOTIFY per queue
        self._trace_mark = 0
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.dev_sel = self.drv_sel = self.queue_sel = 0
        self.driver_features = 0
        self.interrupt_status = 0
        self.queues = [Queue(self.queue_num_max), Queue(self.queue_num_max)]

    # --- registers ---------------------------------------------------------------------------------------
    def read(self, off: int, width: int) -> int:
        if off >= 0x100:
            return int.from_bytes(self.config[off - 0x100:off - 0x100 + width].ljust(width, b"\0"), "little")
        if width != 4:
            self.violations.append(f"{width}-byte read of register {off:#x}")
        ident = {0x000: self.magic, 0x004: self.version, 0x008: self.device_id, 0x00C: 0x554D4551}
        if off in ident:
            return ident[off]
        if self.version != 2:
            return 0
        q = self.queues[self.queue_sel] if self.queue_sel < 2 else Queue(0)
        if off == 0x010:
            return (self.features >> (32 * self.dev_sel)) & 0xFFFF_FFFF if self.dev_sel < 2 else 0
        regs = {0x034: q.num_max, 0x044: q.ready, 0x060: self.interrupt_status, 0x070: self.status, 0x0FC: 0}
        return regs.get(off, 0)

    def write(self, off: int, width: int, v: int) -> None:
        self.writes.append((off, v))
        if self.version != 2:
            return
        if width != 4:
            self.violations.append(f"{width}-byte write of register {off:#x}")
        q = self.queues[self.queue_sel] if self.queue_sel < 2 else Queue(0)
        if off == 0x014:
            self.dev_sel = v
        elif off == 0x020:
            if self.status & FEATURES_OK:
                self.violations.append("DriverFeatures written after FEATURES_OK")
            shift = 32 * self.drv_sel
            self.driver_features = (self.driver_features & ~(0xFFFF_FFFF << shift)) | (v << shift)
        elif off == 0x024:
            self.drv_sel = v
        elif off == 0x030:
            self.queue_sel = v
        elif off == 0x038:
            q.num = v
        elif off in (0x080, 0x084, 0x090, 0x094, 0x0A0, 0x0A4):
            name = {0x80: "desc", 0x90: "driver", 0xA0: "device"}[off & ~0xF]
            hi = off & 4
            old = getattr(q, name)
            setattr(q, name, (old & 0xFFFF_FFFF) | (v << 32) if hi else (old & ~0xFFFF_FFFF) | v)
        elif off == 0x044:
            self._queue_ready(q, v)
        elif off == 0x050:
            self._notify(v)
        elif off == 0x064:
            self.interrupt_status &= ~v
        elif off == 0x070:
            self._write_status(v)

    def _write_status(self, v: int) -> None:
        if v == 0:
            self._reset()
            return
        if v & ~self.status & FEATURES_OK:
            offered = self.driver_features & ~self.features == 0
            if not (offered and self.driver_features & F_VERSION_1 and self.accept_features_ok):
                v &= ~FEATURES_OK                 # refused: the driver must see FEATURES_OK clear
        if v & DRIVER_OK and not v & FEATURES_OK:
            self.violations.append("DRIVER_OK without FEATURES_OK")
        self.status = v

    def _queue_ready(self, q: Queue, v: int) -> None:
        if v and not (self.status & FEATURES_OK):
            self.violations.append("queue made ready before FEATURES_OK")
        if v and (q.num == 0 or q.num > q.num_max or q.num & (q.num - 1)):
            self.violations.append(f"bad queue size {q.num}")
        if v and (q.desc % 16 or q.driver % 2 or q.device % 4):
            self.violations.append("misaligned ring")
        q.ready = v

    # --- rings -------------------------------------------------------------------------------------------
    def _avail_idx(self, q: Queue) -> int:
        return read_le(q.driver + 2, 2)

    def _avail_flags(self, q: Queue) -> int:
        return read_le(q.driver, 2)

    def _chain(self, q: Queue, head: int) -> list[tuple[int, int, int]]:
        out: list[tuple[int, int, int]] = []
        i = head
        while True:
            if i >= q.num or len(out) > q.num:
                self.violations.append(f"descriptor {i} out of range / looping chain")
                return out
            addr, length, flags, nxt = struct.unpack("<QIHH", read_memory(q.desc + 16 * i, 16))
            out.append((addr, length, flags))
            if not flags & DESC_F_NEXT:
                return out
            i = nxt

    def _push_used(self, qi: int, head: int, length: int) -> None:
        q = self.queues[qi]
        elem = q.device + 4 + 8 * (q.used_idx % q.num)
        _wr(elem, 4, head)
        _wr(elem + 4, 4, length)
        q.used_idx = (q.used_idx + 1) & 0xFFFF
        _wr(q.device + 2, 2, q.used_idx)
        _wr(q.device, 2, USED_F_NO_NOTIFY if self.no_notify[qi] else 0)
        if not self._avail_flags(q) & AVAIL_F_NO_INTERRUPT:
            self.interrupt_status |= 1

    def _notify(self, qi: int) -> None:
        if not self.status & DRIVER_OK:
            self.violations.append("notify before DRIVER_OK")
        if qi > 1 or not self.queues[qi].ready:
            self.violations.append(f"notify of queue {qi}, which is not ready")
            return
        self.notifies[qi] += 1
        self._check_barrier(qi)
        self.kick(qi)

    def _check_barrier(self, qi: int) -> None:
        # With tracing on, a barrier must have been recorded since the previous notify.
        cpu = current_cpu()
        if cpu.trace is None:
            return
        seen = [k for k, _, _ in cpu.trace[self._trace_mark:]]
        if "dsb" not in seen and "dmb" not in seen:
            self.violations.append(f"notify of queue {qi} without a barrier since the last one")
        cpu.record("notify", str(qi))
        self._trace_mark = len(cpu.trace)

    def kick(self, qi: int) -> None:
        """Process queue `qi` as a notification would (also for tests that set NO_NOTIFY)."""
        if qi == 1:
            self._process_tx()
        else:
            self._deliver_rx()

    def _process_tx(self) -> None:
        q = self.queues[1]
        while q.next_avail != self._avail_idx(q):
            head = read_le(q.driver + 4 + 2 * (q.next_avail % q.num), 2)
            q.next_avail = (q.next_avail + 1) & 0xFFFF
            data = b""
            for addr, length, flags in self._chain(q, head):
                if flags & DESC_F_WRITE:
                    self.violations.append("device-writable descriptor on the transmit queue")
                data += read_memory(addr, length)
            self.tx_headers.append(data[:HDR])
            self.tx_frames.append(data[HDR:])
            if self.tx_hold:
                self.held.append((head, len(data)))
            else:
                self._push_used(1, head, 0)

    def release_tx(self, order: list[int] | None = None) -> None:
        """Complete the held transmit chains at these positions of `held`, in this order (all by default):
        completion order is the device's choice."""
        order = list(range(len(self.held))) if order is None else order
        for i in order:
            self._push_used(1, self.held[i][0], 0)
        self.held = [h for i, h in enumerate(self.held) if i not in order]

    # --- receive -----------------------------------------------------------------------------------------
    def inject(self, frame: bytes, claimed_len: int | None = None) -> None:
        """A frame arrives from the wire. `claimed_len` makes a buggy device report that used length."""
        self.pending_rx.append((frame, claimed_len))
        self._deliver_rx()

    def _deliver_rx(self) -> None:
        q = self.queues[0]
        if not q.ready:
            return
        while self.pending_rx and q.next_avail != self._avail_idx(q):
            frame, claimed = self.pending_rx[0]
            packet = struct.pack("<BBHHHHH", 0, 0, 0, 0, 0, 0, 1) + frame   # num_buffers = 1
            head = read_le(q.driver + 4 + 2 * (q.next_avail % q.num), 2)
            chain = self._chain(q, head)
            if any(not f & DESC_F_WRITE for _, _, f in chain):
                self.violations.append("read-only descriptor on the receive queue")
            if len(packet) > sum(length for _, length, _ in chain):
                self.pending_rx.popleft()          # does not fit one chain: dropped, chain kept
                self.rx_dropped_too_big += 1
                continue
            q.next_avail = (q.next_avail + 1) & 0xFFFF
            pos = 0
            for addr, length, _ in chain:
                part = packet[pos:pos + length]
                write_memory(addr, part)
                pos += len(part)
            self.pending_rx.popleft()
            self._push_used(0, head, len(packet) if claimed is None else claimed)

    def inject_used(self, qi: int, head: int, length: int) -> None:
        """A buggy device: put an arbitrary entry into a used ring."""
        self._push_used(qi, head, length)

    def rx_buffers_available(self) -> int:
        q = self.queues[0]
        return (self._avail_idx(q) - q.next_avail) & 0xFFFF
