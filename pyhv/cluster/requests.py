# Outstanding requests of this node, matched to replies by request id (several per peer at once). A request
# is a reliable message; its reply is a message of the same type with F_REPLY and the same req_id, which the
# receive path hands to transport_complete instead of a handler. The waiting primitives are in
# pyhv/cluster/node.py: transport_wait_reply, and transport_request_wait, which queues a request (serving
# the cluster meanwhile) while all REQ_SLOTS are busy instead of failing. transport_request itself never
# waits, so handlers may use it: it returns 0 and leaves the reason in RequestTable.last_err.

from typing import Annotated, Final

from pyhv.lang import Array, Static, Struct, addr_of, range, u8, u16, u32, u64

from pyhv.cluster.bytecopy import bytecopy
from pyhv.cluster.transport import (
    PEER_ACTIVE, TRANSPORT_ERR_PEER_LOST, TRANSPORT_OK, transport_peer, transport_send,
)
from pyhv.cluster.wire import DROP_STRAY_REPLY, wire_count_drop

REQ_SLOTS: Final = u32(64)                  # 64 x 4.2 KiB = 268 KiB of reply buffers per node
REPLY_PENDING: Final = u32(0xFFFFFFFF)      # transport_poll_reply: not yet
TRANSPORT_ERR_NO_REQUEST: Final = u32(5)    # no such request id outstanding
TRANSPORT_ERR_NO_SLOT: Final = u32(6)       # REQ_SLOTS requests already outstanding

_FREE: Final = u32(0)
_WAITING: Final = u32(1)
_DONE: Final = u32(2)
_FAILED: Final = u32(3)                     # the peer restarted: its old incarnation will never answer


class Reply(Struct):
    length: u32
    msg_type: u32
    data: Annotated[Array[u8], 4160]        # MSG_MAX_BYTES


class Request(Struct):
    state: u32
    req_id: u32
    peer: u16
    reply: Reply


class RequestTable(Struct):
    next_id: u32
    last_err: u32           # why the last transport_request returned 0 (a TRANSPORT_ERR_*)
    slot_waits: u64         # transport_request_wait calls that found every slot busy
    issued: u64
    completed: u64
    stray: u64
    slots: Annotated[Array[Request], 64]    # REQ_SLOTS


_reqs: Final = Static(RequestTable)


def request_table() -> RequestTable:
    return _reqs.get()


def transport_request(dst: u16, msg_type: u32, payload: u64, length: u32) -> u32:
    # Send a request; returns its id (never 0), or 0 with last_err = TRANSPORT_ERR_NO_SLOT (every slot
    # busy), TRANSPORT_ERR_BUSY (send backlog at its reserve) or why dst cannot be reached. Never waits.
    t = _reqs.get()
    for i in range(u32(0), REQ_SLOTS):
        r = t.slots[i]
        if r.state != _FREE:
            continue
        t.next_id += 1
        if t.next_id == 0:
            t.next_id = u32(1)
        err = transport_send(dst, msg_type, u8(0), t.next_id, payload, length)
        if err != TRANSPORT_OK:
            t.last_err = err
            return u32(0)
        r.state = _WAITING
        r.req_id = t.next_id
        r.peer = dst
        transport_peer(dst).waiting_reqs += 1
        t.issued += 1
        return t.next_id
    t.last_err = TRANSPORT_ERR_NO_SLOT
    return u32(0)


def requests_waiting() -> u32:
    # Slots whose reply has not arrived yet (only these can free without their owner collecting them).
    t = _reqs.get()
    n = u32(0)
    for i in range(u32(0), REQ_SLOTS):
        if t.slots[i].state == _WAITING:
            n += 1
    return n


def transport_complete(src: u16, req_id: u32, msg_type: u32, payload: u64, length: u32) -> None:
    # A reply arrived: store it in its request's slot.
    t = _reqs.get()
    for i in range(u32(0), REQ_SLOTS):
        r = t.slots[i]
        if r.state == _WAITING and r.req_id == req_id and r.peer == src:
            r.state = _DONE
            r.reply.length = length
            r.reply.msg_type = msg_type
            bytecopy(addr_of(r.reply.data), payload, u64(length))
            transport_peer(src).waiting_reqs -= 1
            t.completed += 1
            return
    t.stray += 1
    wire_count_drop(DROP_STRAY_REPLY)


def requests_fail_peer(node: u16) -> None:
    # Every request still waiting on `node` fails (its incarnation is gone: the node restarted).
    t = _reqs.get()
    for i in range(u32(0), REQ_SLOTS):
        r = t.slots[i]
        if r.state == _WAITING and r.peer == node:
            r.state = _FAILED
    transport_peer(node).waiting_reqs = u32(0)


def transport_poll_reply(req_id: u32, out: Reply) -> u32:
    # TRANSPORT_OK with the reply copied to `out` (slot freed), REPLY_PENDING, or an error (slot freed).
    t = _reqs.get()
    for i in range(u32(0), REQ_SLOTS):
        r = t.slots[i]
        if r.state == _FREE or r.req_id != req_id:
            continue
        if r.state == _DONE:
            out.length = r.reply.length
            out.msg_type = r.reply.msg_type
            bytecopy(addr_of(out.data), addr_of(r.reply.data), u64(r.reply.length))
            r.state = _FREE
            return TRANSPORT_OK
        if r.state == _FAILED:
            r.state = _FREE
            return TRANSPORT_ERR_PEER_LOST
        p = transport_peer(r.peer)
        if p.state != PEER_ACTIVE:
            p.waiting_reqs -= 1
            r.state = _FREE
            return TRANSPORT_ERR_PEER_LOST
        return REPLY_PENDING
    return TRANSPORT_ERR_NO_REQUEST
