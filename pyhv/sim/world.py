"""The deterministic simulator's world: simulated time, nodes, the network and the scheduler (host Python).

Each node is a MockNode of one `Machine` running the REAL dialect cluster code in its own Python thread, but
only one thread runs at a time: a baton (one semaphore per thread) passes at every scheduling point of the
dialect (`wait_event()` & co. call the machine's `wait_hook`). At a wait the node tells the scheduler when
it next needs to run (the earlier of `cluster_next_deadline()` and a queued frame), and the scheduler pops
the next event (frame arrival, node wake-up, node start/stop) from one heap ordered by (time, sequence
number). Every random choice comes from one `random.Random(seed)`, so a seed replays exactly.

Time is integer nanoseconds. A node's counter is `offset + t * freq * (1e6 + ppm) / 1e15` (drift in ppm).
"""

from __future__ import annotations

import heapq
import random
import threading
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from pyhv.lang import machine as M
from pyhv.lang.machine import Machine, MockCpu, MockNode

FREQ_HZ = 62_500_000            # QEMU virt's counter frequency
NS = 1_000_000_000


class SimStop(BaseException):
    """Raised inside a node thread at its next wait when the simulation ends (unwinds the dialect code)."""


@dataclass
class Faults:
    loss: float = 0.0           # probability a frame copy is dropped
    dup: float = 0.0            # probability a frame is delivered twice
    reorder: float = 0.0        # probability a frame gets an extra delay (so later frames overtake it)
    delay_us: int = 50          # base one-way delay
    jitter_us: int = 20         # uniform extra delay
    asym_us: int = 0            # extra delay from higher to lower node index (asymmetric paths)
    drift_ppm: int = 0          # each node's drift is uniform in [-drift_ppm, +drift_ppm]
    stop: int = 0               # 1: stop one joiner after the cluster booted
    restart: int = 0            # 1: stop one joiner after the cluster booted and boot it again (same MAC)
    mtu: int = 0                # 0: jumbo on every node; 1500: every node at 1500; -1: mixed

    def parse(self, spec: str) -> Faults:
        for part in filter(None, spec.split(",")):
            key, _, value = part.partition("=")
            if not hasattr(self, key):
                raise ValueError(f"unknown fault {key!r}")
            cur = getattr(self, key)
            setattr(self, key, type(cur)(float(value)) if isinstance(cur, float) else int(value))
        return self

    def spec(self) -> str:
        d = Faults()
        return ",".join(f"{k}={getattr(self, k)}" for k in vars(self) if getattr(self, k) != getattr(d, k))


@dataclass
class SimNode:
    index: int
    mock: MockNode
    mac: int
    mtu: int
    offset_ticks: int
    ppm: int
    start_ns: int
    program: Callable[[SimNode], None]
    sem: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    rxq: deque[bytes] = field(default_factory=deque)
    thread: threading.Thread | None = None
    wake_token: int = 0
    wake_ns: int = -1           # pending wake-up time, -1 if running / not waiting
    stopped: bool = False
    finished: bool = False
    error: str = ""
    user: dict[str, object] = field(default_factory=dict)   # the scenario's per-node data
    local_wake_ns: int = -1     # the scenario's own next deadline (simulated vCPU work), -1 if none

    @property
    def cpu(self) -> MockCpu:
        return self.mock.cpus[0]

    def counter(self, t_ns: int) -> int:
        return self.offset_ticks + t_ns * FREQ_HZ * (1_000_000 + self.ppm) // (NS * 1_000_000)

    def ns_at(self, ticks: int) -> int:
        """Earliest simulated time at which the counter reads at least `ticks`."""
        num = (ticks - self.offset_ticks) * NS * 1_000_000
        den = FREQ_HZ * (1_000_000 + self.ppm)
        return -(-num // den)


class World:
    """Nodes + network + scheduler. `run(until_ns, done)` runs until `done()` or the time limit."""

    MAIN = -1

    def __init__(self, seed: int, faults: Faults) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.faults = faults
        self.machine = Machine()
        self.machine.wait_hook = self._wait_hook
        self.nodes: list[SimNode] = []
        self.now = 0
        self._heap: list[tuple[int, int, str, int, bytes]] = []
        self._seq = 0
        self._main_sem = threading.Semaphore(0)
        self._killing = False
        self._done: Callable[[], bool] = lambda: False
        self._until = 0
        self.frames_sent = 0
        self.frames_delivered = 0
        self.frames_dropped = 0
        self.frames_duplicated = 0
        self._link_last: dict[tuple[int, int], int] = {}     # (src, dst) -> latest in-order arrival, ns
        self.switches = 0
        self.step_checks: list[Callable[[SimNode], None]] = []
        self.failures: list[str] = []

    # --- setup ------------------------------------------------------------------------------------------
    def add_node(self, program: Callable[[SimNode], None], start_ns: int, mtu: int,
                 mac: int | None = None) -> SimNode:
        """A node with fresh state (a new MockNode); `mac` given: the same NIC as an earlier node, i.e. that
        node rebooted (its counter restarts at a new random offset, as after a power cycle)."""
        i = len(self.nodes)
        mock = self.machine.add_node(cpus=1)
        f = self.faults
        ppm = self.rng.randint(-f.drift_ppm, f.drift_ppm) if f.drift_ppm else 0
        node = SimNode(i, mock, 0x02_00_00_00_00_10 + i if mac is None else mac, mtu,
                       self.rng.randrange(1 << 40), ppm, start_ns, program)
        cpu = node.cpu
        cpu.sysregs["cntfrq_el0"] = FREQ_HZ
        cpu.sysregs["mpidr_el1"] = 0x8000_0000
        cpu.read_hooks["cntpct_el0"] = lambda: node.counter(self.now)
        self.nodes.append(node)
        self._push(start_ns, "start", i)
        return node

    def stop_node_at(self, index: int, t_ns: int) -> None:
        self._push(t_ns, "stop", index)

    # --- the network --------------------------------------------------------------------------------------
    def transmit(self, src: SimNode, frame: bytes) -> None:
        """A node's NIC sent `frame` (the Ethernet frame, without FCS)."""
        if src.stopped:
            return
        self.frames_sent += 1
        if len(frame) < 60:
            frame = frame + bytes(60 - len(frame))    # Ethernet minimum frame: the NIC pads
        dst_mac = int.from_bytes(frame[0:6], "big")
        for n in self.nodes:
            if n is src or (dst_mac != 0xFFFF_FFFF_FFFF and n.mac != dst_mac):
                continue
            self._fly(src, n, frame)

    def _fly(self, src: SimNode, dst: SimNode, frame: bytes) -> None:
        f, r = self.faults, self.rng
        if r.random() < f.loss:
            self.frames_dropped += 1
            return
        copies = 2 if r.random() < f.dup else 1
        self.frames_duplicated += copies - 1
        for _ in range(copies):
            d = f.delay_us * 1000 + r.randrange(f.jitter_us * 1000 + 1)
            if src.index > dst.index:
                d += f.asym_us * 1000
            # A switched LAN keeps each link's order: jitter alone never lets a frame overtake an earlier
            # one on the same link (frames sent back to back would otherwise be reordered all the time);
            # only the reorder fault does.
            t = max(self.now + d, self._link_last.get((src.index, dst.index), 0))
            if r.random() < f.reorder:
                t += r.randrange(4 * f.delay_us * 1000 + 1000)
            else:
                self._link_last[(src.index, dst.index)] = t
            self._push(t, "frame", dst.index, frame)

    def inject(self, dst: int, frame: bytes, at_ns: int) -> None:
        """Deliver an arbitrary frame (garbage / foreign traffic) to a node."""
        self._push(at_ns, "frame", dst, frame)

    # --- scheduling -----------------------------------------------------------------------------------
    def _push(self, t: int, kind: str, node: int, data: bytes = b"") -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, kind, node, data))

    def _wake(self, node: SimNode, t: int) -> None:
        node.wake_token += 1
        node.wake_ns = t
        self._push(t, "run", node.index, node.wake_token.to_bytes(8, "little"))

    def _pick(self) -> int:
        """Process events until a node must run (its index) or the run ends (MAIN)."""
        while self._heap:
            if self._done() or self.now > self._until:
                return self.MAIN
            t, _, kind, i, data = heapq.heappop(self._heap)
            self.now = max(self.now, t)
            node = self.nodes[i]
            if kind == "frame":
                if node.stopped or node.thread is None or node.finished:
                    continue
                self.frames_delivered += 1
                node.rxq.append(data)
                if node.wake_ns > self.now:
                    self._wake(node, self.now)
            elif kind == "run":
                if int.from_bytes(data, "little") == node.wake_token and not node.stopped and not node.finished:
                    node.wake_ns = -1
                    return i
            elif kind == "start":
                node.thread = threading.Thread(target=self._thread_main, args=(node,), daemon=True)
                node.thread.start()
                return i
            elif kind == "stop":
                node.stopped = True
                node.rxq.clear()
        return self.MAIN

    def _switch(self, me: int | None, target: int) -> None:
        """Hand the baton from `me` (None: an exiting thread) to `target`, and wait for it to come back."""
        if target == me:
            return
        self.switches += 1
        (self._main_sem if target == self.MAIN else self.nodes[target].sem).release()
        if me is not None:
            (self._main_sem if me == self.MAIN else self.nodes[me].sem).acquire()

    def _enter(self, node: SimNode) -> None:
        M._current[:] = [node.cpu]
        if self._killing:
            raise SimStop()

    def _thread_main(self, node: SimNode) -> None:
        node.sem.acquire()
        try:
            self._enter(node)
            node.program(node)
        except SimStop:
            pass
        except BaseException:
            node.error = traceback.format_exc()
            self.failures.append(f"node {node.index} crashed:\n{node.error}")
        node.finished = True
        if self._killing:
            self._main_sem.release()
        else:
            self._switch(None, self._pick())

    def _wait_hook(self, cpu: MockCpu, kind: str) -> None:
        node = self.nodes[cpu.node.node_id]
        if self._killing:
            raise SimStop()
        for check in self.step_checks:
            check(node)
        if node.rxq:
            wake = self.now + 1000
        else:
            from pyhv.cluster.node import cluster_next_deadline
            deadline = int(cluster_next_deadline())
            wake = self.now + 20_000_000
            if deadline != (1 << 64) - 1:
                wake = min(wake, max(node.ns_at(deadline), self.now + 1000))
            if node.local_wake_ns >= 0:
                wake = min(wake, max(node.local_wake_ns, self.now + 1000))
        self._wake(node, wake)
        self._switch(node.index, self._pick())
        self._enter(node)

    def run(self, until_ns: int, done: Callable[[], bool]) -> None:
        self._until = until_ns
        self._done = done
        self._switch(self.MAIN, self._pick())
        self._shutdown()

    def _shutdown(self) -> None:
        self._killing = True
        for n in self.nodes:
            if n.thread is not None and not n.finished:
                n.sem.release()
                self._main_sem.acquire()
            if n.thread is not None:
                n.thread.join()
        M._current.clear()

    def on(self, node: SimNode) -> _OnNode:
        """`with world.on(node):` run host code (reading dialect state) as that node."""
        return _OnNode(node)


class _OnNode:
    def __init__(self, node: SimNode) -> None:
        self.node = node
        self.saved: list[MockCpu] = []

    def __enter__(self) -> None:
        self.saved = list(M._current)
        M._current[:] = [self.node.cpu]

    def __exit__(self, *exc: object) -> None:
        M._current[:] = self.saved
