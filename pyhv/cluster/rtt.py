# Retransmission timeout from measured round trips, per peer: RFC 6298 (SRTT/RTTVAR smoothing, RTO =
# SRTT + 4 * RTTVAR, clamped) with Karn's rule applied by the caller (a frame that was retransmitted gives
# no sample: its ack cannot say which copy it answers). All values are counter ticks; integer arithmetic
# with the RFC's gains (alpha = 1/8, beta = 1/4).
#
# Before the first sample the timeout is `init` (cfg.rto_init_us). The floor (cfg.rto_min_us) keeps a
# burst of fast samples from driving the timeout under a host's scheduling stalls, and it is also what the
# clock sync relies on: a round trip at or above it may hide a retransmission (pyhv/cluster/clocksync.py).

from pyhv.lang import Struct, u64


class RttEst(Struct):
    srtt: u64               # smoothed round trip (ticks), valid once samples > 0
    rttvar: u64             # smoothed mean deviation (ticks)
    rto: u64                # the timeout a fresh transmission gets (ticks)
    samples: u64            # round trips measured


def rtt_init(e: RttEst, init: u64) -> None:
    e.srtt = u64(0)
    e.rttvar = u64(0)
    e.samples = u64(0)
    e.rto = init


def rtt_sample(e: RttEst, r: u64, lo: u64, hi: u64) -> None:
    # Fold one measured round trip `r` into the estimate; the new timeout is clamped to [lo, hi].
    if e.samples == 0:
        e.srtt = r
        e.rttvar = r // 2
    else:
        dev = e.srtt - r if e.srtt > r else r - e.srtt
        e.rttvar = (e.rttvar * 3 + dev) // 4
        e.srtt = (e.srtt * 7 + r) // 8
    e.samples += 1
    rto = e.srtt + e.rttvar * 4
    if rto < lo:
        rto = lo
    if rto > hi:
        rto = hi
    e.rto = rto
