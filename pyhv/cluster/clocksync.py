# Clock synchronisation (docs/protocol.md "Clock sync"): every member estimates the bootstrap's guest
# counter against its own physical counter with round-trip-compensated probes (NTP-style, keeping the
# minimum-RTT sample of each round), and programs CNTVOFF_EL2 so its guest virtual counter
# (CNTPCT - CNTVOFF) matches the bootstrap's. Once the guest runs, the virtual counter never goes backwards:
# a member only steps forward (lowers CNTVOFF). A member whose oscillator is fast runs ahead instead; it
# reports that lead in its probes and the bootstrap steps ITS guest counter forward by it, so the cluster
# follows the fastest clock and the skew stays bounded (the bound is derived in docs/protocol.md).
# A reply whose round trip reached the transport's retransmit timeout (rto_min_us) was held up by loss
# recovery (a retransmit, or queued behind a lost frame on the in-order stream): it is never a sample, so a
# round trip floor (min_rtt) is only ever learned from a round with an undelayed-looking probe.
#
# The register belongs to the EL2 code: it is written through the ClockOps slot. CLOCK_SYSREG_OPS hands the
# value to pyhv/core/clock.py, the node's one CNTVOFF that every CPU loads before it enters the guest
# (written to this CPU's register at once while no guest runs); the simulator installs its own.

from typing import Callable, Final

from pyhv.lang import Ops, OpsSlot, Static, Struct, addr_of, i64, struct_at, u8, u16, u32, u64

from pyhv.arch.timer import timer_now
from pyhv.core.clock import clock_guest_running, clock_set_cntvoff
from pyhv.cluster.table import ROLE_BOOTSTRAP, cluster_cfg, ticks_from_us
from pyhv.cluster.transport import transport_send
from pyhv.cluster.wire import MSG_CLOCK_PROBE, MSG_CLOCK_REPLY

PROBES_PER_ROUND: Final = u32(4)
_NEVER: Final = u64(0xFFFFFFFFFFFFFFFF)


class ClockOps(Ops):
    set_cntvoff: Callable[[u64], None]


def _write_cntvoff(v: u64) -> None:
    # Refused only if it would move a running guest's counter back, which _apply never asks for once a
    # vCPU entered the guest (_guest_started).
    clock_set_cntvoff(v)


CLOCK_SYSREG_OPS: Final = ClockOps(set_cntvoff=_write_cntvoff)
_clock_ops: Final = OpsSlot(ClockOps)


class ClockProbeMsg(Struct, packed=True):
    round_id: u32
    probe: u32
    t1: u64                 # member's physical counter when the probe was built
    lead: u64               # how far the member's guest counter ran ahead of the bootstrap's (ticks)
    lead_epoch: u64         # the bootstrap's advance_total the lead was measured against


class ClockReplyMsg(Struct, packed=True):
    round_id: u32
    probe: u32
    t1: u64                 # echoed
    t2: u64                 # bootstrap's guest counter when it handled the probe
    advance_total: u64      # sum of the bootstrap's own forward steps so far


class ClockState(Struct):
    cntvoff: u64
    next_probe_at: u64
    lead: u64
    lead_epoch: u64
    advance_total: u64      # bootstrap: forward steps taken to follow fast members
    best_rtt: u64
    best_offset: u64        # CNTVOFF the best sample of the round asks for
    best_epoch: u64
    min_rtt: u64            # smallest usable round trip seen (0: none yet); always < the retransmit timeout
    rejected: u64           # rounds without a usable sample, or whose best sample was too slow to trust
    steps: u64              # CNTVOFF changes after the guest started
    rounds: u64
    active: u32             # member: probing
    synced: u32             # CNTVOFF holds an estimate
    guest_started: u32      # from now on CNTVOFF only decreases
    round_id: u32
    sent: u32               # probes sent this round
    replies: u32            # replies received this round


_clk: Final = Static(ClockState)


def clocksync_state() -> ClockState:
    return _clk.get()


def clocksync_set_ops(ops: ClockOps) -> None:
    _clock_ops.set(ops)


def _program(v: u64) -> None:
    st = _clk.get()
    st.cntvoff = v
    _clock_ops.get().set_cntvoff(v)


def clocksync_init() -> None:
    # The bootstrap's guest counter starts at 0 now; members start probing once admitted.
    st = _clk.get()
    if cluster_cfg().role == ROLE_BOOTSTRAP:
        _program(timer_now())
        st.synced = u32(1)


def clocksync_start() -> None:
    st = _clk.get()
    st.active = u32(1)
    st.next_probe_at = timer_now()


def clocksync_guest_started() -> None:
    _clk.get().guest_started = u32(1)


def _guest_started(st: ClockState) -> bool:
    # Either told so, or a vCPU of this node has run (pyhv/core/clock.py): never step the guest back.
    return st.guest_started == 1 or clock_guest_running()


def clocksync_synced() -> bool:
    return _clk.get().synced == 1


def clocksync_guest_counter() -> u64:
    return timer_now() - _clk.get().cntvoff


def clocksync_tick() -> None:
    # Member: send the next probe of the round when it is due; a new round every resync_us.
    st = _clk.get()
    if st.active == 0:
        return
    now = timer_now()
    if now < st.next_probe_at:
        return
    if st.sent == PROBES_PER_ROUND:
        if st.replies < PROBES_PER_ROUND:
            st.next_probe_at = now + ticks_from_us(cluster_cfg().probe_gap_us)
            return
        st.round_id += 1
        st.sent = u32(0)
        st.replies = u32(0)
        st.best_rtt = _NEVER
    if st.sent == 0:
        st.best_rtt = _NEVER
    m = ClockProbeMsg()
    m.round_id = st.round_id
    m.probe = st.sent
    m.t1 = now
    m.lead = st.lead
    m.lead_epoch = st.lead_epoch
    transport_send(u16(0), MSG_CLOCK_PROBE, u8(0), u32(0), addr_of(m), u32(32))
    st.sent += 1
    if st.sent < PROBES_PER_ROUND:
        st.next_probe_at = now + ticks_from_us(cluster_cfg().probe_gap_us)
    else:
        st.next_probe_at = now + ticks_from_us(cluster_cfg().resync_us)


def clocksync_next_deadline() -> u64:
    st = _clk.get()
    if st.active == 0:
        return _NEVER
    return st.next_probe_at


def clock_probe_handler(src: u16, req_id: u32, payload: u64, length: u32) -> None:
    # Bootstrap: follow a member that runs ahead, then answer with our guest counter.
    st = _clk.get()
    m = struct_at(ClockProbeMsg, payload)
    if m.lead != 0:
        already = st.advance_total - m.lead_epoch
        if m.lead > already:
            step = m.lead - already
            st.advance_total += step
            if _guest_started(st):
                st.steps += 1
            _program(st.cntvoff - step)
    r = ClockReplyMsg()
    r.round_id = m.round_id
    r.probe = m.probe
    r.t1 = m.t1
    r.t2 = timer_now() - st.cntvoff
    r.advance_total = st.advance_total
    transport_send(src, MSG_CLOCK_REPLY, u8(0), u32(0), addr_of(r), u32(32))


def clock_reply_handler(src: u16, req_id: u32, payload: u64, length: u32) -> None:
    # Member: keep the minimum-RTT sample of the round; apply it when the round is complete.
    st = _clk.get()
    m = struct_at(ClockReplyMsg, payload)
    if m.round_id != st.round_id:
        return
    t4 = timer_now()
    rtt = t4 - m.t1
    st.replies += 1
    # A round trip at or over the retransmit timeout means the probe or the reply was retransmitted or held
    # behind a lost frame: its error is not bounded by the path delays, so it is not a sample.
    usable = rtt < ticks_from_us(cluster_cfg().rto_min_us)
    if usable and rtt < st.best_rtt:
        st.best_rtt = rtt
        # At our physical time t1 + rtt/2 the bootstrap's guest counter read t2.
        st.best_offset = m.t1 + rtt // 2 - m.t2
        st.best_epoch = m.advance_total
    if st.replies == PROBES_PER_ROUND:
        _apply(st)


def _apply(st: ClockState) -> None:
    st.rounds += 1
    if st.best_rtt == _NEVER:
        # No usable sample (every reply reached the retransmit timeout): learn nothing, not even min_rtt,
        # which would otherwise vouch for equally delayed rounds later. An unsynced member (not yet set up)
        # retries after one probe gap instead of a whole resync period.
        st.rejected += 1
        if st.synced == 0:
            st.next_probe_at = timer_now() + ticks_from_us(cluster_cfg().probe_gap_us)
        return
    if st.min_rtt == 0 or st.best_rtt < st.min_rtt:
        st.min_rtt = st.best_rtt
    if st.synced == 1 and st.best_rtt > st.min_rtt * 2:
        # Every probe of the round was delayed (queued or retransmitted): its error could be RTT/2.
        st.rejected += 1
        return
    want = st.best_offset
    if st.synced == 0 or not _guest_started(st):
        _program(want)
        st.synced = u32(1)
        st.lead = u64(0)
        return
    ahead = i64(want - st.cntvoff)
    if ahead < 0:
        # Our guest counter is behind: step it forward.
        st.steps += 1
        _program(want)
        st.lead = u64(0)
    else:
        # Ahead (or exact): never step back; ask the bootstrap to catch up.
        st.lead = u64(ahead)
        st.lead_epoch = st.best_epoch
