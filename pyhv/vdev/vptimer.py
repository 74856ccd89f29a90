# The guest's physical counter and EL1 physical timer (CNTPCT_EL0, CNTP_CTL/CVAL/TVAL_EL0; ARM DDI 0487
# D12.8 "The AArch64 view of the Generic Timer", D12.9), emulated because ARMv8.0 has no CNTPOFF: the
# hardware physical counter is per-board and unsynchronised, while the guest's time is the cluster's
# (pyhv/core/clock.py). CNTHCTL_EL2.EL1PCTEN = EL1PCEN = 0 (el2.py) make every guest access trap (EC 0x18).
#
#   CNTPCT_EL0      = the guest counter, the same value CNTVCT_EL0 reads on this CPU (CNTPCT - CNTVOFF)
#   CNTP_CVAL_EL0   the guest's compare value, in guest time (kept here)
#   CNTP_TVAL_EL0   read: (CVAL - counter)[31:0]; write: CVAL = counter + SignExtend(value[31:0])
#   CNTP_CTL_EL0    ENABLE and IMASK as written; ISTATUS = ENABLE and counter >= CVAL (read-only)
#
# Interrupts: the hardware EL1 physical timer is programmed with the same condition in physical time
# (CVAL + CNTVOFF, saturated), so the host's PPI 30 fires when the guest's timer does; vtimer.py turns it
# into the guest's level-sensitive virtual PPI 30, as for the virtual timer. When CNTVOFF changes the
# hardware compare value is re-based (vptimer_rebase).

from typing import Final

from pyhv.lang import PerCpu, Struct, i32, i64, sysreg_write, u32, u64

from pyhv.arch.sysreg_trap import SYSREG_KEY_CNTP_CTL, SYSREG_KEY_CNTP_CVAL, SYSREG_KEY_CNTP_TVAL, SYSREG_KEY_CNTPCT
from pyhv.core.clock import clock_cpu_cntvoff, clock_guest_now

CNTP_CTL_ENABLE: Final = u64(1 << 0)
CNTP_CTL_IMASK: Final = u64(1 << 1)
CNTP_CTL_ISTATUS: Final = u64(1 << 2)
_CTL_WRITABLE: Final = CNTP_CTL_ENABLE | CNTP_CTL_IMASK
_NEVER: Final = u64(0xFFFFFFFFFFFFFFFF)


class VptimerCpu(Struct):
    ctl: u64                # ENABLE | IMASK as the guest wrote them
    cval: u64               # compare value in guest time
    counter_reads: u64      # trapped CNTPCT_EL0 reads
    timer_accesses: u64     # trapped CNTP_* accesses


_pt: Final = PerCpu(VptimerCpu)


def vptimer_state() -> VptimerCpu:
    return _pt.get()


def _hw_cval(cval: u64, cntvoff: u64) -> u64:
    # Physical-time compare value of guest-time `cval`, saturated so that a far-future guest deadline never
    # wraps into the past (and a deadline before physical 0 fires at once).
    hw = cval + cntvoff
    if i64(cntvoff) >= 0 and hw < cval:
        return _NEVER
    if i64(cntvoff) < 0 and hw > cval:
        return u64(0)
    return hw


def _program() -> None:
    st = _pt.get()
    sysreg_write("cntp_cval_el0", _hw_cval(st.cval, clock_cpu_cntvoff()))
    sysreg_write("cntp_ctl_el0", st.ctl)


def vptimer_reset() -> None:
    # vCPU start: timer disabled (the architecture leaves it UNKNOWN; disabled is what a guest can rely on).
    st = _pt.get()
    st.ctl = u64(0)
    st.cval = u64(0)
    _program()


def vptimer_rebase() -> None:
    # This CPU's CNTVOFF changed (clock_reload): same guest deadline, new physical one.
    _program()


def vptimer_handles(key: u32) -> bool:
    return key == SYSREG_KEY_CNTPCT or key == SYSREG_KEY_CNTP_CTL or key == SYSREG_KEY_CNTP_CVAL or \
        key == SYSREG_KEY_CNTP_TVAL


def _met(st: VptimerCpu, now: u64) -> bool:
    return (st.ctl & CNTP_CTL_ENABLE) != 0 and now >= st.cval


def vptimer_level() -> bool:
    # The timer's interrupt output: enabled, condition met, not masked by the guest.
    st = _pt.get()
    return (st.ctl & CNTP_CTL_IMASK) == 0 and _met(st, clock_guest_now())


def vptimer_read(key: u32) -> u64:
    st = _pt.get()
    now = clock_guest_now()
    if key == SYSREG_KEY_CNTPCT:
        st.counter_reads += 1
        return now
    st.timer_accesses += 1
    if key == SYSREG_KEY_CNTP_CTL:
        return st.ctl | (CNTP_CTL_ISTATUS if _met(st, now) else u64(0))
    if key == SYSREG_KEY_CNTP_CVAL:
        return st.cval
    return u64(u32(st.cval - now))      # TVAL: bits [63:32] are RES0


def vptimer_write(key: u32, value: u64) -> None:
    # A write to CNTPCT_EL0 (read-only; only reachable by a malformed trap) is ignored.
    st = _pt.get()
    if key == SYSREG_KEY_CNTPCT:
        return
    st.timer_accesses += 1
    if key == SYSREG_KEY_CNTP_CTL:
        st.ctl = value & _CTL_WRITABLE
    elif key == SYSREG_KEY_CNTP_CVAL:
        st.cval = value
    else:
        st.cval = clock_guest_now() + u64(i64(i32(u32(value))))
    _program()
