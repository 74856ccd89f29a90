# Rate limiting for warnings a guest can provoke (STYLE.md §11: a guest's mistake is a warning, never a
# flood). A RateLimit lets `burst` messages through per window of one second of the counter-timer
# (CNTPCT_EL0 ticks, CNTFRQ_EL0 per second), counts the ones it suppresses, and reports that count when
# the next window opens. A RateLimit is a struct the caller embeds in its own static state.

from pyhv.lang import SpinLock, Struct, kprint, sysreg_read, u32, u64


class RateLimit(Struct):
    lock: SpinLock
    window_start: u64       # CNTPCT_EL0 at the start of the current window
    printed: u32            # messages let through in the current window
    suppressed: u32         # messages refused since the last report
    started: bool


def ratelimit_allow(rl: RateLimit, burst: u32) -> bool:
    # True if the caller may print one more message now.
    now = sysreg_read("cntpct_el0")
    freq = sysreg_read("cntfrq_el0")
    report = u32(0)
    allowed = False
    with rl.lock:
        if not rl.started or (freq != 0 and now - rl.window_start >= freq):
            report = rl.suppressed
            rl.started = True
            rl.window_start = now
            rl.printed = u32(0)
            rl.suppressed = u32(0)
        if rl.printed < burst:
            rl.printed += 1
            allowed = True
        else:
            rl.suppressed += 1
    if report != 0:
        kprint("warning: %u similar messages suppressed\n", report)
    return allowed


def ratelimit_suppressed(rl: RateLimit) -> u32:
    return rl.suppressed
