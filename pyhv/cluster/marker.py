# The skew marker (docs/protocol.md, type 11): a datagram the host switch broadcasts to every node at once.
# Each node records its guest virtual counter (CNTVCT = CNTPCT - CNTVOFF_EL2) on receipt and prints
# `marker: seq=<marker id> vcnt=<counter>`, so the spread of one marker's values across nodes measures the
# guest-visible clock skew independently of the nodes' own estimate. Nodes never send markers.

from typing import Final

from pyhv.lang import Static, Struct, kprint, struct_at, u16, u32, u64

from pyhv.cluster.clocksync import clocksync_guest_counter

MARKER_MSG_BYTES: Final = u32(16)


class MarkerMsg(Struct, packed=True):
    marker_id: u64
    host_ns: u64            # the switch host's CLOCK_MONOTONIC when it sent the marker


class MarkerState(Struct):
    received: u64           # markers handled
    last_id: u64
    last_vcnt: u64          # guest virtual counter at the last marker


_mk: Final = Static(MarkerState)


def marker_state() -> MarkerState:
    return _mk.get()


def marker_handler(src: u16, req_id: u32, payload: u64, length: u32) -> None:
    vcnt = clocksync_guest_counter()
    st = _mk.get()
    m = struct_at(MarkerMsg, payload)
    st.received += 1
    st.last_id = m.marker_id
    st.last_vcnt = vcnt
    kprint("marker: seq=%u vcnt=%u\n", m.marker_id, vcnt)
