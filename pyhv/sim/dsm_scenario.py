"""DSM scenario for one seed (host Python): K nodes form a cluster with the real code, every node runs
`dsm_init` from the table and two simulated vCPUs (pyhv/sim/dsm_model.py) as an event loop in its node
thread, doing seeded random reads, writes, instruction fetches, table walks and LDX/STX increments over a
few words of a few pages homed on every node, with a tiny cache pool so eviction happens. Checked after every
scheduling step: at most one node maps a page writable, and then no other node maps it at all; every read
returns the last write (in the model). At the end: nothing pending, every fault served within a bound, the
final contents are the last writes (so no write-back was lost), every counter equals its successful STXs,
no protocol error counted, and the message counters of all nodes agree.

`run_dsm_seed(seed, nodes, faults)`; `faults.stop=1` stops one node in the middle of the workload: the
survivors must then get DSM_ERR_NODE_LOST for what died with it, print it, and never hang.
"""

from __future__ import annotations

import random

from pyhv.lang import u16, u32, u64
from pyhv.lang.machine import read_memory

from pyhv.cluster.node import cluster_poll, cluster_step
from pyhv.cluster.idle import cluster_sleep_until
from pyhv.cluster.node import cluster_next_deadline
from pyhv.cluster.table import cluster_my_node, cluster_table
from pyhv.dsm.fault import dsm_init, dsm_poll, dsm_stats
from pyhv.dsm.types import DSM_PERM_R, DSM_PERM_W, DSM_PERM_X, DsmConfig, dsm_dir, dsm_ops_set, dsm_page
from pyhv.sim.dsm_model import PAGE, DsmSim, NodeHw, Vcpu
from pyhv.sim.scenario import Scenario, SeedResult
from pyhv.sim.world import NS, Faults, SimNode

IPA_BASE = 0x4000_0000
HOME_PA = 0x8000_0000
POOL_PA = 0x9000_0000
META_PA = 0xA000_0000
VCPUS = 2
FAULT_BOUND_NS = 800_000_000        # a fault waits at most this long (loss + backoff + queueing)
LOST_BOUND_NS = 3 * NS              # with a node stopped: its loss timeout comes first
DRAIN_NS = 30_000_000               # after the last op: write-backs and their acks settle


class DsmScenario(Scenario):
    def __init__(self, seed: int, nodes: int, faults: Faults, ops: int = 40, pages_per_node: int = 2,
                 pool_pages: int = 2, words: int = 3) -> None:
        super().__init__(seed, nodes, faults, requests=0)
        self.ops = ops
        self.ppn = pages_per_node
        self.pool = pool_pages
        self.sim = DsmSim(random.Random(seed ^ 0xD5A), nodes * pages_per_node, IPA_BASE, words)
        self.hw: dict[int, NodeHw] = {}             # cluster node id -> its hardware
        self.ready: set[int] = set()
        self.finished_ns: dict[int, int] = {}
        self.stop_index = -1
        self.world.step_checks.append(self._check_swmr)

    def build(self) -> None:
        order = list(range(self.k))
        self.rng.shuffle(order)
        for pos, i in enumerate(order):
            self._add(pos * self.rng.randrange(1, 15) * 1_000_000, i == 0)
        if self.faults.stop and self.k >= 3:
            self.stop_index = self.rng.choice([n.index for n in self.world.nodes if not n.user["bootstrap"]])
            self.stopped.add(self.stop_index)
            self.world.stop_node_at(self.stop_index, self.rng.randrange(150, 250) * 1_000_000)

    # --- what each node runs after the cluster booted -------------------------------------------------
    def _workload(self, node: SimNode) -> None:
        me = int(cluster_my_node())
        count = int(cluster_table().count)
        hw = NodeHw(self.sim, me)
        self.hw[me] = hw
        dsm_ops_set(hw.ops())
        cfg = DsmConfig()
        cfg.ram_ipa_base = u64(IPA_BASE)
        cfg.home_host_base = u64(HOME_PA)
        cfg.pool_host_base = u64(POOL_PA)
        cfg.meta_host_base = u64(META_PA)
        cfg.pool_pages = u32(self.pool)
        cfg.nodes = u32(count)
        cfg.vcpus = u32(VCPUS)
        cfg.me = u16(me)
        for n in range(count):
            cfg.first_gpn[n] = u32(n * self.ppn)
            cfg.home_pages[n] = u32(self.ppn)
        for k in range(self.ppn):       # the image maps its home range RWX before dsm_init
            hw.s2[IPA_BASE + (me * self.ppn + k) * PAGE] = (HOME_PA + k * PAGE,
                                                           int(DSM_PERM_R | DSM_PERM_W | DSM_PERM_X))
        dsm_init(cfg)
        self.ready.add(me)
        while len(self.ready) < self.k:
            cluster_step()
        rng = random.Random(self.seed * 7919 + me)
        hw.vcpus = [Vcpu(me, i, random.Random(rng.randrange(1 << 30)), self.vcpu_ops(me, i))
                    for i in range(VCPUS)]
        bound = LOST_BOUND_NS if self.stop_index >= 0 else FAULT_BOUND_NS
        w = self.world
        while not all(v.done and not v.pending for v in hw.vcpus):
            for v in hw.vcpus:
                hw.collect(v, w.now, bound)
            for v in hw.vcpus:
                if not v.pending and not v.done and v.next_ns <= w.now:
                    hw.step(v, w.now)
                    v.next_ns = w.now + v.rng.randrange(1_000, 20_000)
            dsm_poll()
            if cluster_poll() == 0:
                runnable = [v.next_ns for v in hw.vcpus if not v.pending and not v.done]
                node.local_wake_ns = min(runnable) if runnable else -1
                cluster_sleep_until(cluster_next_deadline())
                node.local_wake_ns = -1
        self.finished_ns[me] = w.now
        node.user["work_done"] = True
        while True:
            dsm_poll()
            cluster_step()

    def vcpu_ops(self, node_id: int, index: int) -> int:
        return self.ops

    # --- invariants -------------------------------------------------------------------------------------
    def _check_swmr(self, node: SimNode) -> None:
        """After every step: per page, one node mapping it writable and nobody else, or only readers."""
        maps: dict[int, list[tuple[int, int]]] = {}
        for nid, hw in self.hw.items():
            idx = self._index_of(nid)
            if idx in self.stopped:
                continue
            for ipa, (_, perm) in hw.s2.items():
                maps.setdefault(ipa, []).append((nid, perm))
        for ipa, holders in maps.items():
            writers = [n for n, p in holders if p & int(DSM_PERM_W)]
            if writers and len(holders) > 1:
                self.sim.fail(f"page {ipa:#x}: node {writers[0]} maps it writable while nodes "
                              f"{[n for n, _ in holders]} map it (single writer broken)")

    def _index_of(self, node_id: int) -> int:
        for n in self.world.nodes:
            if n.thread is not None and self._ids.get(n.index, -2) == node_id:
                return n.index
            if n.thread is not None and n.index not in self._ids:
                self._id_of(n)
                if self._ids.get(n.index) == node_id:
                    return n.index
        return -1

    def _done(self) -> bool:
        live = [n for n in self.world.nodes if n.index not in self.stopped]
        if not all(n.user["work_done"] for n in live):
            return False
        return self.world.now >= max(self.finished_ns.values()) + DRAIN_NS

    def run(self) -> SeedResult:
        self.build()
        self.world.run(8 * NS, self._done)
        self._final_checks()
        r = self.result
        r.failures[:0] = self.world.failures + self.sim.failures
        r.frames = self.world.frames_sent
        r.sim_ns = self.world.now
        return r

    def _final_checks(self) -> None:
        w = self.world
        fails = self.result.failures
        if not self._done():
            fails.append(f"did not finish within {w.now / 1e9:.3f} s simulated: " + ", ".join(
                f"node {n.index} work_done={n.user['work_done']}" for n in w.nodes if n.index not in self.stopped))
            return
        live = {nid: self.hw[nid] for nid in self.hw if self._index_of(nid) not in self.stopped}
        dead = [nid for nid in self.hw if nid not in live]
        lost_pages: set[int] = set()
        totals = {"inv_sent": 0, "inv_recv": 0, "recalls_sent": 0, "recalls_recv": 0, "pages_sent": 0,
                  "pages_fetched": 0, "writebacks": 0}
        for nid, hw in live.items():
            with w.on(w.nodes[self._index_of(nid)]):
                st = dsm_stats()
                if int(st.protocol_errors) != 0:
                    fails.append(f"node {nid}: {int(st.protocol_errors)} protocol errors counted")
                for key in totals:
                    totals[key] += int(getattr(st, key))
                for gpn in range(self.sim.pages):
                    if int(dsm_page(u32(gpn)).lost) != 0 or gpn // self.ppn in dead:
                        lost_pages.add(gpn)
                    if gpn // self.ppn == nid:
                        d = dsm_dir(u32(gpn))
                        if int(d.lost) != 0 or (int(d.excl) != 0 and int(d.owner) in dead):
                            lost_pages.add(gpn)     # (a home that never waited on the dead node: not told)
        if not dead:
            if totals["inv_sent"] != totals["inv_recv"] or totals["recalls_sent"] != totals["recalls_recv"]:
                fails.append(f"message counters disagree: {totals}")
            if totals["pages_sent"] != totals["pages_fetched"] + totals["recalls_recv"] + totals["writebacks"]:
                fails.append(f"page counters disagree: {totals}")
        elif self.sim.lost_faults and not any("dsm: node" in n.mock.console_text() for n in w.nodes
                                              if n.index not in self.stopped):
            fails.append("faults failed with NODE_LOST but no node printed the loss")
        for gpn in range(self.sim.pages):
            if gpn in lost_pages:
                continue
            self._check_final_page(gpn, live, fails)

    def _check_final_page(self, gpn: int, live: dict[int, NodeHw], fails: list[str]) -> None:
        """Every mapped copy and the home frame (when current) hold the last writes; counters = their STXs."""
        w = self.world
        ipa = IPA_BASE + gpn * PAGE
        home = gpn // self.ppn
        addrs = [self.sim.counter_addr(gpn)] + [self.sim.plain_addr(gpn, k) for k in range(self.sim.words)]
        copies: list[tuple[int, int]] = []
        for nid, hw in live.items():
            m = hw.s2.get(ipa)
            if m is not None:
                copies.append((nid, m[0]))
        with w.on(w.nodes[self._index_of(home)]):
            d = dsm_dir(u32(gpn))
            if int(d.busy) != 0 or int(d.q_head) != 0xFFFF:
                fails.append(f"page {gpn}: its directory is still busy at the end")
            if int(d.excl) == 0 or int(d.owner) == home:
                copies.append((home, HOME_PA + (gpn - home * self.ppn) * PAGE))
            elif int(d.owner) not in [n for n, _ in copies]:
                fails.append(f"page {gpn}: exclusive at node {int(d.owner)}, which does not map it")
        for nid, pa in copies:
            with w.on(w.nodes[self._index_of(nid)]):
                for a in addrs:
                    got = int.from_bytes(read_memory(pa + a % PAGE, 8), "little")
                    want = self.sim.hist.last.get(a, 0)
                    if got != want:
                        fails.append(f"page {gpn}: node {nid} holds {got:#x} at {a:#x}, the last write was "
                                     f"{want:#x} (lost write-back or stale copy)")
        c = self.sim.counter_addr(gpn)
        if self.sim.hist.last.get(c, 0) != self.sim.hist.stx_ok.get(c, 0):
            fails.append(f"page {gpn}: counter {self.sim.hist.last.get(c, 0)} != "
                         f"{self.sim.hist.stx_ok.get(c, 0)} successful STX (lost update)")


def run_dsm_seed(seed: int, nodes: int, faults: Faults, ops: int = 40) -> SeedResult:
    return DsmScenario(seed, nodes, faults, ops).run()
