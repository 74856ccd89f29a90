"""A whole mock board for boot tests: CPUs with MPIDR/CurrentEL/counter registers, a PL011 and GIC model,
an EL2 timer model that fires at the CPU's next `irq_wait`, PSCI firmware and spin-table CPUs that start
at the boot CPU's next scheduling point, and a mock of the assembly trap self-test.

Secondary CPUs run to completion (until they park in `wfe`) inside the boot CPU's scheduling point, so the
whole boot is one deterministic call of hv_main.
"""

from __future__ import annotations

from pyhv.lang import u64
from pyhv.lang.machine import Machine, MockCpu, MockNode

from pyhv.arch.frame import TrapFrame
from pyhv.arch.traps import arch_trap_irq, arch_trap_sync
from pyhv.core.main import hv_main, hv_secondary_main

from .dtbs import DTB_ADDR, GICC_BASE, GICD_BASE, GICR_BASE, UART_BASE
from .models.gic import Gicv2Model, Gicv3Model
from .models.pl011 import Pl011Model
from .symtab import install_symtab

COUNTER_HZ = 62_500_000
SYMBOLS = {"_start": 0x4020_0000, "pyhv_secondary_entry": 0x4020_0100, "pyhv_spin_entry": 0x4020_0200,
           "pyhv_trap_selftest": 0x4020_0300, "hv_main": 0x4020_1000}
SELFTEST_BRK_OFFSET = 0x40
TIMER_PPI = 26


class Parked(Exception):
    """A secondary CPU finished its work and parked in WFE."""


class PoweredOff(Exception):
    """PSCI SYSTEM_OFF (or the watchdog) ended the run."""


class SimBoard:
    def __init__(self, mpidrs: list[int], gic: int = 3, uart_base: int = UART_BASE, gicd_base: int = GICD_BASE,
                 gicc_base: int = GICC_BASE) -> None:
        self.machine = Machine()
        self.node: MockNode = self.machine.add_node(cpus=len(mpidrs))
        self.uart = Pl011Model()
        self.node.mmio.map(uart_base, 0x1000, self.uart)
        self.gic: Gicv2Model | Gicv3Model
        if gic == 3:
            g3 = Gicv3Model(self.node, mpidrs)
            self.node.mmio.map(gicd_base, 0x10000, g3.dist)
            self.node.mmio.map(GICR_BASE, g3.redist_size, g3.redist)
            self.gic = g3
        else:
            g2 = Gicv2Model(ncpus=len(mpidrs))
            self.node.mmio.map(gicd_base, 0x1000, g2.dist)
            self.node.mmio.map(gicc_base, 0x2000, g2.cpu)
            self.gic = g2
        self.ticks = 0
        for cpu, mpidr in zip(self.node.cpus, mpidrs):
            cpu.sysregs.update(mpidr_el1=0x8000_0000 | mpidr, currentel=0x8, cntfrq_el0=COUNTER_HZ)
            cpu.read_hooks["cntpct_el0"] = self._tick
        self.node.symbols.update(SYMBOLS)
        install_symtab(self.node, SYMBOLS)
        self.node.smc_handler = self._firmware
        self.node.asm_mocks["pyhv_trap_selftest"] = self._trap_selftest
        self.machine.wait_hook = self._wait
        self.pending_starts: list[int] = []
        self.started: list[int] = []
        self.cpu_on_calls: list[tuple[int, int, int]] = []
        self.spin_release_addrs: dict[int, int] = {}       # release address -> CPU index
        self.selftest_clobber = 0                           # registers the mock "handler" damages

    def _tick(self) -> int:
        self.ticks += 1000
        return self.ticks

    # -- firmware and CPU start ---------------------------------------------------------------------------
    def _firmware(self, fid: int, a1: int, a2: int, a3: int) -> int:
        if fid == 0xC400_0003:
            self.cpu_on_calls.append((a1, a2, a3))
            self.pending_starts.append(a3)
            return 0
        if fid == 0x8400_0008:
            raise PoweredOff()
        return 2**64 - 1                                    # NOT_SUPPORTED

    def _poll_spin_table(self) -> None:
        for addr, index in list(self.spin_release_addrs.items()):
            if int.from_bytes(self.node.ram.read(addr, 8), "little") == SYMBOLS["pyhv_spin_entry"]:
                del self.spin_release_addrs[addr]
                self.pending_starts.append(index)

    def _run_secondaries(self) -> None:
        self._poll_spin_table()
        while self.pending_starts:
            index = self.pending_starts.pop(0)
            self.started.append(index)
            with self.machine.on_cpu(self.node, index):
                try:
                    hv_secondary_main(u64(index))
                except Parked:
                    pass

    # -- scheduling points --------------------------------------------------------------------------------
    def _wait(self, cpu: MockCpu, kind: str) -> None:
        if kind == "wfe" and cpu.index != 0:
            raise Parked()
        if cpu.index == 0:
            self._run_secondaries()
        if kind == "irq_wait":
            ctl = cpu.sysregs.get("cnthp_ctl_el2", 0)
            if ctl & 0b11 == 0b01:                      # enabled, not masked: the timer fires
                self.gic.raise_irq(cpu.index, TIMER_PPI)
            arch_trap_irq(TrapFrame())

    # -- runtime/asm stand-ins ----------------------------------------------------------------------------
    def _trap_selftest(self) -> u64:
        f = TrapFrame()
        for i in range(1, 29):
            f.x[i] = u64(0x1111_0000_0000_0000 * (i % 15 + 1) + i)
        before = [int(f.x[i]) for i in range(31)]
        f.esr = u64((0x3C << 26) | (1 << 25) | 0x42)
        brk_at = SYMBOLS["pyhv_trap_selftest"] + SELFTEST_BRK_OFFSET
        f.elr = u64(brk_at)
        arch_trap_sync(f)
        for i in range(1, 29):
            if self.selftest_clobber >> i & 1:
                f.x[i] = u64(0)
        mask = sum(1 << i for i in range(1, 29) if int(f.x[i]) != before[i])
        assert int(f.elr) == brk_at + 4, "the handler must skip the BRK"
        return u64(mask)

    # -- running ------------------------------------------------------------------------------------------
    def boot(self, dtb: bytes) -> str:
        self.node.ram.write(DTB_ADDR, dtb)
        with self.machine.on_cpu(self.node, 0):
            try:
                hv_main(u64(DTB_ADDR))
            except PoweredOff:
                pass
            else:
                raise AssertionError("hv_main returned without powering off")
        return self.uart.text().replace("\r\n", "\n")
