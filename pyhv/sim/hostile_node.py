"""One pyhv node under CPython, fed frames directly, for the hostile-frame tests and campaign (issue 12).

`HostileNode(state)` runs the real cluster code (`cluster_init`, `cluster_handle_frame`, `cluster_poll`) on a
mock node in one of three states, reached through the real protocol with frames this module writes:

* ``bootstrap``: node 0, FORMING, with one admitted member (node 1, its JOIN fed);
* ``seeking``:   a joiner that has heard nothing yet;
* ``formed``:    a joiner admitted as node 1 by a bootstrap this module plays (ANNOUNCE, WELCOME, TABLE,
  four CLOCK_REPLY, BOOT): state BOOTED.

The *legit peer* is the other end (node 1 for the bootstrap, node 0 for a joiner). It is omniscient: it
reads the node's own stream state to build frames the node takes (its seq is the node's `rx_next`, its ack
the node's `sent`), so it stays in step whatever hostile frames did to the stream. `feed` checks on every
frame that exactly one WireStats bucket grew by one (rx_frames = rx_ok + sum of drops).
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field

from pyhv.lang import Array, Struct, addr_of, sizeof, u8, u16, u32, u64
from pyhv.lang.machine import Machine, MockNode, current_cpu, current_node, read_memory, write_memory

from pyhv.cluster.clocksync import CLOCK_SYSREG_OPS, ClockReplyMsg, clocksync_set_ops, clocksync_state
from pyhv.cluster.membership import (
    M_BOOTED, M_FORMING, AnnounceMsg, JoinMsg, WelcomeMsg, membership_state,
)
from pyhv.cluster.nic import NicOps, nic_set
from pyhv.cluster.node import cluster_handle_frame, cluster_init, cluster_poll
from pyhv.cluster.table import (
    ROLE_BOOTSTRAP, ROLE_JOINER, ClusterConfig, ClusterTable, cluster_name_id, cluster_self, cluster_table, ticks_from_us,
)
from pyhv.cluster.transport import PEER_ACTIVE, transport_handler_context, transport_peer
from pyhv.cluster.wire import (
    DROP_REASONS, F_ACK, F_RELIABLE, FRAME_PAD, HDRS_BYTES, MAC_BROADCAST, MSG_ACK, MSG_ANNOUNCE, MSG_BOOT,
    MSG_CLOCK_REPLY, MSG_CLUSTER_TABLE, MSG_JOIN, MSG_WELCOME, NODE_NONE, wire_push_headers, wire_seal,
    wire_stats,
)
from pyhv.core.printk import ConsoleOps, printk_set_console

CLUSTER = "test"
BOOT_MAC = 0x02_00_00_00_00_AA
JOINER_MAC = 0x02_00_00_00_00_BB
ATTACKER_MAC = 0x02_66_66_66_66_66
FREQ_HZ = 62_500_000
MTU = 9000
STATES = ("bootstrap", "seeking", "formed")


class AccountingError(AssertionError):
    """A frame did not land in exactly one WireStats bucket."""


class StallError(AssertionError):
    """A peer with frames in flight made no progress for longer than the loss timeout and was not lost."""


def cluster_config(role: int) -> ClusterConfig:
    cfg = ClusterConfig()
    cfg.role = u32(role)
    cfg.cluster_id = cluster_name_id(CLUSTER)
    cfg.cpus = u32(2)
    cfg.ram_bytes = u64(1 << 28)
    cfg.freq_hz = u64(FREQ_HZ)
    cfg.min_nodes = u32(3)                      # the bootstrap stays FORMING: node 1 is its only member
    cfg.rto_init_us, cfg.rto_min_us, cfg.rto_max_us = u32(2000), u32(2000), u32(64000)
    cfg.ack_delay_us = u32(200)
    cfg.keepalive_us, cfg.lost_after_us = u32(100_000), u32(1_000_000)
    cfg.announce_us, cfg.resync_us, cfg.probe_gap_us = u32(20_000), u32(50_000), u32(1000)
    return cfg


def struct_bytes(s: Struct) -> bytes:
    return read_memory(int(addr_of(s)), int(sizeof(type(s))))


@dataclass
class FrameSpec:
    """Every header field of a frame; defaults make a valid datagram from the attacker to the node."""
    msg_type: int
    payload: bytes = b""
    flags: int = 0
    src_node: int = int(NODE_NONE)
    dst_node: int = int(NODE_NONE)
    seq: int = 0
    ack: int = 0
    req_id: int = 0
    epochs: int = 0
    frag_index: int = 0
    frag_count: int = 1
    msg_len: int | None = None                  # None: len(payload)
    src_mac: int = ATTACKER_MAC
    dst_mac: int | None = None                  # None: the node's MAC
    cluster: str = CLUSTER


@dataclass
class HostileNode:
    state: str
    machine: Machine = field(default_factory=Machine)
    sent: list[bytes] = field(default_factory=list)
    rx_queue: list[bytes] = field(default_factory=list)
    fed: int = 0

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"state must be one of {STATES}")
        self.node: MockNode = self.machine.add_node(cpus=1)
        self.node.cpus[0].sysregs["cntfrq_el0"] = FREQ_HZ
        self.node.cpus[0].sysregs["cntpct_el0"] = 1000
        self._stack = ExitStack()
        self._stack.enter_context(self.machine.on_cpu(self.node, 0))
        self.bootstrap = self.state == "bootstrap"
        self.mac = BOOT_MAC if self.bootstrap else JOINER_MAC
        self.peer_mac = JOINER_MAC if self.bootstrap else BOOT_MAC
        self.peer_node = 1 if self.bootstrap else 0
        printk_set_console(ConsoleOps(putc=lambda c: current_node().console.append(int(c))))
        nic_set(NicOps(send=self._send, poll=self._poll, mtu=lambda: u32(MTU), mac=lambda: u64(self.mac)))
        clocksync_set_ops(CLOCK_SYSREG_OPS)
        cluster_init(cluster_config(int(ROLE_BOOTSTRAP if self.bootstrap else ROLE_JOINER)))
        if self.bootstrap:
            self.feed(self.build(FrameSpec(int(MSG_JOIN), self.join_payload(JOINER_MAC), src_mac=JOINER_MAC)))
            assert int(cluster_table().count) == 2 and int(membership_state().state) == int(M_FORMING)
        elif self.state == "formed":
            self._form()

    # --- the NIC ------------------------------------------------------------------------------------------

    def _send(self, addr: u64, n: u32) -> u32:
        self.sent.append(read_memory(int(addr), int(n)))
        return u32(0)

    def _poll(self, addr: u64, cap: u32) -> u32:
        if transport_handler_context() and not self._in_poll:
            raise StallError("the NIC was polled from inside a handler: a handler waited")
        if not self.rx_queue:
            return u32(0)
        frame = self.rx_queue.pop(0)[:int(cap)]
        write_memory(int(addr), frame)
        return u32(len(frame))

    _in_poll = False

    def close(self) -> None:
        self._stack.close()

    # --- time ---------------------------------------------------------------------------------------------

    def now(self) -> int:
        return int(current_cpu().sysregs["cntpct_el0"])

    def advance_us(self, us: int) -> None:
        current_cpu().sysregs["cntpct_el0"] += int(ticks_from_us(u32(us)))

    # --- frames -------------------------------------------------------------------------------------------

    def build(self, f: FrameSpec) -> bytes:
        buf = Array(u8, 4224 + 64)
        base = int(addr_of(buf))
        payload = f.payload[:4160]
        write_memory(base + int(FRAME_PAD) + int(HDRS_BYTES), payload)
        msg_len = len(payload) if f.msg_len is None else f.msg_len
        h = wire_push_headers(addr_of(buf), u64(self.mac if f.dst_mac is None else f.dst_mac), u64(f.src_mac),
                              u32(f.msg_type), u8(f.flags), u16(f.src_node), u16(f.dst_node), u32(f.req_id),
                              u32(len(payload)), u32(msg_len), u16(cluster_name_id(f.cluster)))
        h.seq, h.ack, h.epochs = u32(f.seq), u32(f.ack), u8(f.epochs)
        h.frag_index, h.frag_count = u8(f.frag_index), u8(f.frag_count)
        wire_seal(addr_of(buf))
        return read_memory(base + int(FRAME_PAD), int(HDRS_BYTES) + len(payload))

    def feed(self, frame: bytes, check: bool = True) -> None:
        """Hand one frame to cluster_handle_frame and check (unless told not to) it landed in exactly one
        bucket."""
        before = self.buckets()
        buf = Array(u8, 4224 + 64)
        write_memory(int(addr_of(buf)) + int(FRAME_PAD), frame[:4222])
        cluster_handle_frame(addr_of(buf), u32(len(frame)))
        after = self.buckets()
        grew = [i for i in range(len(after)) if after[i] != before[i]]
        if check and (after[0] != before[0] + 1 or len(grew) != 2 or after[grew[1]] != before[grew[1]] + 1):
            raise AccountingError(f"frame {frame[:46].hex()} counted as {grew} ({before} -> {after})")
        self.fed += 1

    def buckets(self) -> list[int]:
        """[rx_frames, rx_ok, drops[0..]]"""
        s = wire_stats()
        return [int(s.rx_frames), int(s.rx_ok)] + [int(s.drops[i]) for i in range(int(DROP_REASONS))]

    def accounted(self) -> bool:
        b = self.buckets()
        return b[0] == sum(b[1:])

    def poll(self) -> None:
        self._in_poll = True
        try:
            cluster_poll()
        finally:
            self._in_poll = False

    # --- payloads -----------------------------------------------------------------------------------------

    def join_payload(self, mac: int, cpus: int = 2, mtu: int = MTU, freq: int = FREQ_HZ,
                     incarnation: int = 0x1234, ram: int = 1 << 28) -> bytes:
        j = JoinMsg()
        j.mac, j.ram_bytes, j.freq_hz = u64(mac), u64(ram), u64(freq)
        j.cpus, j.mtu, j.incarnation = u32(cpus), u32(mtu), u32(incarnation)
        return struct_bytes(j)

    def welcome_payload(self, node: int, epoch: int = 1, status: int = 0, mac: int | None = None,
                        bootstrap_mac: int = BOOT_MAC) -> bytes:
        w = WelcomeMsg()
        w.mac, w.bootstrap_mac, w.freq_hz = u64(self.mac if mac is None else mac), u64(bootstrap_mac), u64(FREQ_HZ)
        w.node, w.status, w.epoch = u32(node), u32(status), u32(epoch)
        return struct_bytes(w)

    def announce_payload(self, mac: int = BOOT_MAC) -> bytes:
        a = AnnounceMsg()
        a.mac, a.freq_hz, a.generation, a.booted = u64(mac), u64(FREQ_HZ), u32(1), u32(0)
        return struct_bytes(a)

    def table_payload(self, count: int = 2, my_node: int = 1, generation: int = 2) -> bytes:
        t = ClusterTable()
        t.generation, t.count = u32(generation), u32(count)
        for i in range(min(count, 16)):
            e = t.entries[i]
            e.mac = u64(BOOT_MAC if i == 0 else (self.mac if i == my_node else 0x02_00_00_00_01_00 + i))
            e.ram_bytes, e.vcpu_base, e.vcpu_count = u64(1 << 28), u32(2 * i), u32(2)
            e.mtu, e.present, e.incarnation, e.epoch = u32(MTU), u32(1), u32(0x100 + i), u32(1)
        return struct_bytes(t)

    def clock_reply_payload(self, probe: int) -> bytes:
        r = ClockReplyMsg()
        r.round_id, r.probe = clocksync_state().round_id, u32(probe)
        r.t1, r.t2, r.advance_total = u64(self.now()), u64(self.now()), u64(0)
        return struct_bytes(r)

    # --- the legit peer -----------------------------------------------------------------------------------

    def legit_epochs(self) -> int:
        mine = int(cluster_table().entries[self.peer_node].epoch) if self.peer_node != 0 else 1
        theirs = int(cluster_self().epoch)
        return (mine & 0xF) << 4 | (theirs & 0xF)

    def legit(self, msg_type: int, payload: bytes = b"", req_id: int = 0, flags: int = 0) -> bytes:
        """A reliable frame of the legit peer's stream that the node takes next (acking all it sent)."""
        p = transport_peer(u16(self.peer_node))
        return self.build(FrameSpec(msg_type, payload, flags=flags | int(F_RELIABLE | F_ACK),
                                    src_node=self.peer_node, dst_node=1 - self.peer_node, seq=int(p.rx_next),
                                    ack=int(p.sent), req_id=req_id, epochs=self.legit_epochs(),
                                    src_mac=self.peer_mac))

    def legit_ack(self) -> bytes:
        p = transport_peer(u16(self.peer_node))
        return self.build(FrameSpec(int(MSG_ACK), flags=int(F_ACK), src_node=self.peer_node,
                                    dst_node=1 - self.peer_node, ack=int(p.sent), epochs=self.legit_epochs(),
                                    src_mac=self.peer_mac))

    def legit_peer_active(self) -> bool:
        return self.state != "seeking" and int(transport_peer(u16(self.peer_node)).state) == int(PEER_ACTIVE)

    def _form(self) -> None:
        # A joiner admitted as node 1 and booted, by the protocol (issue 12 item 1's sequence, with node 1).
        self.feed(self.build(FrameSpec(int(MSG_ANNOUNCE), self.announce_payload(), src_mac=BOOT_MAC,
                                       dst_mac=int(MAC_BROADCAST))))
        self.feed(self.build(FrameSpec(int(MSG_WELCOME), self.welcome_payload(1), src_mac=BOOT_MAC)))
        self.feed(self.legit(int(MSG_CLUSTER_TABLE), self.table_payload()))
        for probe in range(4):
            self.poll()                             # the joiner sends its probe
            self.feed(self.legit(int(MSG_CLOCK_REPLY), self.clock_reply_payload(probe)))
            self.advance_us(1000)
        self.poll()                                 # synced: SETUP_DONE
        self.feed(self.legit(int(MSG_BOOT), (2).to_bytes(4, "little")))
        assert int(membership_state().state) == int(M_BOOTED), self.node.console_text()

    def check_no_stall(self) -> None:
        """Every active peer with frames in flight made progress within the loss timeout (or is lost)."""
        lost_after = int(ticks_from_us(u32(1_000_000)))
        slack = int(ticks_from_us(u32(100_000)))
        for n in range(int(cluster_table().count) if int(cluster_table().count) else 1):
            p = transport_peer(u16(n))
            if int(p.state) == int(PEER_ACTIVE) and int(p.una) != int(p.sent):
                if self.now() - int(p.progress_at) > lost_after + slack:
                    raise StallError(f"peer {n} stalled {self.now() - int(p.progress_at)} ticks, not lost")
