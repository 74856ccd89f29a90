# This node's copies of guest pages (docs/dsm.md "Protocol"): mapping changes through DsmOps (with the
# exclusive-monitor clear on every loss or downgrade), the cache pool and its clock eviction (clean copies
# dropped with PUT_S, dirty ones written back with PUT_X and kept EVICTING until PUT_ACK), outstanding
# requests shared by every local vCPU faulting the same page, and the handlers of the messages a home sends
# to a requester or holder: DATA, GRANT_X, INV, RECALL, PUT_ACK, LOST. Handlers send and return; nothing
# here waits. Every message for page p that this node receives comes from p's home over one in-order
# stream, so a DATA always precedes a later INV / RECALL for the same page.

from typing import Final

from pyhv.lang import addr_of, range, struct_at, u8, u16, u32, u64

from pyhv.arch.timer import timer_now
from pyhv.cluster.bytecopy import bytecopy
from pyhv.cluster.table import cluster_cfg
from pyhv.cluster.transport import transport_peer, transport_send
from pyhv.cluster.wire import (
    MSG_DSM_GET_S, MSG_DSM_GET_X, MSG_DSM_INV_ACK, MSG_DSM_PUT_S, MSG_DSM_PUT_X, MSG_DSM_RECALL_DATA,
)
from pyhv.dsm.hold import dsm_hold_active, dsm_hold_defer, dsm_hold_set
from pyhv.dsm.types import (
    DATA_CLEAN, DATA_EXCL, DSM_DONE, HOLD_INV, HOLD_RECALL, DSM_ERR_NODE_LOST, DSM_EVICT_MAX, DSM_FAULT_WRITE, DSM_LAT_BUCKETS, DSM_MAX_OUT,
    DSM_MAX_VCPUS, DSM_NONE8, DSM_NONE32, DSM_PAGE_BYTES, DSM_PERM_R, DSM_PERM_W, DSM_PERM_X,
    FR_EVICTING, FR_FREE, FR_USED, OUT_FREE, OUT_SENT, OUT_STALLED, RECALL_DOWN, RECALL_KEPT, RECALL_WRITTEN, RQ_S,
    RQ_X, ST_INVALID,
    ST_READ, ST_WRITE, VF_DONE, DsmCtlMsg, DsmDataMsg, dsm_frame, dsm_frame_pa, dsm_home_of, dsm_ipa,
    dsm_ops, dsm_page, dsm_state,
)

_CTL_BYTES: Final = u32(12)
_DATA_BYTES: Final = u32(4112)


def dsm_next_txn() -> u32:
    st = dsm_state()
    st.next_txn += 1
    if st.next_txn == 0:
        st.next_txn = u32(1)
    return st.next_txn


def dsm_perm(state: u8) -> u32:
    if state == ST_WRITE:
        return DSM_PERM_R | DSM_PERM_W | DSM_PERM_X
    return DSM_PERM_R | DSM_PERM_X


def dsm_satisfied(state: u8, access: u32) -> bool:
    if access == DSM_FAULT_WRITE:
        return state == ST_WRITE
    return state != ST_INVALID


def dsm_local_set(gpn: u32, state: u8, pa: u64) -> None:
    # Change this node's copy of gpn; `pa` is where it lives (used when it gets mapped). A loss or a
    # downgrade clears the local exclusive monitors on the page before it can be mapped again.
    page = dsm_page(gpn)
    old = page.state
    if state == old:
        return
    ops = dsm_ops()
    ipa = dsm_ipa(gpn)
    if state == ST_INVALID:
        ops.unmap(ipa)
        ops.monitor_clear(ipa)
    elif old == ST_INVALID:
        ops.map(ipa, pa, dsm_perm(state))
    else:
        ops.protect(ipa, dsm_perm(state))
        if state == ST_READ:
            ops.monitor_clear(ipa)
    page.state = state
    page.clean = u8(0)


def dsm_local_set_clean(gpn: u32, pa: u64) -> None:
    # Exclusive ownership granted for a read (a migratory page, docs/dsm.md): ST_WRITE, but mapped without
    # write permission, so the first write traps here and only re-protects the page (dsm_mark_dirty);
    # until then a recall tells the home the copy came back unwritten.
    page = dsm_page(gpn)
    if page.state == ST_WRITE:
        dsm_state().stats.protocol_errors += 1
        return
    if page.state == ST_INVALID:
        dsm_ops().map(dsm_ipa(gpn), pa, DSM_PERM_R | DSM_PERM_X)
    page.state = ST_WRITE
    page.clean = u8(1)


def dsm_mark_dirty(gpn: u32) -> None:
    # The first write to a clean exclusive copy: no message, only the write permission.
    page = dsm_page(gpn)
    dsm_ops().protect(dsm_ipa(gpn), dsm_perm(ST_WRITE))
    page.clean = u8(0)
    dsm_state().stats.clean_writes += 1


def dsm_expect(node: u16, delta: u32) -> None:
    # While we wait on a home's answer the transport must watch the peer (keepalives, loss detection):
    # DSM requests are one-way messages, so they count in the peer's waiting_reqs like requests do.
    p = transport_peer(node)
    if delta == 1:
        p.waiting_reqs += 1
    elif p.waiting_reqs > 0:
        p.waiting_reqs -= 1


def dsm_send_ctl(dst: u16, msg_type: u32, gpn: u32, txn: u32, arg: u32) -> None:
    m = dsm_state().ctl
    m.gpn = gpn
    m.txn = txn
    m.arg = arg
    transport_send(dst, msg_type, u8(0), u32(0), addr_of(m), _CTL_BYTES)


def dsm_send_data(dst: u16, msg_type: u32, gpn: u32, txn: u32, flags: u32, src_pa: u64) -> None:
    st = dsm_state()
    m = st.tx
    m.gpn = gpn
    m.txn = txn
    m.flags = flags
    m.pad = u32(0)
    bytecopy(addr_of(m.data), src_pa, DSM_PAGE_BYTES)
    st.stats.pages_sent += 1
    transport_send(dst, msg_type, u8(0), u32(0), addr_of(m), _DATA_BYTES)


def dsm_msg_gpn_ok(gpn: u32, home: u16) -> bool:
    # A message names a page of guest RAM homed where the protocol says; otherwise it is counted, dropped.
    st = dsm_state()
    if st.ready and gpn < st.total_pages and dsm_home_of(gpn) == home:
        return True
    st.stats.protocol_errors += 1
    return False


def _frame_release(page_gpn: u32) -> None:
    page = dsm_page(page_gpn)
    if page.frame != DSM_NONE32:
        dsm_state().frames_changed = True
        dsm_frame(page.frame).state = FR_FREE
        page.frame = DSM_NONE32


def _evict_write_back(i: u32) -> None:
    # Write back a dirty copy: unmap first (no more writes), then send; the frame answers RECALL until
    # PUT_ACK.
    st = dsm_state()
    fr = dsm_frame(i)
    gpn = fr.gpn
    dsm_local_set(gpn, ST_INVALID, u64(0))
    dsm_page(gpn).frame = DSM_NONE32
    fr.state = FR_EVICTING
    st.evicting += 1
    st.stats.writebacks += 1
    dsm_send_data(dsm_home_of(gpn), MSG_DSM_PUT_X, gpn, dsm_next_txn(), u32(0), dsm_frame_pa(i))


def dsm_frame_alloc(gpn: u32) -> u32:
    # A cache frame for gpn, evicting with a clock if the pool is full; DSM_NONE32 if every frame is pinned
    # by a fetch or is being written back (the caller stalls until PUT_ACK / a completion frees one).
    st = dsm_state()
    pool = st.cfg.pool_pages
    found = DSM_NONE32
    for i in range(u32(0), pool):
        if dsm_frame(i).state == FR_FREE:
            found = i
            break
    steps = u32(0)
    while found == DSM_NONE32 and steps < pool * 2 + 1 and pool > 0:
        steps += 1
        i = st.hand
        st.hand = (st.hand + 1) % pool
        fr = dsm_frame(i)
        if fr.state != FR_USED:
            continue
        pg = dsm_page(fr.gpn)
        if pg.out != DSM_NONE8 or dsm_hold_active(fr.gpn):
            continue                    # pinned: a fetch or an upgrade in progress, or held for its vCPU
        if fr.ref != 0:
            fr.ref = u8(0)
            continue
        if pg.state == ST_READ:
            dsm_local_set(fr.gpn, ST_INVALID, u64(0))
            pg.frame = DSM_NONE32
            st.stats.evictions += 1
            dsm_send_ctl(dsm_home_of(fr.gpn), MSG_DSM_PUT_S, fr.gpn, dsm_next_txn(), u32(0))
            found = i
        elif pg.state == ST_WRITE and st.evicting < DSM_EVICT_MAX:
            _evict_write_back(i)
    if found == DSM_NONE32:
        return found
    fr = dsm_frame(found)
    fr.state = FR_USED
    fr.gpn = gpn
    fr.ref = u8(0)
    return found


def _vcpu_finish(v: u32, result: u32) -> None:
    st = dsm_state()
    f = st.vcpu[v]
    f.state = VF_DONE
    f.result = result
    if result == DSM_DONE:
        dsm_hold_set(v, f.gpn)
        st.stats.faults_done += 1
        us = (timer_now() - f.start) * 1000000 // cluster_cfg().freq_hz
        b = u32(0)
        while us > 1 and b < DSM_LAT_BUCKETS - 1:
            us = us >> 1
            b += 1
        st.stats.lat_hist[b] += 1
    else:
        st.stats.faults_failed += 1
    if v != st.sync_vcpu:
        dsm_ops().wake(v)


def dsm_out_complete(idx: u32, result: u32) -> bool:
    # The request of entry idx was answered: finish every waiter the page's new state satisfies (or all
    # of them on an error). True: waiters needing write remain (a read was granted): the caller re-sends.
    st = dsm_state()
    e = st.out[idx]
    page = dsm_page(e.gpn)
    remaining = u32(0)
    for v in range(u32(0), DSM_MAX_VCPUS):
        bit = u32(1) << v
        if (e.waiters & bit) == 0:
            continue
        if result == DSM_DONE and not dsm_satisfied(page.state, st.vcpu[v].access):
            remaining = remaining | bit
            continue
        _vcpu_finish(v, result)
    e.waiters = remaining
    if remaining != 0:
        return True
    if e.state == OUT_STALLED:
        st.stalled -= 1
    e.state = OUT_FREE
    st.frames_changed = True            # its frame is no longer pinned
    page.out = DSM_NONE8
    if page.state == ST_INVALID:
        _frame_release(e.gpn)           # a fetch that failed: its reserved frame goes back
    return False


def dsm_out_want(idx: u32) -> u8:
    st = dsm_state()
    e = st.out[idx]
    for v in range(u32(0), DSM_MAX_VCPUS):
        if (e.waiters & (u32(1) << v)) != 0 and st.vcpu[v].access == DSM_FAULT_WRITE:
            return RQ_X
    return RQ_S


def dsm_out_send(idx: u32) -> None:
    # Send entry idx's request to the page's (remote) home: an upgrade keeps its READ copy (pinned by the
    # entry); a fetch first reserves a frame, or stalls until one is free.
    st = dsm_state()
    e = st.out[idx]
    page = dsm_page(e.gpn)
    kind = dsm_out_want(idx)
    if page.state == ST_INVALID and page.frame == DSM_NONE32:
        f = dsm_frame_alloc(e.gpn)
        if f == DSM_NONE32:
            if e.state != OUT_STALLED:
                st.stats.stalls += 1
                st.stalled += 1
            e.state = OUT_STALLED
            return
        page.frame = f
    if e.state == OUT_STALLED:
        st.stalled -= 1
    e.kind = kind
    e.upgrade = u8(1) if page.state == ST_READ else u8(0)
    e.txn = dsm_next_txn()
    e.state = OUT_SENT
    home = dsm_home_of(e.gpn)
    dsm_expect(home, u32(1))
    dsm_send_ctl(home, MSG_DSM_GET_X if kind == RQ_X else MSG_DSM_GET_S, e.gpn, e.txn, u32(0))


def dsm_retry_stalled() -> None:
    st = dsm_state()
    if st.stalled == 0 or not st.frames_changed:
        return
    st.frames_changed = False
    for i in range(u32(0), DSM_MAX_OUT):
        if st.out[i].state == OUT_STALLED:
            dsm_out_send(i)


def _answer_entry(src: u16, gpn: u32, txn: u32) -> u32:
    # The outstanding entry a home's answer (DATA / GRANT_X / LOST) completes, DSM_NONE32 if stale.
    st = dsm_state()
    if not dsm_msg_gpn_ok(gpn, src):
        return DSM_NONE32
    page = dsm_page(gpn)
    if page.out == DSM_NONE8:
        st.stats.stale += 1
        return DSM_NONE32
    e = st.out[u32(page.out)]
    if e.state != OUT_SENT or e.txn != txn:
        st.stats.stale += 1
        return DSM_NONE32
    dsm_expect(src, u32(0))
    return u32(page.out)


def dsm_data_handler(src: u16, req_id: u32, payload: u64, length: u32) -> None:
    # DATA from the home: the page, shared or exclusive (also the answer to an upgrade whose copy an INV
    # took away meanwhile: the home decides from its directory, so we accept data for an upgrade too).
    st = dsm_state()
    m = struct_at(DsmDataMsg, payload)
    idx = _answer_entry(src, m.gpn, m.txn)
    if idx == DSM_NONE32:
        return
    page = dsm_page(m.gpn)
    if page.frame == DSM_NONE32:
        st.stats.protocol_errors += 1
        return
    if st.out[idx].upgrade != 0:
        st.stats.upgrades_with_data += 1
    new = ST_WRITE if (m.flags & DATA_EXCL) != 0 else ST_READ
    if page.state == ST_READ and new == ST_WRITE:
        st.stats.protocol_errors += 1   # a sharer is granted without data; never sent its page again
    bytecopy(dsm_frame_pa(page.frame), addr_of(m.data), DSM_PAGE_BYTES)
    if new == ST_WRITE and (m.flags & DATA_CLEAN) != 0 and page.state == ST_INVALID:
        dsm_local_set_clean(m.gpn, dsm_frame_pa(page.frame))
    else:
        dsm_local_set(m.gpn, new, dsm_frame_pa(page.frame))
    dsm_frame(page.frame).ref = u8(1)
    st.stats.pages_fetched += 1
    if dsm_out_complete(idx, DSM_DONE):
        dsm_out_send(idx)


def dsm_grant_handler(src: u16, req_id: u32, payload: u64, length: u32) -> None:
    # GRANT_X: the home found us still a sharer and every other copy invalidated: write without data.
    st = dsm_state()
    m = struct_at(DsmCtlMsg, payload)
    idx = _answer_entry(src, m.gpn, m.txn)
    if idx == DSM_NONE32:
        return
    page = dsm_page(m.gpn)
    if page.state != ST_READ:
        st.stats.protocol_errors += 1
        return
    dsm_local_set(m.gpn, ST_WRITE, u64(0))
    st.stats.upgrades_no_data += 1
    dsm_out_complete(idx, DSM_DONE)


def dsm_lost_handler(src: u16, req_id: u32, payload: u64, length: u32) -> None:
    # LOST: the page's only valid copy died with a node; every waiter fails.
    m = struct_at(DsmCtlMsg, payload)
    idx = _answer_entry(src, m.gpn, m.txn)
    if idx == DSM_NONE32:
        return
    dsm_page(m.gpn).lost = u8(1)
    dsm_out_complete(idx, DSM_ERR_NODE_LOST)


def dsm_drop_read_copy(gpn: u32) -> None:
    # INV of a READ copy (remote home) or of the home's own: unmap; a frame pinned by an outstanding
    # request stays reserved for its answer.
    page = dsm_page(gpn)
    if page.state != ST_READ:
        return
    dsm_local_set(gpn, ST_INVALID, u64(0))
    if page.out == DSM_NONE8:
        _frame_release(gpn)


def dsm_inv_handler(src: u16, req_id: u32, payload: u64, length: u32) -> None:
    st = dsm_state()
    m = struct_at(DsmCtlMsg, payload)
    if not dsm_msg_gpn_ok(m.gpn, src):
        return
    st.stats.inv_recv += 1
    if not dsm_hold_defer(m.gpn, HOLD_INV, src, m.txn, u32(0)):
        dsm_inv_apply(src, m.gpn, m.txn)


def dsm_inv_apply(src: u16, gpn: u32, txn: u32) -> None:
    if dsm_page(gpn).state == ST_WRITE:
        dsm_state().stats.protocol_errors += 1   # the home sends INV to sharers only; an owner gets RECALL
    dsm_drop_read_copy(gpn)
    dsm_send_ctl(src, MSG_DSM_INV_ACK, gpn, txn, u32(0))


def _evicting_frame(gpn: u32) -> u32:
    st = dsm_state()
    for i in range(u32(0), st.cfg.pool_pages):
        fr = dsm_frame(i)
        if fr.state == FR_EVICTING and fr.gpn == gpn:
            return i
    return DSM_NONE32


def dsm_recall_handler(src: u16, req_id: u32, payload: u64, length: u32) -> None:
    # RECALL: we hold the page exclusively (or are writing it back): send the data; downgrade to READ or
    # drop it. A copy being written back answers from its EVICTING frame and says it kept nothing.
    st = dsm_state()
    m = struct_at(DsmCtlMsg, payload)
    if not dsm_msg_gpn_ok(m.gpn, src):
        return
    st.stats.recalls_recv += 1
    if not dsm_hold_defer(m.gpn, HOLD_RECALL, src, m.txn, m.arg):
        dsm_recall_apply(src, m.gpn, m.txn, m.arg)


def dsm_recall_apply(src: u16, gpn: u32, txn: u32, mode: u32) -> None:
    st = dsm_state()
    page = dsm_page(gpn)
    if page.state == ST_WRITE:
        f = page.frame
        flags = RECALL_WRITTEN if page.clean == 0 else u32(0)
        if mode == RECALL_DOWN:
            dsm_local_set(gpn, ST_READ, u64(0))
            flags = flags | RECALL_KEPT
        else:
            dsm_local_set(gpn, ST_INVALID, u64(0))
        dsm_send_data(src, MSG_DSM_RECALL_DATA, gpn, txn, flags, dsm_frame_pa(f))
        if (flags & RECALL_KEPT) == 0:
            _frame_release(gpn)
        return
    ev = _evicting_frame(gpn)
    if ev == DSM_NONE32:
        st.stats.protocol_errors += 1
        return
    st.stats.recalls_from_evicting += 1
    dsm_send_data(src, MSG_DSM_RECALL_DATA, gpn, txn, RECALL_WRITTEN, dsm_frame_pa(ev))


def dsm_put_ack_handler(src: u16, req_id: u32, payload: u64, length: u32) -> None:
    # PUT_ACK: the home has our write-back; the EVICTING frame is free, stalled fetches may go.
    st = dsm_state()
    m = struct_at(DsmCtlMsg, payload)
    if not dsm_msg_gpn_ok(m.gpn, src):
        return
    ev = _evicting_frame(m.gpn)
    if ev == DSM_NONE32:
        st.stats.stale += 1
        return
    dsm_frame(ev).state = FR_FREE
    st.evicting -= 1
    st.frames_changed = True
    dsm_retry_stalled()


def dsm_forget_node_pages(node: u16) -> u32:
    # `node` died: drop every copy of its pages (mapped, reserved or being written back) and fail the
    # requests waiting on it. Returns how many of its pages this node held.
    st = dsm_state()
    c = st.cfg
    held = u32(0)
    for i in range(u32(0), DSM_MAX_OUT):
        e = st.out[i]
        if e.state != OUT_FREE and dsm_home_of(e.gpn) == node:
            dsm_local_set(e.gpn, ST_INVALID, u64(0))
            dsm_out_complete(i, DSM_ERR_NODE_LOST)
    first = c.first_gpn[node]
    for k in range(u32(0), c.home_pages[node]):
        gpn = first + k
        page = dsm_page(gpn)
        if page.state != ST_INVALID:
            held += 1
            dsm_local_set(gpn, ST_INVALID, u64(0))
        _frame_release(gpn)
        page.lost = u8(1)
    for i in range(u32(0), c.pool_pages):
        fr = dsm_frame(i)
        if fr.state == FR_EVICTING and dsm_home_of(fr.gpn) == node:
            fr.state = FR_FREE
            st.evicting -= 1
            st.frames_changed = True
            held += 1
    dsm_retry_stalled()
    return held
