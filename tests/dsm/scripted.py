"""A scripted DSM run: the real cluster + DSM code in the simulator (pyhv/sim/dsm_scenario.py), but every
simulated vCPU executes a given list of operations, each optionally waiting until named operations of
other vCPUs have finished or until a simulated time. The DsmScenario invariants (single writer, reads see
the last write, final contents, counters, no protocol error) are checked as in the campaign."""

from __future__ import annotations

from dataclasses import dataclass, field

from pyhv.lang import u16, u32
from pyhv.sim.dsm_model import Op, Vcpu
from pyhv.sim.dsm_scenario import DsmScenario
from pyhv.sim.world import Faults, SimNode

from pyhv.dsm.fault import dsm_stats
from pyhv.dsm.types import DsmDir, DsmStats, dsm_dir


@dataclass
class Step:
    label: str
    kind: str                   # r w x t inc ldx stx
    gpn: int
    word: int = -1              # -1: the page's counter word; else a plain word
    after: tuple[str, ...] = ()
    at_ns: int = 0              # not before this simulated time
    value: int = 0


@dataclass
class Script:
    steps: dict[tuple[int, int], list[Step]] = field(default_factory=dict)   # (node id, vCPU) -> steps


class ScriptedDsm(DsmScenario):
    def __init__(self, script: Script, nodes: int = 3, pool_pages: int = 2, seed: int = 1,
                 faults: str = "", stop_node_at: tuple[int, int] | None = None) -> None:
        super().__init__(seed, nodes, Faults().parse(faults), ops=0, pool_pages=pool_pages)
        self.script = script
        self.pos: dict[tuple[int, int], int] = {}
        self.stop_at = stop_node_at
        self.sim.source = self._next_op

    def build(self) -> None:
        # fixed start order, spaced out, so node index = node id
        for i in range(self.k):
            self._add(i * 30_000_000, i == 0)     # > the 20 ms ANNOUNCE period: ids follow start order
        if self.stop_at is not None:
            idx, t = self.stop_at
            self.stop_index = idx
            self.stopped.add(idx)
            self.world.stop_node_at(idx, t)

    def vcpu_ops(self, node_id: int, index: int) -> int:
        return len(self.script.steps.get((node_id, index), []))

    def _next_op(self, v: Vcpu) -> Op | None:
        key = (v.node_id, v.index)
        steps = self.script.steps[key]
        k = self.pos.get(key, 0)
        s = steps[k]
        if any(not self._done_label(a) for a in s.after) or self.world.now < s.at_ns:
            return None
        self.pos[key] = k + 1
        addr = self.sim.counter_addr(s.gpn) if s.word < 0 else self.sim.plain_addr(s.gpn, s.word)
        return Op(s.kind, addr, value=s.value or (0x1000 + 16 * v.node_id + 4 * v.index + k))

    def _done_label(self, label: str) -> bool:
        """The step named `label` has finished (its vCPU moved past it, or has no operation left in flight)."""
        for (node_id, index), steps in self.script.steps.items():
            for i, s in enumerate(steps):
                if s.label != label:
                    continue
                k = self.pos.get((node_id, index), 0)
                hw = self.hw.get(node_id)
                if k > i + 1:
                    return True
                return k == i + 1 and hw is not None and hw.vcpus[index].op is None \
                    and not hw.vcpus[index].pending
        raise KeyError(label)

    def node(self, node_id: int) -> SimNode:
        n = self.world.nodes[node_id]
        assert self._id_of(n) == node_id, "node ids must follow the start order"
        return n

    def stats(self, node_id: int) -> DsmStats:
        with self.world.on(self.node(node_id)):
            return dsm_stats()

    def directory(self, gpn: int) -> DsmDir:
        with self.world.on(self.node(gpn // self.ppn)):
            return dsm_dir(u32(gpn))

    def perm(self, node_id: int, gpn: int) -> int:
        m = self.hw[node_id].s2.get(0x4000_0000 + gpn * 4096)
        return -1 if m is None else m[1]


def copyset(d: DsmDir) -> set[int]:
    return {n for n in range(16) if int(d.copyset) & (1 << n)}


def bit(n: int) -> u16:
    return u16(1 << n)
