"""One simulated cluster run for one seed: K nodes started in a seeded order (plus a late joiner after boot),
the real dialect cluster code on each, an echo workload between all members, and the invariants:

* every request answered exactly once (the requester got each reply once, with the right token and bytes;
  each server handled exactly the requests sent to it, by count and by token sum),
* no message delivered twice (after every scheduling step: delivered-from-peer <= sent-by-peer),
* membership converges (every live node booted with the same table, the late joiner included),
* the guest virtual counter never steps back, and the skew between nodes stays under the derived bound,
* with `burst=N` (no late joiner then): every node first sends N page-sized one-way messages to every other
  node, all at once in both directions (pyhv/cluster/burst.py); each must arrive exactly once, whole and in
  per-sender order, and every burst must complete.

`run_seed(seed, nodes, faults)` returns a SeedResult; `failures` empty means the seed passed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from pyhv.lang import Array, addr_of, i64, u8, u16, u32, u64
from pyhv.lang.machine import current_node, read_memory, write_memory

from pyhv.cluster.burst import burst_run, burst_state
from pyhv.cluster.clocksync import ClockOps, clocksync_set_ops, clocksync_state
from pyhv.cluster.echo import echo_stats
from pyhv.cluster.membership import M_BOOTED, TABLE_MSG_BYTES, membership_state
from pyhv.cluster.nic import NicOps, nic_set
from pyhv.cluster.node import cluster_init, cluster_step, transport_request_wait, transport_wait_reply
from pyhv.cluster.requests import Reply
from pyhv.cluster.table import (
    ROLE_BOOTSTRAP, ROLE_JOINER, ClusterConfig, cluster_my_node, cluster_name_id, cluster_table,
)
from pyhv.cluster.transport import TRANSPORT_ERR_PEER_LOST, TRANSPORT_OK, transport_peer
from pyhv.cluster.wire import MSG_ECHO
from pyhv.core.printk import ConsoleOps, printk_set_console
from pyhv.sim.world import FREQ_HZ, NS, Faults, SimNode, World

RESYNC_US = 50_000
PROBE_GAP_US = 1_000


@dataclass
class SeedResult:
    seed: int
    failures: list[str] = field(default_factory=list)
    frames: int = 0
    sim_ns: int = 0
    skew_ns: int = 0
    bound_ns: int = 0


def _console_putc(c: u8) -> None:
    current_node().console.append(int(c))


_CONSOLE = ConsoleOps(putc=_console_putc)


def _as_int(v: object) -> int:
    assert isinstance(v, int)
    return v


def skew_bound_ns(f: Faults) -> int:
    """docs/protocol.md "Skew bound": 2*eps + 4*rho*(P + R) + 2 ticks, eps = 2*d_max - d_min."""
    d_min = f.delay_us * 1000
    d_max = d_min + f.jitter_us * 1000 + f.asym_us * 1000
    if f.reorder > 0:
        d_max += 4 * f.delay_us * 1000 + 1000
    eps = 2 * d_max - d_min
    rho = f.drift_ppm / 1e6
    round_ns = 4 * PROBE_GAP_US * 1000 + 2 * d_max
    return int(2 * eps + 4 * rho * (RESYNC_US * 1000 + round_ns)) + 2 * NS // FREQ_HZ + 1000


class Scenario:
    def __init__(self, seed: int, nodes: int, faults: Faults, requests: int = 6,
                 order: list[int] | None = None, burst: int = 0, until_ns: int = 3 * NS) -> None:
        self.order = order
        self.until_ns = until_ns
        self.burst = burst
        self.seed = seed
        self.k = nodes
        self.faults = faults
        self.requests = requests
        self.world = World(seed, faults)
        self.rng = random.Random(seed ^ 0x5EED)
        self.result = SeedResult(seed)
        self.sent_to: dict[tuple[int, int], list[int]] = {}     # (src, dst) -> tokens answered OK
        self.lost_ok: set[tuple[int, int]] = set()              # (src, dst) pairs where dst was stopped
        self.boot_ns = -1
        self.booted_ns: dict[int, int] = {}
        self._ids: dict[int, int] = {}
        self.stopped: set[int] = set()
        self.reborn: SimNode | None = None                        # the restarted node (Faults.restart)
        self.world.step_checks.append(self._check_no_dup)

    # --- building the cluster ---------------------------------------------------------------------------
    def build(self) -> None:
        order = list(range(self.k))
        self.rng.shuffle(order)
        if self.order is not None:
            order = list(self.order)
        for pos, i in enumerate(order):
            start = pos * self.rng.randrange(1, 15) * 1_000_000
            self._add(start, i == 0)
        if not self.burst:
            self.late = self._add(120_000_000, False)
        if (self.faults.stop or self.faults.restart) and self.k >= 3:
            joiners = [n.index for n in self.world.nodes[:self.k] if not n.user["bootstrap"]]
            self.stop_index = self.rng.choice(joiners)
            self.world.stop_node_at(self.stop_index, 100_000_000)
            self.stopped.add(self.stop_index)
            if self.faults.restart:
                old = self.world.nodes[self.stop_index]
                back = 100_000_000 + self.rng.randrange(20, 600) * 1_000_000
                self.reborn = self.world.add_node(self._program, back, old.mtu, mac=old.mac)
                self.reborn.user["bootstrap"] = False
                self.reborn.user["work_done"] = False
                self.reborn.user["cpus"] = old.user["cpus"]         # the same board

    def _add(self, start_ns: int, bootstrap: bool) -> SimNode:
        mtu = 9000
        if self.faults.mtu == 1500 or (self.faults.mtu == -1 and self.rng.random() < 0.5):
            mtu = 1500
        node = self.world.add_node(self._program, start_ns, mtu)
        node.user["bootstrap"] = bootstrap
        node.user["work_done"] = False
        node.user["cpus"] = 1 + node.index % 4
        return node

    def _nic_ops(self) -> NicOps:
        w = self.world

        def me() -> SimNode:
            return w.nodes[current_node().node_id]

        def send(addr: u64, n: u32) -> u32:
            w.transmit(me(), read_memory(int(addr), int(n)))
            return u32(0)

        def poll(addr: u64, cap: u32) -> u32:
            node = me()
            if not node.rxq:
                return u32(0)
            frame = node.rxq.popleft()
            write_memory(int(addr), frame[:int(cap)])
            return u32(len(frame))

        return NicOps(send=send, poll=poll, mtu=lambda: u32(me().mtu), mac=lambda: u64(me().mac))

    def _clock_ops(self) -> ClockOps:
        w = self.world

        def set_cntvoff(v: u64) -> None:
            node = w.nodes[current_node().node_id]
            old = node.cpu.sysregs.get("cntvoff_el2", 0)
            if clocksync_state().guest_started == 1 and int(i64(v - u64(old))) > 0:
                self.result.failures.append(f"node {node.index}: guest virtual counter stepped back by "
                                            f"{int(v) - old} ticks")
            node.cpu.sysregs["cntvoff_el2"] = int(v)

        return ClockOps(set_cntvoff=set_cntvoff)

    # --- what every node runs ---------------------------------------------------------------------------
    def _program(self, node: SimNode) -> None:
        printk_set_console(_CONSOLE)
        nic_set(self._nic_ops())
        clocksync_set_ops(self._clock_ops())
        cfg = ClusterConfig()
        cfg.role = ROLE_BOOTSTRAP if node.user["bootstrap"] else ROLE_JOINER
        cfg.cluster_id = cluster_name_id("sim")
        cfg.cpus = u32(_as_int(node.user["cpus"]))
        cfg.ram_bytes = u64(256 << 20)
        cfg.freq_hz = u64(FREQ_HZ)
        cfg.min_nodes = u32(self.k)
        cfg.rto_init_us, cfg.rto_min_us, cfg.rto_max_us = u32(2000), u32(1000), u32(64000)
        cfg.ack_delay_us = u32(200)
        cfg.keepalive_us, cfg.lost_after_us = u32(100_000), u32(1_000_000)
        cfg.announce_us, cfg.resync_us, cfg.probe_gap_us = u32(20_000), u32(RESYNC_US), u32(PROBE_GAP_US)
        cfg.idle_max_us = u32(20_000)
        cluster_init(cfg)
        while membership_state().state != M_BOOTED:
            cluster_step()
        if node.user["bootstrap"]:
            self.boot_ns = self.world.now
        self.booted_ns[node.index] = self.world.now
        if self.burst:
            burst_run(u32(self.burst), True, u64(0))
        self._workload(node)
        node.user["work_done"] = True
        while True:
            cluster_step()

    def _workload(self, node: SimNode) -> None:
        rng = random.Random(self.seed * 7919 + node.index)
        out = Reply()
        buf = Array(u8, 4160)
        for k in range(self.requests):
            count = int(cluster_table().count)
            me = int(cluster_my_node())
            peers = [p for p in range(count) if p != me]
            if not peers:
                return
            dst = rng.choice(peers)
            size = 4104 if rng.random() < 0.15 else rng.randrange(8, 200)
            token = (node.index << 48) | (k << 16) | rng.randrange(1 << 16)
            data = token.to_bytes(8, "little") + rng.randbytes(size - 8)
            write_memory(int(addr_of(buf)), data)
            req = transport_request_wait(u16(dst), MSG_ECHO, addr_of(buf), u32(size))
            if req == 0:
                if int(transport_peer(u16(dst)).state) == 2:
                    continue
                self.result.failures.append(f"node {me}: transport_request to {dst} failed")
                continue
            status = transport_wait_reply(req, out)
            if status == TRANSPORT_ERR_PEER_LOST:
                self.lost_ok.add((me, dst))
                continue
            if status != TRANSPORT_OK:
                self.result.failures.append(f"node {me}: request {int(req)} to {dst}: status {int(status)}")
                continue
            got = read_memory(int(addr_of(out.data)), int(out.length))
            want = (token + 1).to_bytes(8, "little") + data[8:]
            if got != want:
                self.result.failures.append(f"node {me}: reply to request {int(req)} from {dst} is wrong")
            self.sent_to.setdefault((me, dst), []).append(token)

    # --- invariants ---------------------------------------------------------------------------------------
    def _check_no_dup(self, node: SimNode) -> None:
        """After every step of `node`: it never delivered more messages from a peer than the peer sent it."""
        w = self.world
        with w.on(node):
            mine = int(cluster_table().count)
            delivered = [int(transport_peer(u16(p)).delivered_msgs) for p in range(mine)]

        for p, got in enumerate(delivered):
            if got == 0 or p >= len(w.nodes):
                continue
            peer = self._node_by_id(p)
            if peer is None:
                continue
            with w.on(node):
                seen = int(cluster_table().entries[p].incarnation)
            with w.on(peer):
                if int(membership_state().incarnation) != seen:
                    continue                # our stream is still the old incarnation's (restart pending)
                dst_id = self._id_of(node)
                sent = int(transport_peer(u16(dst_id)).sent_msgs) if dst_id >= 0 else 0
            if got > sent:
                self.result.failures.append(f"node {node.index} delivered {got} messages from node id {p}, "
                                            f"which sent only {sent}: duplicate delivery")

    def _id_of(self, node: SimNode) -> int:
        known = self._ids.get(node.index)
        if known is not None:
            return known
        with self.world.on(node):
            me = int(cluster_my_node())
        if me == 0xFFFF:
            return -1
        self._ids[node.index] = me
        return me

    def _node_by_id(self, node_id: int) -> SimNode | None:
        for n in self.world.nodes:
            if n.thread is not None and n.index not in self.stopped and self._id_of(n) == node_id:
                return n
        return None

    def _stopped_id(self) -> int:
        return -1 if not self.stopped else self._id_of(self.world.nodes[self.stop_index])

    def _restarted_id(self) -> int:
        return -1 if self.reborn is None else self._id_of(self.world.nodes[self.stop_index])

    def _done(self) -> bool:
        live = [n for n in self.world.nodes if n.index not in self.stopped]
        if not all(n.user["work_done"] for n in live):
            return False
        last = max(self.booted_ns.get(n.index, 0) for n in live)
        return self.world.now >= last + 4 * RESYNC_US * 1000

    def run(self) -> SeedResult:
        self.build()
        self.world.run(self.until_ns, self._done)
        self._final_checks()
        r = self.result
        r.failures[:0] = self.world.failures
        r.frames = self.world.frames_sent
        r.sim_ns = self.world.now
        return r

    def _final_checks(self) -> None:
        w = self.world
        live = [n for n in w.nodes if n.index not in self.stopped]
        fails = self.result.failures
        if not self._done():
            fails.append(f"did not converge within {w.now / 1e9:.3f} s simulated: "
                         + ", ".join(f"node {n.index} work_done={n.user['work_done']}" for n in live))
            return
        tables = set()
        for n in live:
            with w.on(n):
                tables.add(bytes(read_memory(int(addr_of(cluster_table())), int(TABLE_MSG_BYTES))))
                if int(membership_state().state) != int(M_BOOTED):
                    fails.append(f"node {n.index} not booted")
        if len(tables) != 1:
            fails.append("members disagree on the cluster table")
        expect = len(w.nodes) - (1 if self.reborn is not None else 0)      # a restarted node keeps its id
        with w.on(live[0]):
            if int(cluster_table().count) != expect:
                fails.append(f"table has {int(cluster_table().count)} nodes, expected {expect}")
        if self.reborn is not None:
            old_id, new_id = self._id_of(w.nodes[self.stop_index]), self._id_of(self.reborn)
            if old_id >= 0 and old_id != new_id:      # (-1: it died before its WELCOME arrived)
                fails.append(f"the restarted node came back as id {new_id}, it was {old_id}")
        # exactly once: what each server handled equals what was answered to each client
        for n in live:
            with w.on(n):
                me = int(cluster_my_node())
                st = echo_stats()
                for src in range(len(w.nodes)):
                    tokens = self.sent_to.get((src, me), [])
                    handled, tsum = int(st.handled[src]), int(st.token_sum[src])
                    if (src, me) in self.lost_ok or self._restarted_id() in (src, me):
                        continue            # requests of / to a restarted node's old life may be cut off
                    if src == self._stopped_id() and handled == len(tokens) + 1:
                        # The stopped node's last request (the workload has one in flight) may have been
                        # served with the reply lost with it: then exactly one extra token, and its own.
                        extra = (tsum - sum(tokens)) % (1 << 64)
                        if extra >> 48 == self.stop_index:
                            continue
                    if handled != len(tokens) or tsum != sum(tokens) % (1 << 64):
                        fails.append(f"node id {me} handled {handled} requests from node id {src}, "
                                     f"{len(tokens)} were answered: not exactly once")
        self._check_burst(live)
        # skew of the guest virtual counters
        vals = []
        for n in live:
            v = (n.counter(w.now) - n.cpu.sysregs.get("cntvoff_el2", 0)) % (1 << 64)
            vals.append(v)
        base = vals[0]
        offs = [((v - base + (1 << 63)) % (1 << 64)) - (1 << 63) for v in vals]
        skew = (max(offs) - min(offs)) * NS // FREQ_HZ
        self.result.skew_ns = skew
        self.result.bound_ns = skew_bound_ns(self.faults)
        if skew > self.result.bound_ns:
            fails.append(f"guest counter skew {skew} ns exceeds the bound {self.result.bound_ns} ns")


    def _check_burst(self, live: list[SimNode]) -> None:
        """Every burst message arrived exactly once, whole, in per-sender order (stopped/restarted: skipped)."""
        if not self.burst:
            return
        skip = {self._stopped_id(), self._restarted_id()}
        ids = {n.index: self._id_of(n) for n in live}
        for a in live:
            for b in live:
                src, dst = ids[a.index], ids[b.index]
                if a is b or src in skip or dst in skip:
                    continue
                with self.world.on(a):
                    sent = int(burst_state().sent_to[dst])
                with self.world.on(b):
                    got, bad = int(echo_stats().oneway[src]), int(echo_stats().oneway_bad[src])
                if sent != self.burst or got != self.burst or bad != 0:
                    self.result.failures.append(f"burst node id {src} -> {dst}: sent {sent}, received {got} "
                                                f"in order, {bad} bad; {self.burst} expected exactly once")


def run_seed(seed: int, nodes: int, faults: Faults, requests: int = 6, burst: int = 0) -> SeedResult:
    return Scenario(seed, nodes, faults, requests, burst=burst).run()
