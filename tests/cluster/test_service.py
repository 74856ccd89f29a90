"""The node's cluster service once a VM runs (pyhv/cluster/service.py): one lock, wake-ups, CPU 0's timer."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from pyhv.lang import SEQ_CST, u8, u32, u64
from pyhv.lang.machine import Machine, MockNode, current_cpu, current_node, write_memory

from pyhv.arch.timer import CNTHP_CTL_ENABLE
from pyhv.cluster.clocksync import CLOCK_SYSREG_OPS, clocksync_set_ops
from pyhv.cluster.nic import NicOps, nic_set
from pyhv.cluster.node import cluster_init
from pyhv.cluster.wire import wire_stats
from pyhv.cluster.service import (
    ServiceOps, service_irq, service_poll, service_set_ops, service_wait_mark, service_wait_unmark,
)
from pyhv.cluster.servicelock import service_start, service_state
from pyhv.core.printk import ConsoleOps, printk_set_console

from tests.cluster.conftest import MAC, _config


@dataclass
class Node:
    machine: Machine
    node: MockNode
    frames: list[bytes] = field(default_factory=list)      # what the NIC will hand out, oldest first
    woken: list[int] = field(default_factory=list)
    after_polls: list[int] = field(default_factory=list)  # ServiceOps.after_poll calls
    nic_polls: int = 0
    on_poll: list[object] = field(default_factory=list)    # callables run inside the NIC poll


def _putc(c: u8) -> None:
    current_node().console.append(int(c))


@pytest.fixture
def node() -> Iterator[Node]:
    m = Machine()
    n = Node(m, m.add_node(cpus=2))
    for cpu in n.node.cpus:
        cpu.sysregs["cntfrq_el0"] = 62_500_000
        cpu.sysregs["cntpct_el0"] = 1000

    def poll(addr: u64, size: u32) -> u32:
        n.nic_polls += 1
        for fn in n.on_poll:
            assert callable(fn)
            fn()
        if not n.frames:
            return u32(0)
        f = n.frames.pop(0)
        write_memory(int(addr), f)
        return u32(len(f))

    with m.on_cpu(n.node, 0):
        printk_set_console(ConsoleOps(putc=_putc))
        nic_set(NicOps(send=lambda a, s: u32(0), poll=poll, mtu=lambda: u32(9000), mac=lambda: u64(MAC)))
        clocksync_set_ops(CLOCK_SYSREG_OPS)
        cluster_init(_config())
        service_set_ops(ServiceOps(this_cpu=lambda: u32(current_cpu().index),
                                   wake_cpu=lambda i: n.woken.append(int(i)),
                                   after_poll=lambda: n.after_polls.append(1),
                                   next_deadline=lambda: u64(0xFFFFFFFFFFFFFFFF)))
        yield n


def test_a_poll_that_handled_a_frame_wakes_every_sleeper_but_the_caller(node: Node) -> None:
    with node.machine.on_cpu(node.node, 1):
        service_wait_mark()
    service_wait_mark()                       # CPU 0 marked too: it is the poller, it is not woken
    node.frames.append(b"\x00" * 64)          # any frame counts as handled (this one is dropped as garbage)
    assert service_poll() == 1
    assert node.woken == [1]


def test_a_poll_that_found_nothing_wakes_nobody(node: Node) -> None:
    with node.machine.on_cpu(node.node, 1):
        service_wait_mark()
    assert service_poll() == 0
    assert node.woken == []


def test_an_unmarked_cpu_is_not_woken(node: Node) -> None:
    with node.machine.on_cpu(node.node, 1):
        service_wait_mark()
        service_wait_unmark()
    node.frames.append(b"\x00" * 64)
    service_poll()
    assert node.woken == []
    assert int(service_state().sleepers.load(SEQ_CST)) == 0


def test_cpu0_arms_its_el2_timer_after_a_poll_and_other_cpus_do_not(node: Node) -> None:
    service_poll()
    assert node.node.cpus[0].sysregs.get("cnthp_ctl_el2") == int(CNTHP_CTL_ENABLE)
    with node.machine.on_cpu(node.node, 1):
        service_poll()
    assert "cnthp_ctl_el2" not in node.node.cpus[1].sysregs


def test_the_interrupt_path_polls_only_once_the_vm_runs(node: Node) -> None:
    service_irq()
    assert node.nic_polls == 0
    service_start()
    service_irq()
    assert node.nic_polls >= 1
    assert int(service_state().irq_polls) == 1


def test_an_interrupt_taken_inside_the_service_does_not_reenter_it(node: Node) -> None:
    # Were it to take the lock again, the CPython lock would panic (self-deadlock), as the CPU would hang.
    service_start()
    node.on_poll.append(service_irq)
    node.frames.append(b"\x00" * 64)
    service_poll()
    assert int(service_state().irq_polls) == 0
    assert not service_state().lock.held()


def test_the_frame_reached_the_cluster_code(node: Node) -> None:
    node.frames.append(b"\x00" * 64)
    service_poll()
    assert int(wire_stats().rx_frames) == 1


def test_every_poll_runs_the_after_poll_hook_under_the_lock(node: Node) -> None:
    held: list[bool] = []
    service_set_ops(ServiceOps(this_cpu=lambda: u32(current_cpu().index), wake_cpu=lambda i: None,
                               after_poll=lambda: held.append(service_state().lock.held()),
                               next_deadline=lambda: u64(0xFFFFFFFFFFFFFFFF)))
    service_poll()
    node.frames.append(b"\x00" * 64)
    service_poll()
    assert held == [True, True]


def test_a_poll_asked_for_while_another_cpu_polls_is_left_to_that_cpu_and_not_lost(node: Node) -> None:
    # CPU 1 asks for a poll while CPU 0 runs one: CPU 1 returns at once, without the lock or the NIC, and
    # CPU 0 runs one more round for it (the frame that arrived meanwhile is handled before CPU 0 returns).
    asked: list[int] = []

    def cpu1_polls() -> None:
        if asked:
            return
        node.frames.append(b"\x00" * 64)
        with node.machine.on_cpu(node.node, 1):
            asked.append(int(service_poll()))
            assert "cnthp_ctl_el2" not in node.node.cpus[1].sysregs

    node.on_poll.append(cpu1_polls)
    assert service_poll() == 1
    assert asked == [0]
    assert len(node.after_polls) == 2                     # two rounds: its own and the one CPU 1 asked for
    assert int(service_state().poll_skips.load(SEQ_CST)) == 1
    assert int(wire_stats().rx_frames) == 1
    assert int(service_state().poller.load(SEQ_CST)) == 0


def test_cpu0_that_leaves_its_poll_to_another_cpu_rearms_its_timer(node: Node) -> None:
    # CPU 0's own poll would re-arm its cluster timer; when another CPU polls instead, CPU 0 arms it soon.
    skipped: list[int] = []

    def cpu0_polls() -> None:
        if skipped:
            return
        with node.machine.on_cpu(node.node, 0):
            skipped.append(int(service_poll()))

    node.on_poll.append(cpu0_polls)
    with node.machine.on_cpu(node.node, 1):
        service_poll()
    assert skipped == [0]
    assert node.node.cpus[0].sysregs.get("cnthp_ctl_el2") == int(CNTHP_CTL_ENABLE)
    assert int(service_state().poll_skips.load(SEQ_CST)) == 1
    assert len(node.after_polls) == 2


def test_polls_one_after_the_other_each_run_their_own_round(node: Node) -> None:
    service_poll()
    with node.machine.on_cpu(node.node, 1):
        service_poll()
    service_poll()
    assert len(node.after_polls) == 3
    assert int(service_state().poll_skips.load(SEQ_CST)) == 0
