"""The node's one CNTVOFF (pyhv/core/clock.py): loaded by every CPU at vCPU entry and reloaded on the way
into the guest when it changed, forward-only once the guest runs, a change kicks the other CPUs; and the
causality helpers clock_stamp / clock_hold_until."""

from __future__ import annotations

from pyhv.lang import u8, u32, u64
from pyhv.lang.machine import MockCpu

from pyhv.arch.frame import TrapFrame
from pyhv.arch.gic import GicOps, gic_set_driver
from pyhv.core.clock import (
    CLOCK_KICK_SGI, clock_cntvoff, clock_cpu_cntvoff, clock_cpu_enter, clock_hold_until, clock_reload,
    clock_set_cntvoff, clock_stamp, clock_stats,
)
from pyhv.core.hostinfo import hostinfo
from pyhv.core.vcpu import VCPU_KICK_SGI, vcpu_trap_sync
from pyhv.core.vm_devices import VM_OK, vm_setup_devices
from pyhv.core.vmconfig import vmconfig_single_node
from pyhv.core.vmstate import vm_state

from .conftest import Node


def _sgis(node: Node) -> list[tuple[int, int]]:
    sent: list[tuple[int, int]] = []
    gic_set_driver(GicOps(probe=lambda n: True, init_dist=lambda: None, init_cpu=lambda: None,
                          enable_ppi=lambda i, p: None, ack=lambda: u32(1023), eoi=lambda i: None,
                          nr_irqs=lambda: u32(64), version=lambda: u32(3), enable_sgi=lambda i, p: None,
                          send_sgi=lambda m, i: sent.append((int(m), int(i))), enable_spi=lambda i, p: None,
                          disable_ppi=lambda i: None))
    info = hostinfo()
    info.ncpus = u32(2)
    info.cpus[0].mpidr = u64(0x0)
    info.cpus[1].mpidr = u64(0x1)
    node.node.cpus[0].sysregs["mpidr_el1"] = 0x8000_0000
    node.node.cpus[1].sysregs["mpidr_el1"] = 0x8000_0001
    return sent


def test_the_kick_is_the_vcpu_kick_sgi() -> None:
    assert int(CLOCK_KICK_SGI) == int(VCPU_KICK_SGI)


def test_before_the_guest_runs_a_value_is_written_to_this_cpu_at_once_and_may_go_either_way(node: Node) -> None:
    assert clock_set_cntvoff(u64(5000))
    assert node.cpu.sysregs["cntvoff_el2"] == 5000
    assert clock_set_cntvoff(u64(9000))                         # backwards is fine before the guest starts
    assert node.cpu.sysregs["cntvoff_el2"] == 9000 and int(clock_cntvoff()) == 9000


def test_every_cpu_loads_the_node_value_at_entry_and_reloads_when_it_changes(node: Node) -> None:
    sent = _sgis(node)
    clock_set_cntvoff(u64(9000))
    assert int(clock_cpu_enter()) == 9000                       # CPU 0 enters its vCPU
    with node.machine.on_cpu(node.node, 1):
        assert int(clock_cpu_enter()) == 9000                   # and CPU 1: the same value
    assert clock_set_cntvoff(u64(8000))                         # a forward step, made on CPU 0
    assert sent == [(0x1, int(CLOCK_KICK_SGI))]                 # only the other CPU is kicked
    assert node.cpu.sysregs.get("cntvoff_el2") == 9000          # not yet: at the next entry
    assert clock_reload() and node.cpu.sysregs["cntvoff_el2"] == 8000
    assert not clock_reload()                                   # nothing new
    with node.machine.on_cpu(node.node, 1) as cpu1:
        assert int(clock_cpu_cntvoff()) == 9000
        assert clock_reload() and cpu1.sysregs["cntvoff_el2"] == 8000 and int(clock_cpu_cntvoff()) == 8000


def test_once_the_guest_runs_the_counter_never_steps_back(node: Node) -> None:
    clock_set_cntvoff(u64(9000))
    clock_cpu_enter()
    assert not clock_set_cntvoff(u64(9001))                     # guest counter would go back by one tick
    assert int(clock_cntvoff()) == 9000 and int(clock_stats().refused) == 1
    assert not clock_reload()
    assert clock_set_cntvoff(u64(9000))                         # the same value is allowed


def test_a_guest_exit_reloads_a_changed_cntvoff(node: Node) -> None:
    vmconfig_single_node(vm_state().cfg, u32(1), u32(1), u64(256 << 20), u32(3))
    vm_state().ram_host_base = u64(0x4100_0000)
    assert vm_setup_devices() == VM_OK
    clock_set_cntvoff(u64(9000))
    clock_cpu_enter()
    clock_set_cntvoff(u64(7000))
    f = TrapFrame()
    f.esr, f.elr, f.spsr = u64(0x16 << 26 | 1 << 25), u64(0x1000), u64(0x3C5)
    f.x[0] = u64(0x8400_0000)                                   # PSCI_VERSION: any exit will do
    vcpu_trap_sync(f)
    assert node.cpu.sysregs["cntvoff_el2"] == 7000


class Ticker:
    """The physical counter advancing by `step` ticks at every wait (cpu_relax) of the CPU."""

    def __init__(self, node: Node, start: int, step: int) -> None:
        self.now, self.step, self.waits = start, step, 0
        node.cpu.read_hooks["cntpct_el0"] = lambda: self.now
        node.machine.wait_hook = self.tick

    def tick(self, cpu: MockCpu, kind: str) -> None:
        self.waits += 1
        self.now += self.step


def test_a_stamp_is_the_nodes_guest_counter(node: Node) -> None:
    Ticker(node, 50_000, 0)
    clock_set_cntvoff(u64(20_000))
    assert int(clock_stamp()) == 30_000


def test_hold_until_waits_for_the_counter_to_pass_the_stamp(node: Node) -> None:
    t = Ticker(node, 50_000, 10)
    clock_set_cntvoff(u64(20_000))
    clock_cpu_enter()
    clock_hold_until(u64(30_500), u64(1_000_000))               # 500 ticks ahead
    assert t.now - 20_000 >= 30_500 and t.waits == 50
    assert int(clock_cntvoff()) == 20_000                       # waited, did not step
    st = clock_stats()
    assert int(st.holds) == 1 and int(st.hold_ticks) == 500 and int(st.hold_steps) == 0


def test_hold_until_a_stamp_in_the_past_returns_at_once(node: Node) -> None:
    t = Ticker(node, 50_000, 10)
    clock_set_cntvoff(u64(20_000))
    clock_hold_until(u64(29_000), u64(1_000_000))
    clock_hold_until(u64(30_000), u64(1_000_000))               # equal: the counter is not earlier
    assert t.waits == 0 and int(clock_stats().holds) == 0


def test_a_stamp_beyond_the_hold_limit_steps_the_node_forward_with_a_warning(node: Node) -> None:
    t = Ticker(node, 50_000, 10)
    clock_set_cntvoff(u64(20_000))
    clock_cpu_enter()
    clock_hold_until(u64(40_000), u64(1_000))                   # 10 000 ticks ahead, limit 1 000
    assert t.waits == 0
    assert int(clock_stamp()) == 40_000 and int(clock_stats().hold_steps) == 1
    assert "guest counter stepped forward" in node.text()
