# Holding a page for the vCPU it was fetched for (docs/dsm.md "Holds"). When a fault is served, the next
# transaction on the page is often already queued at its home (another node wants it too), and its INV or
# RECALL can arrive in the same poll as our DATA, before the woken vCPU has run the faulting instruction
# again: the page would leave without being used, the vCPU would fault again, and under contention no node
# would make progress (livelock). So a served page is held for its vCPU until that vCPU's next fault (it
# has run on since), or DSM_HOLD_US after it was served, whichever comes first: an INV / RECALL for it is
# deferred (hold slot), and a home does not start a queued remote transaction that would take it. The
# release runs the deferred message or restarts the home's queue. Holds are bounded (one per local vCPU)
# and time-limited, so a stalled vCPU delays others by at most DSM_HOLD_US.

from typing import Final

from pyhv.lang import range, u8, u16, u32, u64

from pyhv.arch.timer import timer_now
from pyhv.cluster.table import ticks_from_us
from pyhv.dsm.types import (
    DSM_HOLD_US, DSM_MAX_VCPUS, DSM_NONE32, dsm_state,
)

DSM_HOLD_NEVER: Final = u64(0xFFFFFFFFFFFFFFFF)


def dsm_hold_init() -> None:
    st = dsm_state()
    for v in range(u32(0), DSM_MAX_VCPUS):
        st.hold[v].gpn = DSM_NONE32
        st.hold[v].d_type = u8(0)


def _ticks() -> u64:
    return ticks_from_us(u32(DSM_HOLD_US))


def dsm_hold_active(gpn: u32) -> bool:
    # Does a local vCPU hold gpn (not yet expired)?
    st = dsm_state()
    now = timer_now()
    for v in range(u32(0), st.cfg.vcpus):
        h = st.hold[v]
        if h.gpn == gpn and now - h.since < _ticks():
            return True
    return False


def dsm_hold_set(v: u32, gpn: u32) -> None:
    # vCPU v's fault on gpn was just served (its previous hold was released when that fault began).
    h = dsm_state().hold[v]
    h.gpn = gpn
    h.since = timer_now()
    h.d_type = u8(0)


def dsm_hold_defer(gpn: u32, kind: u8, src: u16, txn: u32, arg: u32) -> bool:
    # An INV / RECALL for gpn: True if it was deferred because a local vCPU holds the page.
    st = dsm_state()
    now = timer_now()
    for v in range(u32(0), st.cfg.vcpus):
        h = st.hold[v]
        if h.gpn == gpn and h.d_type == 0 and now - h.since < _ticks():
            h.d_type = kind
            h.d_src = src
            h.d_txn = txn
            h.d_arg = arg
            st.stats.held += 1
            return True
    return False


def dsm_hold_deadline() -> u64:
    # When the earliest hold expires (for the cluster timer), DSM_HOLD_NEVER if none.
    st = dsm_state()
    if not st.ready:
        return DSM_HOLD_NEVER
    best = DSM_HOLD_NEVER
    for v in range(u32(0), st.cfg.vcpus):
        h = st.hold[v]
        if h.gpn != DSM_NONE32 and h.since + _ticks() < best:
            best = h.since + _ticks()
    return best


def dsm_hold_expired(v: u32) -> bool:
    h = dsm_state().hold[v]
    return h.gpn != DSM_NONE32 and timer_now() - h.since >= _ticks()
