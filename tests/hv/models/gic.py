"""Minimal GICv2 and GICv3 register models for driver tests (IHI 0048B §4, IHI 0069H §12).

Both keep per-INTID enable/pending/active/priority state with the SGI/PPI range (0-31) banked per CPU, and
implement acknowledge (highest-priority pending+enabled interrupt, becomes active) and EOI (deactivates).
`raise_irq(cpu, intid)` makes an interrupt pending. The CPU index is the mock machine's current CPU.
GICv2: GICD + GICC frames (map `dist` and `cpu`). GICv3: GICD (`dist`), one GICR frame pair per CPU
(`redist`, affinity from `mpidrs`), and the ICC_* system registers installed as hooks on each MockCpu.
"""

from __future__ import annotations

from pyhv.lang.machine import MockNode, current_cpu

SPURIOUS = 1023


class _IrqState:
    def __init__(self, ncpus: int, nr_irqs: int) -> None:
        self.nr_irqs = nr_irqs
        self.enabled: dict[tuple[int, int], bool] = {}
        self.pending: dict[tuple[int, int], bool] = {}
        self.active: dict[tuple[int, int], bool] = {}
        self.prio: dict[tuple[int, int], int] = {}
        self.group: dict[tuple[int, int], int] = {}
        self.acks: list[tuple[int, int]] = []
        self.eois: list[tuple[int, int]] = []

    @staticmethod
    def key(cpu: int, intid: int) -> tuple[int, int]:
        return (cpu if intid < 32 else -1, intid)

    def bits(self, table: dict[tuple[int, int], bool], cpu: int, word: int) -> int:
        return sum(1 << b for b in range(32) if table.get(self.key(cpu, word * 32 + b), False))

    def set_bits(self, table: dict[tuple[int, int], bool], cpu: int, word: int, value: int, to: bool) -> None:
        for b in range(32):
            if value >> b & 1:
                table[self.key(cpu, word * 32 + b)] = to

    def ack(self, cpu: int) -> int:
        best = None
        for intid in range(self.nr_irqs):
            k = self.key(cpu, intid)
            if self.pending.get(k) and self.enabled.get(k) and not self.active.get(k):
                if best is None or self.prio.get(k, 0) < self.prio.get(self.key(cpu, best), 0):
                    best = intid
        if best is None:
            return SPURIOUS
        k = self.key(cpu, best)
        self.pending[k] = False
        self.active[k] = True
        self.acks.append((cpu, best))
        return best

    def eoi(self, cpu: int, intid: int) -> None:
        self.eois.append((cpu, intid))
        self.active[self.key(cpu, intid)] = False


class Gicv2Model:
    def __init__(self, ncpus: int, it_lines: int = 2) -> None:
        self.st = _IrqState(ncpus, 32 * (it_lines + 1))
        self.it_lines = it_lines
        self.gicd_ctlr = 0
        self.gicc: dict[tuple[int, int], int] = {}   # (cpu, offset) -> value
        self.targets: dict[int, int] = {}
        self.dist = _Gicv2Dist(self)
        self.cpu = _Gicv2Cpu(self)

    def raise_irq(self, cpu: int, intid: int) -> None:
        self.st.pending[self.st.key(cpu, intid)] = True


class _Gicv2Dist:
    def __init__(self, g: Gicv2Model) -> None:
        self.g = g

    def read(self, offset: int, width_bytes: int) -> int:
        st, cpu = self.g.st, current_cpu().index
        if offset == 0x000:
            return self.g.gicd_ctlr
        if offset == 0x004:
            return self.g.it_lines
        if 0x100 <= offset < 0x180 or 0x180 <= offset < 0x200:
            return st.bits(st.enabled, cpu, (offset & 0x7F) // 4)
        if 0x400 <= offset < 0x800:
            return st.prio.get(st.key(cpu, offset - 0x400), 0)
        return 0

    def write(self, offset: int, width_bytes: int, value: int) -> None:
        st, cpu = self.g.st, current_cpu().index
        if offset == 0x000:
            self.g.gicd_ctlr = value
        elif 0x100 <= offset < 0x180:
            st.set_bits(st.enabled, cpu, (offset - 0x100) // 4, value, True)
        elif 0x180 <= offset < 0x200:
            st.set_bits(st.enabled, cpu, (offset - 0x180) // 4, value, False)
        elif 0x280 <= offset < 0x300:
            st.set_bits(st.pending, cpu, (offset - 0x280) // 4, value, False)
        elif 0x400 <= offset < 0x800:
            assert width_bytes == 1, "the driver writes priorities bytewise"
            st.prio[st.key(cpu, offset - 0x400)] = value
        elif 0x800 <= offset < 0xC00:
            self.g.targets[offset - 0x800] = value


class _Gicv2Cpu:
    def __init__(self, g: Gicv2Model) -> None:
        self.g = g

    def read(self, offset: int, width_bytes: int) -> int:
        cpu = current_cpu().index
        if offset == 0x00C:
            if not self.g.gicc.get((cpu, 0x000), 0) & 1 or not self.g.gicd_ctlr & 1:
                return SPURIOUS
            return self.g.st.ack(cpu)
        return self.g.gicc.get((cpu, offset), 0)

    def write(self, offset: int, width_bytes: int, value: int) -> None:
        cpu = current_cpu().index
        if offset == 0x010:
            self.g.st.eoi(cpu, value & 0x3FF)
        else:
            self.g.gicc[(cpu, offset)] = value


class Gicv3Model:
    """GICv3 with one redistributor region; frame i belongs to the CPU with affinity `mpidrs[i]`."""

    def __init__(self, node: MockNode, mpidrs: list[int], it_lines: int = 3) -> None:
        self.st = _IrqState(len(mpidrs), 32 * (it_lines + 1))
        self.it_lines = it_lines
        self.mpidrs = mpidrs
        self.gicd_ctlr = 0
        self.waker = {i: 0b110 for i in range(len(mpidrs))}   # ProcessorSleep | ChildrenAsleep at reset
        self.group0: dict[int, int] = {}
        self.icc: dict[tuple[int, str], int] = {}
        self.dist = _Gicv3Dist(self)
        self.redist = _Gicv3Redist(self)
        for cpu in node.cpus:
            self._install(cpu.index, cpu.read_hooks, cpu.write_hooks)

    def _install(self, i: int, reads: dict[str, object], writes: dict[str, object]) -> None:
        def iar() -> int:
            if not self.icc.get((i, "icc_igrpen1_el1"), 0) & 1 or not self.icc.get((i, "icc_sre_el2"), 0) & 1:
                return SPURIOUS
            return self.st.ack(i)

        def eoir(v: int) -> None:
            self.st.eoi(i, v & 0xFFFFFF)

        reads["icc_iar1_el1"] = iar
        writes["icc_eoir1_el1"] = eoir
        for name in ("icc_sre_el2", "icc_pmr_el1", "icc_bpr1_el1", "icc_igrpen1_el1"):
            reads[name] = (lambda n=name: self.icc.get((i, n), 0))
            writes[name] = (lambda v, n=name: self.icc.__setitem__((i, n), v))

    def raise_irq(self, cpu: int, intid: int) -> None:
        self.st.pending[self.st.key(cpu, intid)] = True

    @property
    def redist_size(self) -> int:
        return 0x20000 * len(self.mpidrs)


class _Gicv3Dist:
    def __init__(self, g: Gicv3Model) -> None:
        self.g = g

    def read(self, offset: int, width_bytes: int) -> int:
        if offset == 0x0000:
            return self.g.gicd_ctlr
        if offset == 0x0004:
            return self.g.it_lines
        if 0x400 <= offset < 0x800:
            return self.g.st.prio.get((-1, offset - 0x400), 0)
        return 0

    def write(self, offset: int, width_bytes: int, value: int) -> None:
        st = self.g.st
        if offset == 0x0000:
            self.g.gicd_ctlr = value
        elif 0x180 <= offset < 0x200:
            st.set_bits(st.enabled, -1, (offset - 0x180) // 4, value, False)
        elif 0x280 <= offset < 0x300:
            st.set_bits(st.pending, -1, (offset - 0x280) // 4, value, False)
        elif 0x400 <= offset < 0x800:
            st.prio[(-1, offset - 0x400)] = value


class _Gicv3Redist:
    def __init__(self, g: Gicv3Model) -> None:
        self.g = g

    def read(self, offset: int, width_bytes: int) -> int:
        cpu, off = divmod(offset, 0x20000)
        if off == 0x0008:
            last = 1 << 4 if cpu == len(self.g.mpidrs) - 1 else 0
            m = self.g.mpidrs[cpu]
            aff = (m >> 32 & 0xFF) << 24 | (m & 0xFFFFFF)
            return aff << 32 | cpu << 8 | last
        if off == 0x0014:
            return self.g.waker[cpu]
        if off == 0x10100 or off == 0x10180:
            return self.g.st.bits(self.g.st.enabled, cpu, 0)
        return 0

    def write(self, offset: int, width_bytes: int, value: int) -> None:
        cpu, off = divmod(offset, 0x20000)
        st = self.g.st
        if off == 0x0014:
            sleep = value & 0b10
            self.g.waker[cpu] = sleep | (0b100 if sleep else 0)
        elif off == 0x10080:
            self.g.group0[cpu] = value
        elif off == 0x10100:
            st.set_bits(st.enabled, cpu, 0, value, True)
        elif off == 0x10180:
            st.set_bits(st.enabled, cpu, 0, value, False)
        elif 0x10400 <= off < 0x10420:
            assert width_bytes == 1, "the driver writes priorities bytewise"
            st.prio[(cpu, off - 0x10400)] = value
