"""Boot N QEMU nodes of one image joined by the cluster switch (host tooling, not dialect): `pyhv run
targets/qemu-virt --nodes N`.

Node i gets
    -netdev dgram,id=lan,local.type=unix,local.path=S/node<i>.sock,remote.type=unix,remote.path=S/switch<i>.sock
    -device virtio-net-device,netdev=lan,mac=52:54:00:00:00:<i+1 in hex> -global virtio-mmio.force-legacy=false
    -append "pyhv.role=bootstrap|joiner pyhv.cluster=NAME pyhv.nodes=N [extra bootargs]"  (node 0 is the bootstrap)
where S is a short private directory under /tmp (UNIX socket paths are limited to 108 bytes). QEMU places
-append in the host DTB's /chosen/bootargs. Nothing else is handed out: ids and peers are discovered.
(pyhv.nodes=N only tells the bootstrap how many nodes to wait for before it sends BOOT; with
ClusterOptions.mtu the NIC gets host_mtu=MTU, i.e. jumbo frames.) With ClusterOptions.markers = K the switch
broadcasts K skew markers, marker_gap_s apart, once every node has printed "marker: waiting" (the nodes' own
barrier: they keep serving until then). Each node's serial console goes to OUT/node<i>.log (node 0's also to stdout when echo is on); nodes start
after their start delay; the run ends when every node has exited or at the timeout, when the rest are
killed. The switch runs in a thread of this process; its stats come back in the ClusterResult (and, for
each text in ClusterOptions.watch, a snapshot of them in NodeResult.switch_stats_at taken when the node
printed it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from pyhv.host.boards import load_board
from pyhv.host.profile import Sampler, monitor_args, monitor_socket_path
from pyhv.host.qemu import Feeder, RunOptions, image_path, qemu_command
from pyhv.host.switch import Switch, node_socket_path, switch_socket_path
from pyhv.host.switch_faults import FaultConfig


@dataclass(frozen=True)
class ClusterOptions:
    cluster: str = "pyhv"
    gic_version: int | None = None
    cpus: int | None = None
    mem: str | None = None
    timeout_s: float = 60.0
    start_delays: tuple[float, ...] = ()      # seconds after the switch is up, per node (missing: 0)
    faults: FaultConfig = field(default_factory=FaultConfig)
    pcap: bool = False                        # write OUT/lan.pcap
    echo: bool = False                        # node 0's console to stdout
    extra_args: tuple[str, ...] = ()          # appended to every node's QEMU command
    progress: Callable[[str], None] | None = None
    bootargs: str = ""                        # extra words for every node's bootargs (pyhv.soak=..., ...)
    mtu: int | None = None                    # virtio-net host_mtu (None: QEMU's default, 1500)
    markers: int = 0                          # skew markers to send once every node waits for them
    marker_gap_s: float = 0.2
    watch: tuple[str, ...] = ()               # console texts: snapshot the switch stats when a node prints one
    kill_when: tuple[tuple[int, str], ...] = ()   # (node, text): kill that node once it printed a line with text
    restart_after_s: float | None = None      # boot a killed node again (same MAC and port) this much later
    node0_args: tuple[str, ...] = ()          # QEMU arguments for node 0 only (the guest payload, its log UART)
    stdin_node0: bool = False                 # node 0 reads this process's stdin (the guest's console input)
    feed: tuple[tuple[str, bytes], ...] = ()  # node 0's scripted console input (pyhv/host/qemu.py Feeder)
    profile_s: float | None = None            # sample every node's CPUs this often into OUT/profile<i>.txt


@dataclass
class NodeResult:
    index: int
    role: str
    mac: str
    command: list[str]
    log_path: Path
    exit_status: int | None = None            # None: never started (the run ended first)
    timed_out: bool = False
    killed: bool = False                      # killed on purpose (ClusterOptions.kill_when)
    life: int = 0                             # 0: first boot; 1: booted again after a kill (restart_after_s)
    output: str = ""
    started_at: float = 0.0                   # time.monotonic() of the QEMU start
    ended_at: float = 0.0
    # watched text (ClusterOptions.watch) -> Switch.stats() taken when the launcher first saw the node print
    # it (at most one poll period, 20 ms, later; before any marker that the text releases is sent)
    switch_stats_at: dict[str, dict[str, object]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.exit_status == 0 and not self.timed_out


@dataclass
class ClusterResult:
    nodes: list[NodeResult]
    switch_stats: dict[str, object]
    pcap_path: Path | None
    elapsed_s: float
    markers_sent: list[tuple[int, float]] = field(default_factory=list)   # (marker id, time.monotonic())

    @property
    def ok(self) -> bool:
        return all(n.ok for n in self.nodes)

    @property
    def timed_out(self) -> bool:
        return any(n.timed_out for n in self.nodes)


def node_mac(index: int) -> str:
    return f"52:54:00:00:00:{index + 1:02x}"


def node_role(index: int) -> str:
    return "bootstrap" if index == 0 else "joiner"


def node_qemu_args(sock_dir: Path, index: int, cluster: str, nodes: int | None = None, bootargs: str = "",
                   mtu: int | None = None) -> tuple[str, ...]:
    """The QEMU arguments that put node `index` on the switch and tell it its role and cluster (and, when
    given, how many nodes the bootstrap waits for, extra bootargs and the NIC's MTU)."""
    local, remote = node_socket_path(sock_dir, index), switch_socket_path(sock_dir, index)
    append = f"pyhv.role={node_role(index)} pyhv.cluster={cluster}"
    if nodes is not None:
        append += f" pyhv.nodes={nodes}"
    if bootargs:
        append += " " + bootargs
    device = f"virtio-net-device,netdev=lan,mac={node_mac(index)}" + (f",host_mtu={mtu}" if mtu else "")
    return ("-netdev", f"dgram,id=lan,local.type=unix,local.path={local},remote.type=unix,remote.path={remote}",
            "-device", device,
            "-global", "virtio-mmio.force-legacy=false",
            "-append", append)


class _Node:
    def __init__(self, result: NodeResult, echo: bool, stdin: bool = False,
                 feed: tuple[tuple[str, bytes], ...] = ()) -> None:
        self.result = result
        self.echo = echo
        self.stdin = stdin
        self.feed = feed
        self.feeder: Feeder | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.chunks: list[bytes] = []
        self.reader: threading.Thread | None = None
        self.log: BinaryIO | None = None
        self.waiting_for_markers = False

    def saw(self, text: bytes) -> bool:
        """Has the node printed `text` so far?"""
        return text in b"".join(self.chunks)

    def saw_line(self, text: bytes) -> bool:
        """Has the node printed a whole line (up to its newline) containing `text`? The console is a UART:
        a line arrives a few bytes at a time."""
        out = b"".join(self.chunks)
        at = out.find(text)
        return at >= 0 and out.find(b"\n", at) >= 0

    def start(self) -> None:
        self.log = open(self.result.log_path, "wb")
        self.result.started_at = time.monotonic()
        stdin = subprocess.PIPE if self.feed else None if self.stdin else subprocess.DEVNULL
        self.proc = subprocess.Popen(self.result.command, stdin=stdin, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        self.feeder = Feeder(self.proc, self.feed)
        self.reader = threading.Thread(target=self._pump, daemon=True)
        self.reader.start()

    def _pump(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None and self.log is not None
        while True:
            data = os.read(self.proc.stdout.fileno(), 4096)
            if not data:
                return
            if self.feeder is not None:
                self.feeder.output(data)
            self.chunks.append(data)
            self.log.write(data)
            self.log.flush()
            if self.echo:
                sys.stdout.buffer.write(data)
                sys.stdout.buffer.flush()

    def poll(self) -> bool:
        """True once the node has exited (its status recorded)."""
        if self.proc is None or self.result.exit_status is not None:
            return self.result.exit_status is not None
        status = self.proc.poll()
        if status is None:
            return False
        self._finish(status)
        return True

    def kill(self) -> None:
        if self.proc is not None and self.result.exit_status is None:
            self.proc.kill()
            self.result.timed_out = True
            self._finish(self.proc.wait())

    def _finish(self, status: int) -> None:
        self.result.exit_status = status
        self.result.ended_at = time.monotonic()
        if self.reader is not None:
            self.reader.join(timeout=5)
        if self.log is not None:
            self.log.close()
            self.log = None
        text = b"".join(self.chunks).decode("utf-8", errors="replace")
        self.result.output = text.replace("\r\n", "\n").replace("\r", "")


def run_cluster(target_dir: Path, out_dir: Path, nodes: int, options: ClusterOptions) -> ClusterResult:
    """Boot `nodes` nodes of the already-built image of target_dir (in out_dir) on one switch; logs go to
    out_dir/node<i>.log. Never raises on guest behaviour; every QEMU it started is gone when it returns."""
    if nodes < 1:
        raise ValueError("a cluster needs at least one node")
    board = load_board(target_dir)
    image = image_path(board, out_dir)
    if not image.exists():
        raise FileNotFoundError(f"{image} not found: build the target first (pyhv build {target_dir})")
    say = options.progress if options.progress is not None else (lambda _msg: None)
    sock_dir = Path(tempfile.mkdtemp(prefix="pyhv-lan-"))
    pcap_path = out_dir / "lan.pcap" if options.pcap else None
    bootargs = " ".join(w for w in (options.bootargs, f"pyhv.markers={options.markers}" if options.markers else "")
                        if w)
    switch = Switch(nodes, sock_dir, options.faults, pcap_path, options.cluster, stats_path=out_dir / "switch.json")
    started = time.monotonic()
    runners: list[_Node] = []
    samplers: list[Sampler] = []
    if options.profile_s is not None:
        for stale in out_dir.glob("profile*.txt"):
            stale.unlink()
    try:
        switch.start()
        for i in range(nodes):
            base = RunOptions(gic_version=options.gic_version, cpus=options.cpus, mem=options.mem,
                              extra_args=node_qemu_args(sock_dir, i, options.cluster, nodes, bootargs,
                                                        options.mtu) + options.extra_args
                              + (options.node0_args if i == 0 else ())
                              + (monitor_args(sock_dir, i) if options.profile_s is not None else ()))
            result = NodeResult(i, node_role(i), node_mac(i), qemu_command(board, out_dir, base),
                                out_dir / f"node{i}.log")
            runners.append(_Node(result, options.echo and i == 0, options.stdin_node0 and i == 0,
                                 options.feed if i == 0 else ()))
        delays = [options.start_delays[i] if i < len(options.start_delays) else 0.0 for i in range(nodes)]
        order = sorted(range(nodes), key=lambda i: (delays[i], i))
        deadline = started + options.timeout_s
        next_start = 0
        markers_sent: list[tuple[int, float]] = []
        restarts: list[tuple[float, int]] = []    # (when, node index) of killed nodes to boot again
        next_marker = 0.0
        while True:
            now = time.monotonic()
            while next_start < nodes and now >= started + delays[order[next_start]]:
                node = runners[order[next_start]]
                node.start()
                say(f"node {node.result.index} ({node.result.role}, {node.result.mac}) started, "
                    f"log {node.result.log_path}")
                if options.profile_s is not None:
                    index = node.result.index
                    samplers.append(Sampler(index, monitor_socket_path(sock_dir, index),
                                            out_dir / f"profile{index}.txt", options.profile_s))
                    samplers[-1].start()
                next_start += 1
            for node in runners:
                if node.proc is not None and node.result.exit_status is None and node.poll():
                    say(f"node {node.result.index} exited with status {node.result.exit_status} after "
                        f"{node.result.ended_at - node.result.started_at:.1f} s")
            for index, text in options.kill_when:
                node = runners[index]
                if node.proc is not None and node.result.exit_status is None and node.saw_line(text.encode()):
                    node.kill()
                    node.result.timed_out = False
                    node.result.killed = True
                    say(f"node {index} killed after it printed {text!r}")
                    if options.restart_after_s is not None and node.result.life == 0:
                        restarts.append((now + options.restart_after_s, index))
            for due, index in [r for r in restarts if now >= r[0]]:
                restarts.remove((due, index))
                first = runners[index].result
                node_socket_path(sock_dir, index).unlink(missing_ok=True)   # the dead QEMU's socket file
                again = NodeResult(index, first.role, first.mac, first.command,
                                   out_dir / f"node{index}.restart.log", life=1)
                runners.append(_Node(again, False))
                runners[-1].start()
                say(f"node {index} ({first.role}, {first.mac}) started again, log {again.log_path}")
            for node in runners:
                for text in options.watch:
                    if node.proc is not None and text not in node.result.switch_stats_at and \
                            node.saw(text.encode()):
                        node.result.switch_stats_at[text] = switch.stats()
            if options.markers and len(markers_sent) < options.markers and next_start == nodes:
                for node in runners:
                    if not node.waiting_for_markers and node.proc is not None:
                        # a watched "marker: waiting" counts once its snapshot exists (taken before the marker)
                        node.waiting_for_markers = ("marker: waiting" in node.result.switch_stats_at
                                                    if "marker: waiting" in options.watch
                                                    else node.saw(b"marker: waiting"))
                # a node that is gone (killed, crashed) does not hold the others back
                if all(n.waiting_for_markers or n.result.exit_status is not None for n in runners) and \
                        not restarts and now >= next_marker:
                    markers_sent.append((switch.send_marker(), now))
                    next_marker = now + options.marker_gap_s
                    if len(markers_sent) == 1:
                        say(f"every node waits for markers: sending {options.markers}")
            if next_start == nodes and not restarts and all(n.result.exit_status is not None for n in runners):
                break
            if now >= deadline:
                for node in runners:
                    if node.proc is not None and node.result.exit_status is None:
                        node.kill()
                        say(f"node {node.result.index} killed at the {options.timeout_s:g} s timeout")
                break
            time.sleep(0.02)
    finally:
        for sampler in samplers:
            sampler.stop()
        for node in runners:
            node.kill()
        switch.stop()
        shutil.rmtree(sock_dir, ignore_errors=True)
    return ClusterResult([n.result for n in runners], switch.stats(), pcap_path, time.monotonic() - started,
                         markers_sent)
