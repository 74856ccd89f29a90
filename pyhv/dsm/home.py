# The home directory (docs/dsm.md "Protocol"): per home page the owner and copyset, one transaction served
# at a time, and a FIFO of the requests that arrived meanwhile (a static pool of records linked per page).
# A transaction starts by sending every INV / RECALL it needs and returns; the answers (INV_ACK,
# RECALL_DATA) clear bits of `pending`; when none is left it completes: DATA, GRANT_X or LOST to the
# requester and the next queued request starts. A write is granted only once every invalidation is
# acknowledged. The home itself is a node in the copyset: its own faults go through the same queue and
# transitions, with function calls instead of messages. PUT_S and PUT_X are applied on arrival (never
# queued): the analysis in docs/dsm.md shows why that is safe.

from pyhv.lang import addr_of, panic, range, struct_at, u8, u16, u32, u64

from pyhv.cluster.bytecopy import bytecopy
from pyhv.cluster.wire import MSG_DSM_DATA, MSG_DSM_GRANT_X, MSG_DSM_INV, MSG_DSM_LOST, MSG_DSM_PUT_ACK, MSG_DSM_RECALL
from pyhv.dsm.hold import dsm_hold_active
from pyhv.dsm.local import (
    dsm_drop_read_copy, dsm_local_set, dsm_local_set_clean, dsm_msg_gpn_ok, dsm_next_txn, dsm_out_complete, dsm_send_ctl,
    dsm_send_data,
)
from pyhv.dsm.types import (
    DATA_CLEAN, DATA_EXCL, DSM_DONE, DSM_MIG_THRESHOLD, DSM_ERR_NODE_LOST, DSM_NONE8, DSM_NONE16, DSM_PAGE_BYTES, DSM_QUEUE_RECS,
    RECALL_DOWN, RECALL_INV, RECALL_KEPT, RECALL_WRITTEN, RQ_S, RQ_X, ST_INVALID, ST_READ, ST_WRITE, DsmCtlMsg, DsmDataMsg, DsmDir,
    dsm_bit, dsm_dir, dsm_home_pa, dsm_page, dsm_state,
)


def dsm_queue_init() -> None:
    st = dsm_state()
    for i in range(u32(0), DSM_QUEUE_RECS):
        st.q[i].next = u16(i + 1) if i + 1 < DSM_QUEUE_RECS else DSM_NONE16
    st.q_free = u16(0)
    st.q_used = u16(0)


def _enqueue(d: DsmDir, src: u16, kind: u8, txn: u32) -> None:
    st = dsm_state()
    r = st.q_free
    if r == DSM_NONE16:
        panic("dsm: DSM_QUEUE_RECS exhausted (bound: DSM_MAX_NODES x DSM_MAX_OUT queued requests)")
    rec = st.q[r]
    st.q_free = rec.next
    rec.next = DSM_NONE16
    rec.src = src
    rec.kind = kind
    rec.txn = txn
    if d.q_head == DSM_NONE16:
        d.q_head = r
    else:
        st.q[d.q_tail].next = r
    d.q_tail = r
    st.q_used += 1
    if u64(st.q_used) > st.stats.queue_high:
        st.stats.queue_high = u64(st.q_used)


def _free_rec(r: u16) -> None:
    st = dsm_state()
    st.q[r].next = st.q_free
    st.q_free = r
    st.q_used -= 1


def dsm_home_request(src: u16, gpn: u32, kind: u8, txn: u32) -> None:
    # A GET_S / GET_X for a page we home, from `src` (possibly ourselves).
    d = dsm_dir(gpn)
    if d.busy != 0:
        dsm_state().stats.queued += 1
    _enqueue(d, src, kind, txn)
    dsm_home_run(gpn)


def dsm_home_run(gpn: u32) -> None:
    # Drive gpn's directory: start queued transactions and complete those with every answer in.
    d = dsm_dir(gpn)
    st = dsm_state()
    while True:
        if d.busy == 0:
            r = d.q_head
            if r == DSM_NONE16:
                return
            rec = st.q[r]
            if rec.src != st.cfg.me and dsm_hold_active(gpn):
                st.stats.held += 1
                return                  # a local vCPU has not used the page yet: fault.py restarts us
            d.q_head = rec.next
            if d.q_head == DSM_NONE16:
                d.q_tail = DSM_NONE16
            src = rec.src
            kind = rec.kind
            txn = rec.txn
            _free_rec(r)
            _start(gpn, d, src, kind, txn)
        if d.pending != 0:
            return
        _complete(gpn, d)


def _recall(gpn: u32, d: DsmDir, mode: u32) -> None:
    d.recall_node = d.owner
    d.pending = d.pending | dsm_bit(d.owner)
    dsm_state().stats.recalls_sent += 1
    dsm_send_ctl(d.owner, MSG_DSM_RECALL, gpn, d.home_txn, mode)


def _members(mask: u16) -> u32:
    n = u32(0)
    for i in range(u32(0), u32(16)):
        if (mask & (u16(1) << i)) != 0:
            n += 1
    return n


def _home_gives_up(gpn: u32, d: DsmDir) -> None:
    # The home's own exclusive copy goes: if it came from a migratory read and was never written, the page
    # is not migratory after all.
    if dsm_page(gpn).clean != 0:
        d.mig = u8(0)


def _start(gpn: u32, d: DsmDir, src: u16, kind: u8, txn: u32) -> None:
    # Send what the transaction needs (INV / RECALL) and act on the home's own copy; never waits.
    st = dsm_state()
    me = st.cfg.me
    d.busy = u8(1)
    d.req_node = src
    d.req_kind = kind
    d.req_txn = txn
    d.home_txn = dsm_next_txn()
    d.pending = u16(0)
    d.recall_node = DSM_NONE16
    d.req_gone = u8(0)
    d.had_copy = u8(0)
    d.converted = u8(0)
    if d.lost != 0:
        return
    if d.excl != 0 and d.owner == src:
        # The requester holds the page already: the home itself, after a transaction of a node that died
        # gave it back; from another node it would break the protocol (never, with in-order streams).
        if src != me:
            st.stats.protocol_errors += 1
        d.req_gone = u8(2)
        return
    if kind == RQ_S and d.mig >= DSM_MIG_THRESHOLD and (d.copyset & dsm_bit(src)) == 0:
        # A migratory page (read, then written, by one node at a time): grant the read exclusively, clean,
        # so the write that follows needs no second round trip (docs/dsm.md "Migratory pages").
        kind = RQ_X
        d.req_kind = RQ_X
        d.converted = u8(1)
        st.stats.migratory_grants += 1
    if kind == RQ_S:
        if d.excl == 0 and _members(d.copyset | dsm_bit(src)) >= 3:
            d.mig = u8(0)               # read-shared by several nodes at once: not migratory
        if d.excl != 0:
            if d.owner == me:
                _home_gives_up(gpn, d)
                dsm_local_set(gpn, ST_READ, dsm_home_pa(gpn))
                d.excl = u8(0)
                d.copyset = dsm_bit(me)
            else:
                _recall(gpn, d, RECALL_DOWN)
        return
    if d.excl != 0:
        if d.owner == me:
            _home_gives_up(gpn, d)
            dsm_local_set(gpn, ST_INVALID, u64(0))
            d.copyset = u16(0)
        else:
            _recall(gpn, d, RECALL_INV)
        return
    if (d.copyset & dsm_bit(src)) != 0:
        d.had_copy = u8(1)
        if _members(d.copyset) <= 2 and d.mig < DSM_MIG_THRESHOLD:
            d.mig += 1                  # an upgrade with at most one other copy: the migratory pattern
    for n in range(u16(0), u16(st.cfg.nodes)):
        b = dsm_bit(n)
        if (d.copyset & b) == 0 or n == src:
            continue
        if n == me:
            dsm_drop_read_copy(gpn)
            d.copyset = d.copyset & ~b
        else:
            d.pending = d.pending | b
            st.stats.inv_sent += 1
            dsm_send_ctl(n, MSG_DSM_INV, gpn, d.home_txn, u32(0))


def _complete(gpn: u32, d: DsmDir) -> None:
    # Every answer is in: grant (or report the page lost) and update the directory.
    st = dsm_state()
    me = st.cfg.me
    src = d.req_node
    result = DSM_DONE
    d.busy = u8(0)
    if d.lost != 0:
        result = DSM_ERR_NODE_LOST
        if src != me and d.req_gone == 0:
            dsm_send_ctl(src, MSG_DSM_LOST, gpn, d.req_txn, u32(0))
    elif d.req_gone == 2:
        pass
    elif d.req_gone != 0:
        if d.req_kind == RQ_X:
            # the invalidations are done and the home frame is current: the home takes the page back
            d.excl = u8(1)
            d.owner = me
            d.copyset = dsm_bit(me)
            dsm_local_set(gpn, ST_WRITE, dsm_home_pa(gpn))
        return
    elif d.req_kind == RQ_S:
        d.copyset = d.copyset | dsm_bit(src)
        d.excl = u8(0)
        if src == me:
            dsm_local_set(gpn, ST_READ, dsm_home_pa(gpn))
        else:
            dsm_send_data(src, MSG_DSM_DATA, gpn, d.req_txn, u32(0), dsm_home_pa(gpn))
    else:
        d.excl = u8(1)
        d.owner = src
        d.copyset = dsm_bit(src)
        if src == me:
            if d.converted != 0:
                dsm_local_set_clean(gpn, dsm_home_pa(gpn))
            else:
                dsm_local_set(gpn, ST_WRITE, dsm_home_pa(gpn))
        elif d.had_copy != 0:
            dsm_send_ctl(src, MSG_DSM_GRANT_X, gpn, d.req_txn, u32(0))
        else:
            flags = DATA_EXCL | (DATA_CLEAN if d.converted != 0 else u32(0))
            dsm_send_data(src, MSG_DSM_DATA, gpn, d.req_txn, flags, dsm_home_pa(gpn))
    if src != me:
        return
    page = dsm_page(gpn)
    if page.out == DSM_NONE8:
        return
    e = st.out[u32(page.out)]
    if e.txn != d.req_txn:
        return
    if dsm_out_complete(u32(page.out), result):
        # a read was granted to vCPUs some of which want to write: queue the upgrade
        e.kind = RQ_X
        e.txn = dsm_next_txn()
        _enqueue(d, me, RQ_X, e.txn)


def _home_gpn_ok(gpn: u32) -> bool:
    return dsm_msg_gpn_ok(gpn, dsm_state().cfg.me)


def dsm_get_s_handler(src: u16, req_id: u32, payload: u64, length: u32) -> None:
    m = struct_at(DsmCtlMsg, payload)
    if _home_gpn_ok(m.gpn) and src != dsm_state().cfg.me:
        dsm_home_request(src, m.gpn, RQ_S, m.txn)


def dsm_get_x_handler(src: u16, req_id: u32, payload: u64, length: u32) -> None:
    m = struct_at(DsmCtlMsg, payload)
    if _home_gpn_ok(m.gpn) and src != dsm_state().cfg.me:
        dsm_home_request(src, m.gpn, RQ_X, m.txn)


def _answer_ok(d: DsmDir, src: u16, txn: u32) -> bool:
    if d.busy != 0 and d.pending != 0 and txn == d.home_txn and (d.pending & dsm_bit(src)) != 0:
        return True
    dsm_state().stats.stale += 1
    return False


def dsm_inv_ack_handler(src: u16, req_id: u32, payload: u64, length: u32) -> None:
    m = struct_at(DsmCtlMsg, payload)
    if not _home_gpn_ok(m.gpn):
        return
    d = dsm_dir(m.gpn)
    if not _answer_ok(d, src, m.txn) or d.recall_node == src:
        return
    d.pending = d.pending & ~dsm_bit(src)
    dsm_home_run(m.gpn)


def dsm_recall_data_handler(src: u16, req_id: u32, payload: u64, length: u32) -> None:
    # The owner's data: the home frame is current again. For a read the home keeps a READ copy (so the
    # home is in the copyset whenever the page is not exclusive), with the old owner if it kept one.
    st = dsm_state()
    m = struct_at(DsmDataMsg, payload)
    if not _home_gpn_ok(m.gpn):
        return
    gpn = m.gpn
    d = dsm_dir(gpn)
    if not _answer_ok(d, src, m.txn) or d.recall_node != src:
        return
    bytecopy(dsm_home_pa(gpn), addr_of(m.data), DSM_PAGE_BYTES)
    d.pending = d.pending & ~dsm_bit(src)
    d.recall_node = DSM_NONE16
    d.excl = u8(0)
    if (m.flags & RECALL_WRITTEN) == 0:
        d.mig = u8(0)                   # an exclusive copy came back unwritten: reads are not followed by writes
    if d.req_kind == RQ_S:
        d.copyset = dsm_bit(st.cfg.me)
        if (m.flags & RECALL_KEPT) != 0:
            d.copyset = d.copyset | dsm_bit(src)
        dsm_local_set(gpn, ST_READ, dsm_home_pa(gpn))
    else:
        d.copyset = u16(0)
    dsm_home_run(gpn)


def dsm_put_s_handler(src: u16, req_id: u32, payload: u64, length: u32) -> None:
    # A clean copy was dropped (no answer). Stale when an INV already took it (the INV_ACK follows).
    st = dsm_state()
    m = struct_at(DsmCtlMsg, payload)
    if not _home_gpn_ok(m.gpn):
        return
    d = dsm_dir(m.gpn)
    b = dsm_bit(src)
    if d.excl == 0 and (d.copyset & b) != 0 and src != st.cfg.me:
        d.copyset = d.copyset & ~b
    else:
        st.stats.stale += 1


def dsm_put_x_handler(src: u16, req_id: u32, payload: u64, length: u32) -> None:
    # A write-back from the owner. Idle page: the home takes it back exclusively (and maps it). Busy page:
    # a RECALL to the same owner is in flight; its RECALL_DATA (from the EVICTING frame, the same bytes)
    # finishes the transaction. PUT_ACK always: it follows the RECALL on the stream, so the owner frees the
    # EVICTING frame only after answering it.
    st = dsm_state()
    m = struct_at(DsmDataMsg, payload)
    if not _home_gpn_ok(m.gpn):
        return
    gpn = m.gpn
    d = dsm_dir(gpn)
    me = st.cfg.me
    if d.excl != 0 and d.owner == src and src != me and d.lost == 0:
        bytecopy(dsm_home_pa(gpn), addr_of(m.data), DSM_PAGE_BYTES)
        if d.busy == 0:
            d.owner = me
            d.copyset = dsm_bit(me)
            dsm_local_set(gpn, ST_WRITE, dsm_home_pa(gpn))
    else:
        st.stats.stale += 1
    dsm_send_ctl(src, MSG_DSM_PUT_ACK, gpn, m.txn, u32(0))


def dsm_home_node_lost(node: u16) -> u32:
    # `node` died: forget its queued requests and its copies; a page whose only valid copy it held is
    # lost. Returns how many of our pages were lost.
    st = dsm_state()
    c = st.cfg
    me = c.me
    b = dsm_bit(node)
    lost = u32(0)
    for k in range(u32(0), c.home_pages[me]):
        gpn = c.first_gpn[me] + k
        d = dsm_dir(gpn)
        prev = DSM_NONE16
        r = d.q_head
        while r != DSM_NONE16:
            nxt = st.q[r].next
            if st.q[r].src == node:
                if prev == DSM_NONE16:
                    d.q_head = nxt
                else:
                    st.q[prev].next = nxt
                if d.q_tail == r:
                    d.q_tail = prev
                _free_rec(r)
            else:
                prev = r
            r = nxt
        if d.lost == 0 and ((d.excl != 0 and d.owner == node) or d.recall_node == node):
            d.lost = u8(1)
            lost += 1
        if d.busy != 0:
            if d.req_node == node:
                d.req_gone = u8(1)
            d.pending = d.pending & ~b
            if d.recall_node == node:
                d.recall_node = DSM_NONE16
        if d.excl == 0:
            d.copyset = d.copyset & ~b
        dsm_home_run(gpn)
    return lost
