# The node's cluster service once a VM runs (docs/cluster-vm.md, "Who runs the cluster code"). Before the
# guest starts, the cluster code runs on CPU 0 alone (pyhv/cluster/boot.py). Once vCPUs run, any CPU may need
# it: a vCPU waiting for a page or for a remote device's answer, CPU 0 taking the NIC interrupt or its EL2
# timer while it runs the guest. One spinlock serialises every entry into the cluster code on this node
# (poll, send, the DSM and remote-device entry points, and therefore every message handler):
#
#   lock order: service lock -> stage-2 lock -> vGIC locks      (handlers map pages and queue interrupts)
#
# Nothing sleeps or waits while holding the service lock: handlers never wait, and the waits below drop
# the lock before they sleep. An interrupt that arrives while this CPU is inside the service (only
# possible if cluster code ever unmasks, which it must not) is acknowledged and left to the running poll.
#
# Wake-ups. CPU 0 owns the NIC's receive interrupt and the cluster timers: after every poll its EL2 timer is
# armed at cluster_next_deadline(), so retransmissions and keepalives run even while CPU 0 is in the guest.
# A CPU that waits for something (service_wait_*) first sets its bit in `sleepers`, then re-checks its
# condition, then sleeps in irq_wait(). Whoever polls and handles at least one frame sends the wake SGI to
# every sleeper. The order (set bit, check, sleep / complete, read bits, send) leaves no lost wake-up: a
# waiter either sees the completion or its bit is seen, and an SGI sent before its WFI stays pending at
# the GIC and ends the WFI at once.

from typing import Callable, Final

from pyhv.lang import SEQ_CST, Atomic, Ops, OpsSlot, PerCpu, SpinLock, Static, Struct, irq_wait, range, u32, u64

from pyhv.arch.timer import timer_arm_ticks, timer_now
from pyhv.cluster.idle import TIMER_TVAL_MAX
from pyhv.cluster.node import cluster_next_deadline, cluster_poll
from pyhv.cluster.table import cluster_cfg, ticks_from_us

SERVICE_MAX_CPUS: Final = u32(32)   # CPUs of one node the sleeper mask can name


class ServiceOps(Ops):
    # What the service needs from the node it runs on (the image: pyhv/core/vm_cluster.py; tests: mocks).
    this_cpu: Callable[[], u32]         # index of the calling physical CPU on this node
    wake_cpu: Callable[[u32], None]     # make that CPU leave irq_wait() / the guest (a physical SGI)


class ServiceState(Struct):
    lock: SpinLock
    active: bool            # set once the VM runs: the NIC interrupt and CPU 0's EL2 timer poll
    sleepers: Atomic[u32]   # bit i: CPU i sleeps in service_wait_sleep and wants a wake-up
    polls: u64              # polls run (from waits and interrupts)
    irq_polls: u64          # polls run from CPU 0's interrupt path
    wakes: u64              # wake SGIs sent


class ServiceCpu(Struct):
    inside: bool            # this CPU holds the service lock (an interrupt must not re-enter it)


_svc: Final = Static(ServiceState)
_cpu: Final = PerCpu(ServiceCpu)
_ops: Final = OpsSlot(ServiceOps)


def service_set_ops(ops: ServiceOps) -> None:
    _ops.set(ops)


def service_state() -> ServiceState:
    # The entry points of the DSM and the remote-device code take `with service_state().lock:` around a
    # call that sends or changes cluster state; never across a wait.
    return _svc.get()


def service_start() -> None:
    # The VM is about to run: from now on the interrupt path polls, and waits take the lock.
    _svc.get().active = True


def service_active() -> bool:
    return _svc.get().active


def _wake_sleepers(st: ServiceState) -> None:
    me = _ops.get().this_cpu()
    mask = st.sleepers.load(SEQ_CST)
    for i in range(u32(0), SERVICE_MAX_CPUS):
        if (mask & (u32(1) << i)) != 0 and i != me:
            st.wakes += 1
            _ops.get().wake_cpu(i)


def _arm_cluster_timer() -> None:
    # CPU 0 only: its EL2 timer fires at the next cluster deadline (capped at idle_max_us), in the guest too.
    now = timer_now()
    deadline = cluster_next_deadline()
    limit = now + ticks_from_us(cluster_cfg().idle_max_us)
    if deadline > limit:
        deadline = limit
    ticks = deadline - now if deadline > now else u64(1)
    if ticks > TIMER_TVAL_MAX:
        ticks = TIMER_TVAL_MAX
    timer_arm_ticks(ticks)


def service_poll() -> u32:
    # Poll once under the lock (frames, then the timers); wake the sleepers if anything arrived. Returns the
    # frames handled. CPU 0 re-arms its cluster timer.
    st = _svc.get()
    c = _cpu.get()
    handled = u32(0)
    with st.lock:
        c.inside = True
        handled = cluster_poll()
        st.polls += 1
        if _ops.get().this_cpu() == 0:
            _arm_cluster_timer()
        c.inside = False
    if handled != 0:
        _wake_sleepers(st)
    return handled


def service_irq() -> None:
    # CPU 0's NIC interrupt or EL2 timer while the VM runs (from the vCPU IRQ path, IRQs masked).
    st = _svc.get()
    if not st.active or _cpu.get().inside:
        return
    st.irq_polls += 1
    service_poll()


def _set_sleeper(on: bool) -> None:
    # ARMv8.0 has no atomic OR: a compare-and-swap loop over the mask.
    st = _svc.get()
    bit = u32(1) << _ops.get().this_cpu()
    while True:
        old = st.sleepers.load(SEQ_CST)
        new = (old | bit) if on else (old & ~bit)
        if st.sleepers.cas(old, new, SEQ_CST):
            return


def service_wait_mark() -> None:
    # First half of a wait: announce that this CPU will sleep. The caller then re-checks its condition and
    # either calls service_wait_sleep() or service_wait_unmark().
    _set_sleeper(True)


def service_wait_unmark() -> None:
    _set_sleeper(False)


def service_wait_sleep() -> None:
    # Second half: sleep until any interrupt (a wake SGI, or on CPU 0 the NIC / the cluster timer).
    irq_wait()
    service_wait_unmark()
