# EL2 physical timer (the "hypervisor timer"): ARM DDI 0487, D12 ("The Generic Timer in AArch64 state")
# and the CNTHP_* register descriptions. It raises PPI INTID 26 (the fourth `interrupts` entry of the
# DTB's "arm,armv8-timer" node, PPI 10, on every board pyhv runs on). The counter frequency is read from
# CNTFRQ_EL0, which firmware programs; it is never assumed.

from typing import Final

from pyhv.lang import PerCpu, Struct, isb, sysreg_read, sysreg_write, u32, u64

TIMER_HYP_PPI: Final = u32(26)          # INTID of the EL2 physical timer
CNTHP_CTL_ENABLE: Final = u64(1 << 0)   # timer enabled
CNTHP_CTL_IMASK: Final = u64(1 << 1)    # interrupt masked
CNTHP_CTL_ISTATUS: Final = u64(1 << 2)  # condition met (read-only)


class TimerCpu(Struct):
    irqs: u64               # EL2 timer interrupts this CPU has taken


_timer_cpu: Final = PerCpu(TimerCpu)


def timer_freq_hz() -> u64:
    return sysreg_read("cntfrq_el0")


def timer_now() -> u64:
    # Physical counter, ordered after the preceding instructions.
    isb()
    return sysreg_read("cntpct_el0")


def timer_arm_ticks(ticks: u64) -> None:
    # Fire once `ticks` counter ticks from now (TVAL is a signed 32-bit down-counter: keep ticks < 2^31).
    sysreg_write("cnthp_tval_el2", ticks & 0x7FFFFFFF)
    sysreg_write("cnthp_ctl_el2", CNTHP_CTL_ENABLE)
    isb()


def timer_disable() -> None:
    sysreg_write("cnthp_ctl_el2", u64(0))
    isb()


def timer_handle_irq() -> None:
    # The EL2 timer fired on this CPU: count it and stop the timer (it is level-triggered).
    _timer_cpu.get().irqs += 1
    timer_disable()


def timer_irq_count() -> u64:
    return _timer_cpu.get().irqs
