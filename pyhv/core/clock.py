# The guest's clock on this node (issue 8 item 6; docs/dsm.md "Clock"; ARM DDI 0487 D12.9 CNTVOFF_EL2).
#
# One CNTVOFF per node, not per CPU: the guest's counter (CNTVCT = CNTPCT - CNTVOFF, and the trapped physical
# counter pyhv/vdev/vptimer.py emulates from the same offset) must read the same on every CPU of the node, or
# arm64 Linux's clocksource sees time go backwards when a thread moves. The clock sync (cluster/clocksync.py)
# sets the node's value with clock_set_cntvoff; every CPU loads it at vCPU entry (clock_cpu_enter) and
# reloads it on the way back into the guest when the node's generation moved (clock_reload, from the vCPU
# entry tail); a change kicks the other CPUs (the vCPU kick SGI) so they exit and reload within
# microseconds. Once a guest runs, CNTVOFF only decreases (the guest counter only steps forward).
#
# Causality across nodes: a message carrying an effect (a page, an SGI, an MMIO answer) is stamped with the
# sender's guest counter (clock_stamp); the receiver calls clock_hold_until(stamp) before the effect becomes
# visible to a vCPU. If the node's guest counter is still earlier, the receiver WAITS until it has passed:
# the clock sync bounds the skew to microseconds (at most a millisecond or so on a lossy link), so waiting
# costs at most that, keeps every node's counter running at its own oscillator's rate (no step, nothing for
# the clock sync to undo) and cannot push the cluster's time ahead. A stamp further ahead than hold_max_ticks
# means the clock sync is broken: then we step this node's CNTVOFF forward (allowed: time moves on) with a
# warning instead of stalling the CPU (the clock sync's lead report then makes the bootstrap follow).
#
# Lock: `lock` serialises writers (clock sync, a hold that steps); readers use the atomics only.

from typing import Final

from pyhv.lang import (
    ACQUIRE, RELEASE, Atomic, PerCpu, SpinLock, Static, Struct, cpu_relax, i64, kprint, range, sysreg_read,
    sysreg_write, u32, u64,
)

from pyhv.arch.gic import gic_send_sgi
from pyhv.arch.timer import timer_now
from pyhv.core.hostinfo import MPIDR_AFF_MASK, hostinfo
from pyhv.core.ratelimit import RateLimit, ratelimit_allow

CLOCK_KICK_SGI: Final = u32(8)          # the vCPU kick SGI (vcpu.py's VCPU_KICK_SGI): any exit reloads
CLOCK_WARN_BURST: Final = u32(5)


class ClockNode(Struct):
    lock: SpinLock
    cntvoff: Atomic[u64]        # the node's CNTVOFF: guest counter = physical counter - cntvoff
    generation: Atomic[u32]     # bumped on every change
    guest_started: Atomic[u32]  # 1 once a vCPU entered the guest: forward-only from then on
    refused: u64                # backward steps refused
    holds: u64                  # clock_hold_until calls that waited
    hold_ticks: u64             # ticks waited in total
    hold_steps: u64             # holds that stepped CNTVOFF forward instead
    rl: RateLimit


class ClockCpu(Struct):
    generation: u32             # of the value this CPU loaded
    cntvoff: u64                # the value in this CPU's CNTVOFF_EL2


_node: Final = Static(ClockNode)
_cpu: Final = PerCpu(ClockCpu)


def clock_cntvoff() -> u64:
    return _node.get().cntvoff.load(ACQUIRE)


def clock_generation() -> u32:
    return _node.get().generation.load(ACQUIRE)


def clock_guest_running() -> bool:
    # A vCPU of this node has entered the guest: CNTVOFF is forward-only from now on.
    return _node.get().guest_started.load(ACQUIRE) == 1


def clock_stats() -> ClockNode:
    return _node.get()


def _kick_others() -> None:
    me = sysreg_read("mpidr_el1") & MPIDR_AFF_MASK
    info = hostinfo()
    for i in range(u32(0), info.ncpus):
        if info.cpus[i].mpidr != me:
            gic_send_sgi(info.cpus[i].mpidr, CLOCK_KICK_SGI)


def clock_set_cntvoff(v: u64) -> bool:
    # Make `v` the node's CNTVOFF. Refused (False, counted) once the guest runs if it would move the guest
    # counter backwards. Every CPU running a vCPU loads it before its next guest instruction; before the
    # guest starts (the cluster fabric alone) this CPU's register is written at once.
    st = _node.get()
    ok = True
    started = False
    with st.lock:
        started = st.guest_started.load(ACQUIRE) == 1
        if started and i64(v - st.cntvoff.load(ACQUIRE)) > 0:
            st.refused += 1
            ok = False
        else:
            st.cntvoff.store(v, RELEASE)
            st.generation.fetch_add(u32(1), RELEASE)
    if not ok:
        return False
    if started:
        _kick_others()
    else:
        c = _cpu.get()
        c.cntvoff = v
        c.generation = st.generation.load(ACQUIRE)
        sysreg_write("cntvoff_el2", v)
    return True


def clock_cpu_enter() -> u64:
    # vcpu_run: the guest starts (or a vCPU starts) on this CPU. Returns the CNTVOFF to load.
    st = _node.get()
    st.guest_started.store(u32(1), RELEASE)
    c = _cpu.get()
    c.generation = st.generation.load(ACQUIRE)
    c.cntvoff = st.cntvoff.load(ACQUIRE)
    return c.cntvoff


def clock_reload() -> bool:
    # On the way into the guest: load the node's CNTVOFF if it changed since this CPU loaded it. True when
    # it did (the caller re-bases what depends on it: the emulated physical timer's compare value).
    st = _node.get()
    c = _cpu.get()
    g = st.generation.load(ACQUIRE)
    if g == c.generation:
        return False
    c.generation = g
    c.cntvoff = st.cntvoff.load(ACQUIRE)
    sysreg_write("cntvoff_el2", c.cntvoff)
    return True


def clock_cpu_cntvoff() -> u64:
    # The CNTVOFF this CPU's vCPU runs with (what its CNTVCT reads are offset by).
    return _cpu.get().cntvoff


def clock_guest_now() -> u64:
    # The guest counter as this CPU's vCPU sees it.
    return timer_now() - _cpu.get().cntvoff


def clock_stamp() -> u64:
    # The sender's guest counter for a message that carries an effect to another node: the node's newest
    # value (never behind what any of its vCPUs has read, since CNTVOFF only decreases).
    return timer_now() - clock_cntvoff()


def clock_hold_until(stamp: u64, hold_max_ticks: u64) -> None:
    # Before an effect stamped `stamp` by its sender becomes visible here: wait until this node's guest
    # counter has passed the stamp (the caller's vCPU reloads the node's CNTVOFF at its next entry). A stamp
    # more than hold_max_ticks ahead steps the node forward instead (file header).
    st = _node.get()
    deficit = i64(stamp - clock_stamp())
    if deficit <= 0:
        return
    if u64(deficit) > hold_max_ticks:
        v = clock_cntvoff() - u64(deficit)
        if clock_set_cntvoff(v):
            st.hold_steps += 1
            if ratelimit_allow(st.rl, CLOCK_WARN_BURST):
                kprint("clock: a stamp %u ticks ahead of this node: guest counter stepped forward\n", u64(deficit))
        return
    st.holds += 1
    start = timer_now()
    while i64(stamp - clock_stamp()) > 0:
        cpu_relax()
    st.hold_ticks += timer_now() - start
