# The transport's send backlog (docs/protocol.md "Backlog and the non-blocking send"): a static pool of
# BACKLOG_BUFS whole-message buffers and, per peer, a FIFO of the messages that did not fit that peer's TX
# ring when they were sent. transport_send never waits for ring space: it parks the message here, and the
# transport moves the FIFO's head into the ring as acks free space (pyhv/cluster/transport.py:
# transport_drain). A message goes to the backlog whenever its peer's FIFO is not empty, so it never overtakes
# an earlier message to the same peer. This module only keeps the buffers and the lists; it knows nothing of
# rings or frames.
#
# Links are buffer index + 1 so that 0 (the zero-initialised Static) means "none".

from typing import Annotated, Final

from pyhv.lang import Array, Static, Struct, addr_of, panic, range, u8, u16, u32, u64

from pyhv.cluster.bytecopy import bytecopy
from pyhv.cluster.wire import MSG_MAX_BYTES

BACKLOG_BUFS: Final = u32(64)           # message buffers per node (64 x 4.2 KiB = 268 KiB)
BACKLOG_RESERVE: Final = u32(40)        # free buffers only the receive path (handlers, timers) may use:
                                        # >= TRANSPORT_HANDLER_SENDS_MAX + TRANSPORT_TIMER_SENDS_MAX (transport.py)
BACKLOG_NONE: Final = u32(0)


class BacklogMsg(Struct):
    next: u32               # next message to the same peer (index + 1), 0: last
    used: bool
    msg_type: u32
    flags: u32
    req_id: u32
    length: u32
    data: Annotated[Array[u8], 4160]        # MSG_MAX_BYTES


class BacklogState(Struct):
    in_use: u32
    high_water: u32         # most buffers in use at once (console statistics)
    parked: u64             # messages that went through the backlog
    head: Annotated[Array[u32], 16]         # MAX_NODES; index + 1 of the oldest parked message, 0: none
    tail: Annotated[Array[u32], 16]
    count: Annotated[Array[u32], 16]
    bufs: Annotated[Array[BacklogMsg], 64]  # BACKLOG_BUFS


_bl: Final = Static(BacklogState)


def backlog_state() -> BacklogState:
    return _bl.get()


def backlog_free() -> u32:
    return BACKLOG_BUFS - _bl.get().in_use


def backlog_pending(node: u16) -> u32:
    return _bl.get().count[node]


def backlog_head(node: u16) -> u32:
    # Index + 1 of the oldest message parked for `node`, BACKLOG_NONE if there is none.
    return _bl.get().head[node]


def backlog_msg(link: u32) -> BacklogMsg:
    return _bl.get().bufs[link - 1]


def backlog_push(node: u16, msg_type: u32, flags: u8, req_id: u32, payload: u64, length: u32) -> bool:
    # Park a copy of the message at the tail of node's FIFO; False if every buffer is in use.
    st = _bl.get()
    if length > MSG_MAX_BYTES:
        panic("backlog: message longer than MSG_MAX_BYTES (transport_send checks it)")
    if st.in_use >= BACKLOG_BUFS:
        return False
    for i in range(u32(0), BACKLOG_BUFS):
        m = st.bufs[i]
        if m.used:
            continue
        m.used = True
        m.next = BACKLOG_NONE
        m.msg_type = msg_type
        m.flags = u32(flags)
        m.req_id = req_id
        m.length = length
        bytecopy(addr_of(m.data), payload, u64(length))
        link = i + 1
        if st.tail[node] == BACKLOG_NONE:
            st.head[node] = link
        else:
            st.bufs[st.tail[node] - 1].next = link
        st.tail[node] = link
        st.count[node] += 1
        st.in_use += 1
        st.parked += 1
        if st.in_use > st.high_water:
            st.high_water = st.in_use
        return True
    panic("backlog: in_use says a buffer is free but none is")


def backlog_pop(node: u16) -> None:
    # Free the oldest message parked for `node` (the transport has copied it into the ring).
    st = _bl.get()
    link = st.head[node]
    if link == BACKLOG_NONE:
        panic("backlog: pop from an empty FIFO")
    m = st.bufs[link - 1]
    st.head[node] = m.next
    if m.next == BACKLOG_NONE:
        st.tail[node] = BACKLOG_NONE
    m.used = False
    m.next = BACKLOG_NONE
    st.count[node] -= 1
    st.in_use -= 1


def backlog_drop_peer(node: u16) -> u32:
    # The peer is lost or restarted: its parked messages will never be sent. Returns how many were dropped.
    dropped = u32(0)
    while _bl.get().head[node] != BACKLOG_NONE:
        backlog_pop(node)
        dropped += 1
    return dropped
