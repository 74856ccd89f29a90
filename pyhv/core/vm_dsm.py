# The DSM's hardware side on the image (docs/dsm.md "Interface for the image"; docs/cluster-vm.md): the
# DsmOps that change this node's stage 2 (break-before-make with inner-shareable TLB invalidation in
# pyhv/arch/stage2.py; a page pyhv wrote is cleaned to the point of coherency and, being executable, synced
# with the I-cache before it is mapped), the exclusive-monitor kick, the wake SGI, and the stage-2 fault hook
# a vCPU takes on guest RAM: dsm_fault_begin under the service lock, then poll for FAULT_SPIN_US and sleep
# between polls until the page is here (other nodes are served meanwhile, by whichever CPU polls).

from typing import Final

from pyhv.lang import SEQ_CST, Atomic, Static, Struct, dc_op, dsb, kprint, range, u32, u64

from pyhv.arch.abort import ABORT_KIND_EXEC, ABORT_KIND_WALK, ABORT_KIND_WRITE
from pyhv.arch.gic import gic_send_sgi
from pyhv.arch.stage2 import stage2_map_page, stage2_set_perm, stage2_sync_icache, stage2_unmap_page
from pyhv.arch.stage2_desc import S2_EXEC, S2_READ, S2_WRITE
from pyhv.arch.timer import timer_freq_hz, timer_now
from pyhv.cluster.service import service_poll, service_wait_mark, service_wait_once, service_wait_unmark
from pyhv.cluster.servicelock import service_cpu, service_state
from pyhv.core.guestfault import GUESTFAULT_HANDLED, GUESTFAULT_NOT_HANDLED, GuestMemFaultOps
from pyhv.core.hostinfo import hostinfo
from pyhv.core.ratelimit import RateLimit, ratelimit_allow
from pyhv.core.vcpu import VCPU_KICK_SGI
from pyhv.core.vmstate import vm_cpu_index, vm_state
from pyhv.dsm.fault import dsm_fault_begin, dsm_fault_pending, dsm_fault_wait
from pyhv.dsm.types import (
    DSM_DONE, DSM_ERR_NODE_LOST, DSM_FAULT_EXEC, DSM_FAULT_READ, DSM_FAULT_WALK, DSM_FAULT_WRITE, DSM_PAGE_BYTES,
    DSM_PENDING, DSM_PERM_W, DSM_PERM_X, DsmOps,
)

CACHE_LINE_BYTES: Final = u64(64)
WARN_BURST: Final = u32(10)
FAULT_SPIN_US: Final = u32(200)         # default of pyhv.fault_spin_us: a faulting vCPU polls this long, then sleeps
SERVED_CHECK_EVERY: Final = u32(16)     # wait rounds between reads of the fault's state under the lock


class VmDsm(Struct):
    trace_every: u32        # pyhv.dsm_trace=K: print every K-th fault that had to wait (0: none)
    trace_count: u32
    lost_warn: RateLimit
    spin_us: u32            # pyhv.fault_spin_us (default FAULT_SPIN_US)
    served: Atomic[u32]     # bit v: local vCPU v's fault was served (set by the DSM's wake, under the lock)


_vd: Final = Static(VmDsm)


def vm_dsm_set_trace(every: u32, spin_us: u32) -> None:
    _vd.get().trace_every = every
    _vd.get().spin_us = spin_us


def _s2_perm(perm: u32) -> u32:
    p = S2_READ
    if (perm & DSM_PERM_W) != 0:
        p = p | S2_WRITE
    if (perm & DSM_PERM_X) != 0:
        p = p | S2_EXEC
    return p


def _clean_page_poc(pa: u64) -> None:
    # pyhv wrote the page through its cacheable mapping; a guest CPU running with its MMU off (a secondary
    # at its PSCI entry) reads memory non-cacheably: clean to the point of coherency first.
    off = u64(0)
    while off < DSM_PAGE_BYTES:
        dc_op("cvac", pa + off)
        off += CACHE_LINE_BYTES
    dsb("ish")


def _dsm_map(ipa: u64, pa: u64, perm: u32) -> None:
    _clean_page_poc(pa)
    if (perm & DSM_PERM_X) != 0:
        stage2_sync_icache(pa)
    stage2_map_page(ipa, pa, _s2_perm(perm))


def _dsm_unmap(ipa: u64) -> None:
    stage2_unmap_page(ipa)


def _dsm_protect(ipa: u64, perm: u32) -> None:
    stage2_set_perm(ipa, _s2_perm(perm))


def _dsm_monitor_clear(ipa: u64) -> None:
    # The page was taken away (or made read-only): every other CPU of this node that runs a vCPU takes the
    # kick, and its exception return clears its exclusive monitor (ARM DDI 0487: an exception return clears
    # the local monitor), so an STXR paired with an LDXR from before fails. This CPU returns through ERET
    # anyway. The kick is sent now, when the page goes; it can be mapped again only after a network round
    # trip, far longer than the SGI's delivery.
    for c in range(u32(0), hostinfo().ncpus):
        vm_dsm_kick_cpu(c)


def vm_dsm_kick_cpu(cpu: u32) -> None:
    # The kick SGI to CPU `cpu` of this node (not to ourselves): it leaves the guest or its irq_wait(). The
    # DSM's wake (a local vCPU's index is its CPU's) and the cluster service's wake both use it.
    if cpu != vm_cpu_index() and cpu < hostinfo().ncpus:
        gic_send_sgi(hostinfo().cpus[cpu].mpidr, VCPU_KICK_SGI)


def _set_served(vcpu: u32, on: bool) -> None:
    # ARMv8.0 has no atomic OR: a compare-and-swap loop over the mask.
    vd = _vd.get()
    bit = u32(1) << vcpu
    while True:
        old = vd.served.load(SEQ_CST)
        new = (old | bit) if on else (old & ~bit)
        if vd.served.cas(old, new, SEQ_CST):
            return


def _dsm_wake(vcpu: u32) -> None:
    # The DSM served local vCPU `vcpu`'s fault: its waiting CPU sees the bit without the lock, then the kick.
    _set_served(vcpu, True)
    vm_dsm_kick_cpu(vcpu)


VM_DSM_OPS: Final = DsmOps(map=_dsm_map, unmap=_dsm_unmap, protect=_dsm_protect, monitor_clear=_dsm_monitor_clear,
                           wake=_dsm_wake)


def _access(kind: u32) -> u32:
    if kind == ABORT_KIND_WRITE:
        return DSM_FAULT_WRITE
    if kind == ABORT_KIND_EXEC:
        return DSM_FAULT_EXEC
    if kind == ABORT_KIND_WALK:
        return DSM_FAULT_WALK
    return DSM_FAULT_READ


def _fault(vcpu: u32, ipa: u64, kind: u32) -> u32:
    # GuestMemFaultOps.fault: a stage-2 fault of global vCPU `vcpu` on guest RAM (IRQs masked).
    local = vcpu - vm_state().vcpu_base
    r = DSM_PENDING
    with service_state().lock:
        service_cpu().inside = True
        r = dsm_fault_begin(local, ipa, _access(kind))
        service_cpu().inside = False
    vc = _vd.get()
    trace = False
    start = timer_now()
    if r == DSM_PENDING and vc.trace_every != 0:
        vc.trace_count += 1
        trace = vc.trace_count % vc.trace_every == 0
    # Spin, then sleep: for the first pyhv.fault_spin_us the CPU polls the NIC itself (an answer is usually that
    # close: no interrupt and no wake-up of another CPU on the way), then it sleeps between polls. Whether
    # the fault was served is read from `served` without the lock (the lock is taken once, to collect the
    # result), so waiting CPUs do not queue on the lock behind the one that polls; every SERVED_CHECK_EVERY
    # rounds the fault's state itself is read under the lock as well.
    spin_until = timer_now() + timer_freq_hz() * u64(vc.spin_us) // 1000000
    rounds = u32(0)
    bit = u32(1) << local
    while r == DSM_PENDING:
        service_wait_mark()
        rounds += 1
        served = (vc.served.load(SEQ_CST) & bit) != 0
        if served or rounds % SERVED_CHECK_EVERY == 0:
            if served:
                _set_served(local, False)   # before the check: a wake after it sets the bit again
            with service_state().lock:
                service_cpu().inside = True
                if not dsm_fault_pending(local):
                    r = dsm_fault_wait(local)       # collects the result (the wait is over)
                service_cpu().inside = False
        if r != DSM_PENDING:
            service_wait_unmark()
        elif timer_now() < spin_until:
            service_wait_unmark()
            service_poll()
        else:
            service_wait_once()
    _set_served(local, False)
    if trace:
        kprint("dsm: trace vcpu %u ipa 0x%x kind %u waited %u us\n", vcpu, ipa, kind,
               u32((timer_now() - start) * 1000000 // timer_freq_hz()))
    if r == DSM_DONE:
        return GUESTFAULT_HANDLED
    if r == DSM_ERR_NODE_LOST and ratelimit_allow(vc.lost_warn, WARN_BURST):
        kprint("vcpu %u: guest ram ipa 0x%x was lost with its node: abort injected\n", vcpu, ipa)
    return GUESTFAULT_NOT_HANDLED


VM_DSM_FAULT_OPS: Final = GuestMemFaultOps(fault=_fault)

