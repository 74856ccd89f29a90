# The node-wide lock of the cluster service and the per-CPU "inside" mark (docs/cluster-vm.md, "Who runs the
# cluster code"; the waits and the polling are in service.py). Kept apart from service.py so that code the
# message handlers themselves call (the vGIC's and the remote-device code's sends) can use it without an
# import cycle through the message table.
#
# `inside` is set by every section that holds the lock, so code that may run either in a handler (under the
# lock) or in a vCPU's trap (outside it) can tell which: service_send_any.

from typing import Final

from pyhv.lang import Atomic, PerCpu, SpinLock, Static, Struct, u8, u16, u32, u64

from pyhv.cluster.transport import transport_send


class ServiceState(Struct):
    lock: SpinLock
    active: bool            # set once the VM runs: the NIC interrupt and CPU 0's EL2 timer poll
    sleepers: Atomic[u32]   # bit i: CPU i sleeps in service_wait_sleep and wants a wake-up
    poller: Atomic[u32]     # 1 while a CPU runs service_poll's rounds (the others leave the polling to it)
    poll_wanted: Atomic[u32]    # 1: a poll was asked for since the poller's last round began
    poll_skips: Atomic[u32]     # polls left to the CPU that was polling already
    polls: u64              # polls run (from waits and interrupts)
    irq_polls: u64          # polls run from CPU 0's interrupt path
    wakes: u64              # wake SGIs sent


class ServiceCpu(Struct):
    inside: bool            # this CPU holds the service lock (an interrupt must not re-enter it)


_svc: Final = Static(ServiceState)
_cpu: Final = PerCpu(ServiceCpu)


def service_state() -> ServiceState:
    # Code outside service.py that takes `with service_state().lock:` sets service_cpu().inside inside it.
    return _svc.get()


def service_cpu() -> ServiceCpu:
    return _cpu.get()


def service_start() -> None:
    # The VM is about to run: from now on the interrupt path polls, and sends from vCPU traps take the lock.
    _svc.get().active = True


def service_active() -> bool:
    return _svc.get().active


def service_send_any(dst: u16, msg_type: u32, flags: u8, req_id: u32, payload: u64, length: u32) -> u32:
    # transport_send from code that runs in a message handler (this CPU holds the lock) or in a vCPU's trap
    # (it does not): takes the lock only in the second case. Never waits (see transport_send). The caller
    # holds no vGIC lock (lock order: service -> stage 2 -> vGIC).
    c = _cpu.get()
    st = _svc.get()
    if c.inside or not st.active:
        return transport_send(dst, msg_type, flags, req_id, payload, length)
    r = u32(0)
    with st.lock:
        c.inside = True
        r = transport_send(dst, msg_type, flags, req_id, payload, length)
        c.inside = False
    return r
