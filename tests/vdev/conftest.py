"""Fixtures for the vGIC tests: a mock node whose CPUs carry a model of the GICv3 virtual CPU interface
(ICH_LR<n>_EL2 / ICH_HCR_EL2 / ICH_VTR_EL2 as MockCpu sysregs) or a GICH MMIO frame for GICv2, plus a
tiny "guest" that acknowledges and EOIs through the list registers the way the hardware would."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager

import pytest

from pyhv.lang import u32, u64
from pyhv.lang.machine import Machine, MockCpu, MockNode

from pyhv.core.printk import NULL_CONSOLE_OPS, printk_set_console
from pyhv.vdev.vgic import VgicHostOps, vgic_init, vgic_set_host_ops
from pyhv.vdev.vgic_lr import vgic_cpu_init, vgic_set_lr_ops
from pyhv.vdev.vgic_lr_v2 import VGIC_V2_LR_OPS, vgic_v2_set_gich
from pyhv.vdev.vgic_lr_v3 import VGIC_V3_LR_OPS

GICH_BASE = 0x0803_0000
KICKS: list[int] = []


def _record_kick(vcpu: u32) -> None:
    KICKS.append(int(vcpu))


RECORD_KICK_OPS = VgicHostOps(kick=_record_kick)


class GichModel:
    """Register-level GICH frame: HCR, VTR, MISR and n list registers (banked per CPU is not needed:
    each test drives one CPU's frame at a time)."""

    def __init__(self, nr_lrs: int) -> None:
        self.nr_lrs = nr_lrs
        self.regs: dict[int, int] = {}

    def read(self, offset: int, width_bytes: int) -> int:
        if offset == 0x4:
            return (5 << 29) | (self.nr_lrs - 1)     # PRIbits = 5, ListRegs = nr_lrs - 1
        return self.regs.get(offset, 0)

    def write(self, offset: int, width_bytes: int, value: int) -> None:
        self.regs[offset] = value

    def lr(self, n: int) -> int:
        return self.regs.get(0x100 + 4 * n, 0)

    def set_lr(self, n: int, v: int) -> None:
        self.regs[0x100 + 4 * n] = v


class Vm:
    def __init__(self, version: int, nr_vcpus: int, nr_lrs: int, nr_spis: int = 64) -> None:
        self.machine = Machine()
        self.node: MockNode = self.machine.add_node(cpus=nr_vcpus)
        self.version = version
        self.nr_lrs = nr_lrs
        self.gich: GichModel | None = None
        if version == 2:
            self.gich = GichModel(nr_lrs)
            self.node.mmio.map(GICH_BASE, 0x1000, self.gich)
        for cpu in self.node.cpus:
            cpu.sysregs["ich_vtr_el2"] = (4 << 29) | (nr_lrs - 1)
        with self.on(0):
            printk_set_console(NULL_CONSOLE_OPS)
            assert vgic_init(u32(version), u32(nr_vcpus), u32(nr_spis)) == 0
            vgic_set_host_ops(RECORD_KICK_OPS)
            if version == 2:
                vgic_v2_set_gich(u64(GICH_BASE))
                vgic_set_lr_ops(VGIC_V2_LR_OPS)
            else:
                vgic_set_lr_ops(VGIC_V3_LR_OPS)
        for i in range(nr_vcpus):
            with self.on(i):
                vgic_cpu_init()
        KICKS.clear()

    def on(self, cpu: int) -> AbstractContextManager[MockCpu]:
        return self.machine.on_cpu(self.node, cpu)

    def cpu(self, i: int) -> MockCpu:
        return self.node.cpus[i]

    # --- raw LR access (what the hardware holds) --------------------------------------------------

    def lr(self, cpu: int, n: int) -> int:
        if self.gich is not None:
            return self.gich.lr(n)
        return self.cpu(cpu).sysregs.get(f"ich_lr{n}_el2", 0)

    def set_lr(self, cpu: int, n: int, v: int) -> None:
        if self.gich is not None:
            self.gich.set_lr(n, v)
        else:
            self.cpu(cpu).sysregs[f"ich_lr{n}_el2"] = v

    def hcr(self, cpu: int) -> int:
        if self.gich is not None:
            return self.gich.regs.get(0, 0)
        return self.cpu(cpu).sysregs.get("ich_hcr_el2", 0)

    # --- the guest's CPU interface, as the hardware implements it -----------------------------------

    def _state_shift(self) -> int:
        return 28 if self.version == 2 else 62

    def _vintid(self, v: int) -> int:
        return v & (0x3FF if self.version == 2 else 0xFFFFFFFF)

    def _prio(self, v: int) -> int:
        return ((v >> 23) & 0x1F) << 3 if self.version == 2 else (v >> 48) & 0xFF

    def guest_ack(self, cpu: int) -> int | None:
        """Acknowledge the highest-priority pending LR (pending -> active); its vINTID, or None."""
        best = None
        for n in range(self.nr_lrs):
            v = self.lr(cpu, n)
            if (v >> self._state_shift()) & 3 == 1:
                key = (self._prio(v), self._vintid(v))
                if best is None or key < best[0]:
                    best = (key, n)
        if best is None:
            return None
        n = best[1]
        v = self.lr(cpu, n)
        s = self._state_shift()
        self.set_lr(cpu, n, (v & ~(3 << s)) | (2 << s))
        return self._vintid(v)

    def guest_eoi(self, cpu: int, intid: int) -> None:
        """EOI + deactivate: the active LR holding intid becomes invalid (keeps a pending re-trigger)."""
        s = self._state_shift()
        for n in range(self.nr_lrs):
            v = self.lr(cpu, n)
            if self._vintid(v) == intid and (v >> s) & 2:
                self.set_lr(cpu, n, v & ~(2 << s))
                return
        raise AssertionError(f"EOI of {intid}: not active in any LR")


@pytest.fixture
def vm3() -> Iterator[Vm]:
    vm = Vm(3, nr_vcpus=4, nr_lrs=4)
    with vm.on(0):
        yield vm


@pytest.fixture
def vm2() -> Iterator[Vm]:
    vm = Vm(2, nr_vcpus=4, nr_lrs=4)
    with vm.on(0):
        yield vm
