"""The simulated hardware under the DSM (host Python): a mock stage-2 per node (ipa -> host pa, permission),
simulated vCPUs with exclusive monitors, and the global history the invariants are checked against.

* A vCPU access happens only on a page its node maps with enough permission, and reads / writes the node's
  mock RAM at the mapped PA; otherwise it is a stage-2 fault handed to `dsm_fault_begin`.
* Exclusive monitors (ARM ARM B2.9): LDX arms the vCPU's monitor on the address; STX succeeds only with the
  monitor armed on that address; any write by another vCPU of the same node to the same 64-byte granule
  clears it (the hardware global monitor); clearing across nodes comes only from the DSM's
  `monitor_clear(ipa)`. The checker then asserts the architectural rule: an STX that succeeds found no
  write to its location by anyone since its LDX.
* History: the value of the last write to every location, and how many writes it had.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from pyhv.lang import u32, u64
from pyhv.lang.machine import read_memory, write_memory

from pyhv.dsm.fault import dsm_fault_begin, dsm_fault_pending, dsm_fault_wait
from pyhv.dsm.types import (
    DSM_DONE, DSM_ERR_NODE_LOST, DSM_FAULT_EXEC, DSM_FAULT_READ, DSM_FAULT_WALK, DSM_FAULT_WRITE, DSM_PENDING,
    DSM_PERM_R, DSM_PERM_W, DsmOps,
)

PAGE = 4096
GRANULE = 64                    # exclusive reservation granule of the simulated cores


@dataclass
class History:
    last: dict[int, int] = field(default_factory=dict)       # ipa -> value of the last write
    writes: dict[int, int] = field(default_factory=dict)     # ipa -> number of writes
    stx_ok: dict[int, int] = field(default_factory=dict)     # counter ipa -> successful STX
    stx_failed: int = 0
    reads: int = 0

    def write(self, addr: int, value: int) -> None:
        self.last[addr] = value
        self.writes[addr] = self.writes.get(addr, 0) + 1


@dataclass
class Op:
    kind: str                   # "r" read, "x" instruction fetch, "t" table walk, "w" write, "inc" LDX/STX
                                # loop; "ldx" / "stx" alone (scripted tests: STX of the LDX value + 1)
    addr: int
    value: int = 0
    tries: int = 0
    stage: int = 0              # inc: 0 = LDX next, 1 = STX next


@dataclass
class Vcpu:
    node_id: int
    index: int
    rng: random.Random
    ops_left: int
    op: Op | None = None
    pending: bool = False
    fault_start_ns: int = 0
    next_ns: int = 0
    monitor: int = -1           # armed address, -1 = open
    ldx_writes: int = 0         # the location's write count at the LDX
    ldx_value: int = 0
    done: bool = False


class NodeHw:
    """One node's stage-2 + vCPUs + the DsmOps the real DSM code calls."""

    def __init__(self, sim: DsmSim, node_id: int) -> None:
        self.sim = sim
        self.node_id = node_id
        self.s2: dict[int, tuple[int, int]] = {}
        self.vcpus: list[Vcpu] = []
        self.monitor_clears = 0

    def ops(self) -> DsmOps:
        return DsmOps(map=self._map, unmap=self._unmap, protect=self._protect, monitor_clear=self._monitor_clear,
                      wake=self._wake)

    def _map(self, ipa: u64, pa: u64, perm: u32) -> None:
        if int(ipa) in self.s2:
            self.sim.fail(f"node {self.node_id}: map of {int(ipa):#x} over a live mapping (break-before-make)")
        self.s2[int(ipa)] = (int(pa), int(perm))

    def _unmap(self, ipa: u64) -> None:
        if self.s2.pop(int(ipa), None) is None:
            self.sim.fail(f"node {self.node_id}: unmap of {int(ipa):#x}, which is not mapped")

    def _protect(self, ipa: u64, perm: u32) -> None:
        m = self.s2.get(int(ipa))
        if m is None:
            self.sim.fail(f"node {self.node_id}: protect of {int(ipa):#x}, which is not mapped")
            return
        self.s2[int(ipa)] = (m[0], int(perm))

    def _monitor_clear(self, ipa: u64) -> None:
        self.monitor_clears += 1
        for v in self.vcpus:
            if v.monitor >= 0 and v.monitor // PAGE * PAGE == int(ipa):
                v.monitor = -1

    def _wake(self, vcpu: u32) -> None:
        v = self.vcpus[int(vcpu)]
        if not v.pending:
            self.sim.fail(f"node {self.node_id}: wake of vCPU {int(vcpu)}, which waits for nothing")

    # --- the vCPUs --------------------------------------------------------------------------------------
    def _translate(self, addr: int, write: bool) -> int:
        m = self.s2.get(addr // PAGE * PAGE)
        if m is None or not (m[1] & int(DSM_PERM_R)) or (write and not (m[1] & int(DSM_PERM_W))):
            return -1
        return m[0] + addr % PAGE

    def _local_write(self, v: Vcpu, pa: int, addr: int, value: int) -> None:
        write_memory(pa, value.to_bytes(8, "little"))
        self.sim.hist.write(addr, value)
        for o in self.vcpus:
            if o is not v and o.monitor >= 0 and o.monitor // GRANULE == addr // GRANULE:
                o.monitor = -1

    def _read(self, v: Vcpu, pa: int, addr: int) -> int:
        got = int.from_bytes(read_memory(pa, 8), "little")
        want = self.sim.hist.last.get(addr, 0)
        self.sim.hist.reads += 1
        if got != want:
            self.sim.fail(f"node {self.node_id} vCPU {v.index}: read {got:#x} at {addr:#x}, the last write "
                          f"there was {want:#x}")
        return got

    def step(self, v: Vcpu, now_ns: int) -> None:
        """Execute (part of) v's current operation, or take the stage-2 fault it hits."""
        if v.op is None:
            if v.ops_left == 0:
                v.done = True
                return
            nxt = self.sim.next_op(v)
            if nxt is None:
                return                  # a scripted vCPU waits for another's operation
            v.ops_left -= 1
            v.op = nxt
        op = v.op
        write = op.kind in ("w", "stx") or (op.kind == "inc" and op.stage == 1)
        pa = self._translate(op.addr, write)
        if pa < 0:
            access = {"r": DSM_FAULT_READ, "x": DSM_FAULT_EXEC, "t": DSM_FAULT_WALK}.get(op.kind, DSM_FAULT_READ)
            if write:
                access = DSM_FAULT_WRITE
            r = dsm_fault_begin(u32(v.index), u64(op.addr // PAGE * PAGE), access)
            if r == DSM_PENDING:
                v.pending = True
                v.fault_start_ns = now_ns
            elif r == DSM_ERR_NODE_LOST:
                self.sim.lost_faults += 1
                v.op = None
                v.monitor = -1
            elif r != DSM_DONE:
                self.sim.fail(f"node {self.node_id}: fault on {op.addr:#x} returned {int(r)}")
                v.op = None
            return
        if op.kind in ("r", "x", "t"):
            self._read(v, pa, op.addr)
            v.op = None
        elif op.kind == "w":
            self._local_write(v, pa, op.addr, op.value)
            v.op = None
        elif op.kind == "ldx" or (op.kind == "inc" and op.stage == 0):
            v.ldx_value = self._read(v, pa, op.addr)
            v.ldx_writes = self.sim.hist.writes.get(op.addr, 0)
            v.monitor = op.addr
            op.stage = 1
            if op.kind == "ldx":
                v.op = None
        else:
            if v.monitor == op.addr:
                v.monitor = -1
                if self.sim.hist.writes.get(op.addr, 0) != v.ldx_writes:
                    self.sim.fail(f"node {self.node_id} vCPU {v.index}: STX at {op.addr:#x} succeeded although "
                                  f"the location was written since its LDX")
                self._local_write(v, pa, op.addr, v.ldx_value + 1)
                self.sim.hist.stx_ok[op.addr] = self.sim.hist.stx_ok.get(op.addr, 0) + 1
                v.op = None
            else:
                self.sim.hist.stx_failed += 1
                op.stage = 0
                op.tries += 1
                if op.tries >= 8 or op.kind == "stx":
                    v.op = None         # give up this increment (the next op starts afresh)

    def collect(self, v: Vcpu, now_ns: int, bound_ns: int) -> None:
        """v was pending: if its fault is served, take the result (it re-executes its access next)."""
        if not v.pending or dsm_fault_pending(u32(v.index)):
            return
        r = dsm_fault_wait(u32(v.index))
        v.pending = False
        self.sim.max_fault_ns = max(self.sim.max_fault_ns, now_ns - v.fault_start_ns)
        if now_ns - v.fault_start_ns > bound_ns:
            self.sim.fail(f"node {self.node_id} vCPU {v.index}: fault served after "
                          f"{(now_ns - v.fault_start_ns) / 1e6:.1f} ms (bound {bound_ns / 1e6:.0f} ms)")
        if r == DSM_ERR_NODE_LOST:
            self.sim.lost_faults += 1
            v.op = None
            v.monitor = -1
        elif r != DSM_DONE:
            self.sim.fail(f"node {self.node_id}: fault wait returned {int(r)}")


class DsmSim:
    """What all nodes share: the address plan, the history, the failure list."""

    def __init__(self, rng: random.Random, pages: int, ipa_base: int, words: int) -> None:
        self.rng = rng
        self.pages = pages
        self.ipa_base = ipa_base
        self.words = words
        self.hist = History()
        self.failures: list[str] = []
        self.lost_faults = 0
        self.max_fault_ns = 0
        self.source: Callable[[Vcpu], Op | None] | None = None     # scripted operations (tests)

    def fail(self, msg: str) -> None:
        if len(self.failures) < 20:
            self.failures.append(msg)

    def counter_addr(self, page: int) -> int:
        return self.ipa_base + page * PAGE                       # word 0: only LDX/STX increments

    def plain_addr(self, page: int, word: int) -> int:
        return self.ipa_base + page * PAGE + 8 + word * 1016      # words spread over the page

    def next_op(self, v: Vcpu) -> Op | None:
        if self.source is not None:
            return self.source(v)
        r = v.rng
        page = r.randrange(self.pages)
        kind = r.choices(["r", "w", "inc", "x", "t"], weights=[40, 30, 20, 5, 5])[0]
        if kind == "inc":
            return Op("inc", self.counter_addr(page))
        addr = self.plain_addr(page, r.randrange(self.words))
        return Op(kind, addr, value=(v.node_id << 56) | (v.index << 48) | r.randrange(1 << 40))
