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

from pyhv.lang import SEQ_CST, Ops, OpsSlot, irq_wait, range, u8, u16, u32, u64

from pyhv.arch.timer import timer_arm_ticks, timer_now
from pyhv.cluster.idle import TIMER_TVAL_MAX
from pyhv.cluster.node import cluster_next_deadline, cluster_poll
from pyhv.cluster.requests import (
    REPLY_PENDING, TRANSPORT_ERR_NO_SLOT, Reply, request_table, transport_poll_reply, transport_request,
)
from pyhv.cluster.servicelock import ServiceState, service_cpu, service_state
from pyhv.cluster.table import cluster_cfg, ticks_from_us
from pyhv.cluster.transport import TRANSPORT_ERR_BUSY, transport_send

SERVICE_MAX_CPUS: Final = u32(32)   # CPUs of one node the sleeper mask can name
POLL_SKIP_REARM_US: Final = u32(100)    # CPU 0's cluster timer after it left a poll to another CPU


class ServiceOps(Ops):
    # What the service needs from the node it runs on (the image: pyhv/core/vm_cluster.py; tests: mocks).
    this_cpu: Callable[[], u32]         # index of the calling physical CPU on this node
    wake_cpu: Callable[[u32], None]     # make that CPU leave irq_wait() / the guest (a physical SGI)
    after_poll: Callable[[], None]      # under the lock after every poll (the DSM's and the VM's timers)
    next_deadline: Callable[[], u64]    # the earliest of those timers (counter ticks; all ones: none)


_ops: Final = OpsSlot(ServiceOps)


def service_set_ops(ops: ServiceOps) -> None:
    _ops.set(ops)


def _wake_sleepers(st: ServiceState) -> None:
    me = _ops.get().this_cpu()
    mask = st.sleepers.load(SEQ_CST)
    for i in range(u32(0), SERVICE_MAX_CPUS):
        if (mask & (u32(1) << i)) != 0 and i != me:
            st.wakes += 1
            _ops.get().wake_cpu(i)


def service_next_deadline() -> u64:
    # The earliest counter value at which the cluster or the node's own timers (ServiceOps.next_deadline:
    # the DSM's holds) have work; all ones: none.
    deadline = cluster_next_deadline()
    own = _ops.get().next_deadline()
    return own if own < deadline else deadline


def _arm_cluster_timer() -> None:
    # CPU 0 only: its EL2 timer fires at the next cluster deadline (capped at idle_max_us), in the guest too.
    now = timer_now()
    deadline = service_next_deadline()
    limit = now + ticks_from_us(cluster_cfg().idle_max_us)
    if deadline > limit:
        deadline = limit
    ticks = deadline - now if deadline > now else u64(1)
    if ticks > TIMER_TVAL_MAX:
        ticks = TIMER_TVAL_MAX
    timer_arm_ticks(ticks)


def service_poll() -> u32:
    # Poll the cluster (frames, then the timers) and wake the sleepers if anything arrived; the frames this
    # CPU handled. Only one CPU polls at a time: a CPU that finds another one polling leaves the round to it
    # (returns 0 at once) instead of queueing on the lock behind it — on a node of several CPUs the waiters
    # would otherwise spend their time spinning on the lock (measured: about half of every CPU's time at
    # 2 vCPUs per node, docs/bench.md). The request is not lost: `poll_wanted` is set before the poller
    # flag is tried and the poller re-reads it after it lets the flag go, so one of the two runs one more
    # round (both sides SEQ_CST: a store then a load of the other's variable, each in program order).
    st = service_state()
    handled = u32(0)
    st.poll_wanted.store(u32(1), SEQ_CST)
    while st.poll_wanted.load(SEQ_CST) != 0:
        if not st.poller.cas(u32(0), u32(1), SEQ_CST):
            st.poll_skips.fetch_add(u32(1), SEQ_CST)
            if _ops.get().this_cpu() == 0:
                _rearm_soon()
            break
        st.poll_wanted.store(u32(0), SEQ_CST)
        handled += _poll_round(st)
        st.poller.store(u32(0), SEQ_CST)
    if handled != 0:
        _wake_sleepers(st)
    return handled


def _poll_round(st: ServiceState) -> u32:
    c = service_cpu()
    handled = u32(0)
    with st.lock:
        c.inside = True
        handled = cluster_poll()
        _ops.get().after_poll()
        st.polls += 1
        if _ops.get().this_cpu() == 0:
            _arm_cluster_timer()
        c.inside = False
    return handled


def _rearm_soon() -> None:
    # CPU 0 left its poll to another CPU: that poll does not re-arm CPU 0's cluster timer, and a timer that
    # fired stays asserted; a short re-arm brings CPU 0 back for its own round soon (without reading the
    # cluster's deadlines, which would need the lock).
    timer_arm_ticks(ticks_from_us(POLL_SKIP_REARM_US))


def service_irq() -> None:
    # CPU 0's NIC interrupt or EL2 timer while the VM runs (from the vCPU IRQ path, IRQs masked).
    st = service_state()
    if not st.active or service_cpu().inside:
        return
    st.irq_polls += 1
    service_poll()


def _set_sleeper(on: bool) -> None:
    # ARMv8.0 has no atomic OR: a compare-and-swap loop over the mask.
    st = service_state()
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


# --- waiting for the cluster from a vCPU's trap (any CPU) -------------------------------------------------------

def service_wait_once() -> None:
    # One round of a wait whose condition the caller has just found false, after service_wait_mark():
    # poll; if nothing arrived, sleep until an interrupt (a wake SGI from whoever polls next, or on CPU 0
    # the NIC / the cluster timer). The caller re-checks its condition after it.
    if service_poll() == 0:
        service_wait_sleep()
    else:
        service_wait_unmark()


def service_wait_reply(req_id: u32, out: Reply) -> u32:
    # Wait for the reply to req_id (transport_wait_reply for a node whose CPUs share the cluster code):
    # TRANSPORT_OK with the reply in `out`, TRANSPORT_ERR_PEER_LOST or TRANSPORT_ERR_NO_REQUEST.
    st = service_state()
    while True:
        service_wait_mark()
        r = REPLY_PENDING
        with st.lock:
            service_cpu().inside = True
            r = transport_poll_reply(req_id, out)
            service_cpu().inside = False
        if r != REPLY_PENDING:
            service_wait_unmark()
            return r
        service_wait_once()


def service_request(dst: u16, msg_type: u32, payload: u64, length: u32) -> u32:
    # transport_request from a vCPU's trap: while every request slot is busy or the send backlog is at its
    # reserve, serve the cluster until one frees. The request id, or 0 if dst cannot be reached.
    st = service_state()
    while True:
        req = u32(0)
        err = u32(0)
        with st.lock:
            service_cpu().inside = True
            req = transport_request(dst, msg_type, payload, length)
            err = request_table().last_err
            service_cpu().inside = False
        if req != 0:
            return req
        if err != TRANSPORT_ERR_BUSY and err != TRANSPORT_ERR_NO_SLOT:
            return u32(0)
        service_wait_mark()
        service_wait_once()


def service_send(dst: u16, msg_type: u32, flags: u8, req_id: u32, payload: u64, length: u32) -> u32:
    # transport_send from a vCPU's trap: waits (serving the cluster) while the send backlog is at its
    # reserve; returns what transport_send returns, never TRANSPORT_ERR_BUSY.
    st = service_state()
    while True:
        r = u32(0)
        with st.lock:
            service_cpu().inside = True
            r = transport_send(dst, msg_type, flags, req_id, payload, length)
            service_cpu().inside = False
        if r != TRANSPORT_ERR_BUSY:
            return r
        service_wait_mark()
        service_wait_once()
