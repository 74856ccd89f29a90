# How a node sleeps when it has nothing to do. The cluster code runs on one CPU (CPU 0 on hardware) and
# takes the NIC's receive interrupt there (pyhv/cluster/boot.py routes it); an idle node arms its EL2 timer
# for the next deadline of the transport / membership / clock-sync timers and waits for an interrupt:
# whichever comes first, a frame or the deadline, wakes it. `cfg.idle_max_us` caps one sleep, so a deadline
# the caller does not pass (a console wait, a marker wait) is still looked at; without a NIC interrupt the
# cap is the polling period.
#
# No lost wake-up: IRQs stay masked at EL2 from the caller's last poll to the WFI inside irq_wait(); a frame
# that arrives in between leaves the NIC's level-sensitive interrupt pending, and WFI returns at once on a
# pending interrupt, masked or not. In the simulator irq_wait() is a scheduling point (the baton passes).

from typing import Final

from pyhv.lang import cpu_relax, irq_wait, u64

from pyhv.arch.timer import timer_arm_ticks, timer_now
from pyhv.cluster.table import cluster_cfg, ticks_from_us

TIMER_TVAL_MAX: Final = u64(0x7FFFFFFF)   # CNTHP_TVAL_EL2 is a signed 32-bit down-counter


def cluster_sleep_until(deadline: u64) -> None:
    # Sleep until an interrupt (the NIC's, the EL2 timer's) or `deadline` (counter ticks; all ones: none),
    # but at most cfg.idle_max_us. Returns at once if the deadline has passed.
    now = timer_now()
    limit = now + ticks_from_us(cluster_cfg().idle_max_us)
    if deadline > limit:
        deadline = limit
    if deadline <= now:
        cpu_relax()                     # due already: only a scheduling point (time moves in the simulator)
        return
    ticks = deadline - now
    if ticks > TIMER_TVAL_MAX:
        ticks = TIMER_TVAL_MAX
    timer_arm_ticks(ticks)
    irq_wait()
