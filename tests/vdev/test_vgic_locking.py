"""vGIC locking (pyhv/vdev/vgic.py "Locking"): per-vCPU and per-interrupt locks instead of one VM lock.

Mock CPUs run one at a time; an interleaving is forced by holding a lock on one CPU (a CPU caught inside
its critical section) and letting the machine's wait hook run the other CPU's work at the point where it
would spin. With no wait hook installed, any contended lock panics, which proves that a path did not
touch a lock held elsewhere."""

from __future__ import annotations

from collections.abc import Callable

from pyhv.lang import u32
from pyhv.lang.machine import MockCpu

from pyhv.vdev.vgic import VGIC_NO_VCPU, vgic_inject, vgic_irq, vgic_send_sgi, vgic_state
from pyhv.vdev.vgic_lr import vgic_flush_to_lrs, vgic_sync_from_lrs

from .conftest import KICKS, Vm
from .helpers import gicd_write, map_gic

SPI = 40


def _setup(vm: Vm, route: int) -> None:
    # Enable SPI 40 (edge) and SGIs 0-15 of every vCPU; route the SPI to vCPU `route` (GICv3 IROUTER).
    map_gic(3, 4)
    gicd_write(0, 0x000, 0x3)
    gicd_write(0, 0xC00 + SPI // 16 * 4, 2 << (SPI % 16) * 2)
    gicd_write(0, 0x100 + 4, 1 << (SPI - 32))
    gicd_write(0, 0x6000 + 8 * SPI, route, 8)
    for v in range(4):
        vgic_state().vcpus[v].private[1].enabled = True
    KICKS.clear()


def _route(vcpu: int) -> None:
    gicd_write(0, 0x6000 + 8 * SPI, vcpu, 8)


def _listed(vcpu: int) -> list[int]:
    c = vgic_state().vcpus[vcpu]
    return [int(c.ap_list[i]) for i in range(int(c.ap_count))]


def _deliver(vm: Vm, cpu: int) -> list[int]:
    # One guest entry/exit of `cpu`: flush, the guest acks and EOIs everything, sync.
    vgic_flush_to_lrs(u32(cpu))
    acked = []
    while (intid := vm.guest_ack(cpu)) is not None:
        acked.append(intid)
    for intid in acked:
        vm.guest_eoi(cpu, intid)
    vgic_sync_from_lrs(u32(cpu))
    return acked


def _hold_vcpu_lock(vm: Vm, vcpu: int) -> Callable[[], None]:
    # vCPU `vcpu`'s CPU enters its lock (as inside sync/flush) and stays there; returns the release.
    lock = vgic_state().vcpus[vcpu].lock
    with vm.on(vcpu):
        lock.__enter__()

    def release() -> None:
        with vm.on(vcpu):
            lock.__exit__(None, None, None)
    return release


def test_exit_and_entry_of_one_vcpu_do_not_touch_another_vcpus_lock(vm3: Vm) -> None:
    _setup(vm3, route=0)
    release = _hold_vcpu_lock(vm3, 1)              # CPU 1 is inside its own flush
    assert vm3.machine.wait_hook is None            # a contended lock would panic
    with vm3.on(0):
        assert vgic_inject(u32(0), u32(SPI), True)
        assert vgic_send_sgi(u32(0), u32(0), u32(1))
        assert sorted(_deliver(vm3, 0)) == [1, SPI]
        assert vgic_send_sgi(u32(0), u32(2), u32(1))  # to a third vCPU: its lock only
    release()
    assert KICKS == [0, 0, 2]
    assert _listed(2) == [1]


def test_sgi_into_a_vcpu_inside_its_sync_waits_for_its_lock_then_kicks(vm3: Vm) -> None:
    _setup(vm3, route=0)
    release = _hold_vcpu_lock(vm3, 0)
    waits: list[tuple[int, str]] = []

    def hook(cpu: MockCpu, kind: str) -> None:
        waits.append((cpu.index, kind))
        release()                                   # CPU 0 leaves its critical section

    vm3.machine.wait_hook = hook
    with vm3.on(1):
        assert vgic_send_sgi(u32(1), u32(0), u32(1))
    assert waits == [(1, "spinlock")]
    assert KICKS == [0] and _listed(0) == [1]
    vm3.machine.wait_hook = None
    with vm3.on(0):
        assert _deliver(vm3, 0) == [1]


def test_spi_rerouted_while_injector_waits_for_old_target_lands_on_new_target(vm3: Vm) -> None:
    # CPU 1 injects the SPI, routed to vCPU 0, and waits for vCPU 0's lock. Meanwhile CPU 2 has stored a
    # new route (vCPU 2) but not yet queued. A scheme that queued on the target read before waiting would
    # list the SPI on vCPU 0; the re-check after taking the lock must send it to vCPU 2.
    _setup(vm3, route=0)
    release = _hold_vcpu_lock(vm3, 0)
    irq = vgic_irq(u32(0), u32(SPI))

    def hook(cpu: MockCpu, kind: str) -> None:
        with vm3.on(2):
            with irq.lock:
                irq.route_mpidr = irq.route_mpidr & 0 | 2   # first half of CPU 2's IROUTER write
        release()

    vm3.machine.wait_hook = hook
    with vm3.on(1):
        assert vgic_inject(u32(1), u32(SPI), True)
    vm3.machine.wait_hook = None
    assert _listed(0) == [] and _listed(2) == [SPI]
    assert KICKS == [2]
    with vm3.on(2):
        _route(2)                                   # second half: already queued, nothing more
        assert _listed(2) == [SPI]
        assert _deliver(vm3, 2) == [SPI]
    with vm3.on(0):
        assert _deliver(vm3, 0) == []


def test_edge_raised_while_owner_reads_its_lrs_is_delivered(vm3: Vm) -> None:
    # The SPI was delivered and EOI'd; while CPU 0 reads its LRs on the way out (no lock held), CPU 1
    # raises the edge again. It finds the SPI still listed on vCPU 0 and in one of its LRs, so it kicks
    # (it cannot tell that vCPU 0 is already on its way out); the fold must not drop the new edge.
    _setup(vm3, route=0)
    with vm3.on(0):
        vgic_flush_to_lrs(u32(0))
        assert vgic_inject(u32(0), u32(SPI), True)
        vgic_sync_from_lrs(u32(0))
        vgic_flush_to_lrs(u32(0))
        assert vm3.guest_ack(0) == SPI
        vm3.guest_eoi(0, SPI)
    cpu0 = vm3.cpu(0)

    def lr0_read() -> int:
        with vm3.on(1):
            assert vgic_inject(u32(1), u32(SPI), True)
        return cpu0.sysregs.get("ich_lr0_el2", 0)

    cpu0.read_hooks["ich_lr0_el2"] = lr0_read
    KICKS.clear()
    with vm3.on(0):
        vgic_sync_from_lrs(u32(0))
        del cpu0.read_hooks["ich_lr0_el2"]
        assert KICKS == [0] and _listed(0) == [SPI]
        assert _deliver(vm3, 0) == [SPI]
        assert _listed(0) == []


def test_rerouted_spi_moves_at_sync_without_holding_two_vcpu_locks(vm3: Vm) -> None:
    # The SPI is pending in vCPU 0's LR when the guest routes it to vCPU 1; vCPU 0's next sync moves it.
    # vCPU 1's lock is held by CPU 1 at that moment: CPU 0 must wait for it with its own lock released.
    _setup(vm3, route=0)
    with vm3.on(0):
        assert vgic_inject(u32(0), u32(SPI), True)
        vgic_flush_to_lrs(u32(0))
        _route(1)                                   # listed on vCPU 0: moved at its next sync
        assert _listed(0) == [SPI] and KICKS == [0]
    release = _hold_vcpu_lock(vm3, 1)
    held_while_waiting: list[bool] = []

    def hook(cpu: MockCpu, kind: str) -> None:
        held_while_waiting.append(vgic_state().vcpus[0].lock.held())
        release()

    vm3.machine.wait_hook = hook
    with vm3.on(0):
        vgic_sync_from_lrs(u32(0))
    vm3.machine.wait_hook = None
    assert held_while_waiting == [False]
    assert _listed(0) == [] and _listed(1) == [SPI]
    assert int(vgic_irq(u32(0), u32(SPI)).list_vcpu) == 1
    assert KICKS == [0, 1]
    with vm3.on(1):
        assert _deliver(vm3, 1) == [SPI]
        assert int(vgic_irq(u32(1), u32(SPI)).list_vcpu) == VGIC_NO_VCPU


def test_sgi_raised_again_while_the_last_one_is_in_an_lr_kicks_the_target(vm3: Vm) -> None:
    # vCPU 1 acked IPI 1 and is handling it (active in an LR); vCPU 0 sends IPI 1 again. The SGI is still
    # listed on vCPU 1, so nothing is queued, but vCPU 1 may EOI and idle in an untrapped WFI: without a
    # kick the new IPI would wait for vCPU 1's next unrelated exit.
    _setup(vm3, route=0)
    with vm3.on(1):
        assert vgic_send_sgi(u32(0), u32(1), u32(1))
        vgic_flush_to_lrs(u32(1))
        assert vm3.guest_ack(1) == 1
    KICKS.clear()
    with vm3.on(0):
        assert vgic_send_sgi(u32(0), u32(1), u32(1))
    assert KICKS == [1]
    with vm3.on(1):
        vm3.guest_eoi(1, 1)
        vgic_sync_from_lrs(u32(1))                  # the kick's exit
        assert _deliver(vm3, 1) == [1]
