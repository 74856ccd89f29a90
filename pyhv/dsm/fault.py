# The DSM's entry points (docs/dsm.md): dsm_init, the fault path a stage-2 fault handler calls
# (dsm_fault_begin, then dsm_fault_pending / dsm_fault_wait), dsm_poll for the node's idle loop (node loss,
# stalled fetches), and the statistics. A fault on a page another local vCPU is already fetching joins that
# request. Locking: every function here and every DSM message handler mutates DSM state; on a node with
# several CPUs one node-wide lock around {these entry points, cluster_poll's dispatch} suffices, because
# nothing in pyhv/dsm waits while holding state (dsm_fault_wait waits only in cluster_poll /
# cluster_sleep_until, between calls).

from pyhv.lang import kprint, panic, range, struct_copy, u8, u16, u32, u64

from pyhv.arch.timer import timer_now
from pyhv.cluster.idle import cluster_sleep_until
from pyhv.cluster.node import cluster_next_deadline, cluster_poll
from pyhv.cluster.transport import PEER_LOST, transport_peer_state
from pyhv.dsm.hold import dsm_hold_expired, dsm_hold_init, dsm_hold_set
from pyhv.dsm.home import dsm_home_node_lost, dsm_home_request, dsm_home_run, dsm_queue_init
from pyhv.dsm.local import dsm_forget_node_pages, dsm_inv_apply, dsm_mark_dirty, dsm_next_txn, dsm_recall_apply, dsm_out_send, dsm_retry_stalled, dsm_satisfied
from pyhv.dsm.types import (
    HOLD_INV, HOLD_RECALL, DSM_DONE, DSM_ERR_NODE_LOST, DSM_ERR_NOT_RAM, DSM_FAULT_KINDS, DSM_FAULT_WRITE, DSM_KIND_UPGRADE,
    DSM_LAT_BUCKETS, DSM_MAX_NODES, DSM_MAX_OUT, DSM_MAX_VCPUS, DSM_NONE8, DSM_NONE16, DSM_NONE32,
    DSM_PAGE_BYTES, DSM_PENDING, FR_FREE, OUT_FREE, OUT_SENT, RQ_S, RQ_X, ST_INVALID, ST_READ, ST_WRITE,
    VF_DONE, VF_NONE, VF_PENDING, DsmConfig, DsmStats, dsm_bit, dsm_dir, dsm_frame, dsm_home_of, dsm_page,
    dsm_state,
)


def dsm_init(cfg: DsmConfig) -> None:
    # Every node, after the cluster table is final and before any vCPU of any node runs. The image has
    # mapped this node's home range RWX already (the home starts as the exclusive owner of its pages).
    st = dsm_state()
    if cfg.nodes == 0 or cfg.nodes > DSM_MAX_NODES or u32(cfg.me) >= cfg.nodes or cfg.vcpus > DSM_MAX_VCPUS:
        panic("dsm_init: node count, node id or vCPU count out of range")
    struct_copy(st.cfg, cfg)
    total = u32(0)
    for n in range(u32(0), cfg.nodes):
        if cfg.first_gpn[n] != total:
            panic("dsm_init: home ranges must be contiguous in node order")
        total += cfg.home_pages[n]
    st.total_pages = total
    st.next_txn = u32(0)
    st.hand = u32(0)
    st.evicting = u32(0)
    st.stalled = u32(0)
    st.lost_mask = u16(0)
    st.sync_vcpu = DSM_NONE32
    me = cfg.me
    for gpn in range(u32(0), total):
        page = dsm_page(gpn)
        page.frame = DSM_NONE32
        page.out = DSM_NONE8
        page.lost = u8(0)
        page.clean = u8(0)
        page.state = ST_WRITE if dsm_home_of(gpn) == me else ST_INVALID
    for k in range(u32(0), cfg.home_pages[me]):
        d = dsm_dir(cfg.first_gpn[me] + k)
        d.owner = me
        d.copyset = dsm_bit(me)
        d.excl = u8(1)
        d.busy = u8(0)
        d.pending = u16(0)
        d.lost = u8(0)
        d.recall_node = DSM_NONE16
        d.q_head = DSM_NONE16
        d.q_tail = DSM_NONE16
        d.mig = u8(0)
        d.converted = u8(0)
    for i in range(u32(0), cfg.pool_pages):
        dsm_frame(i).state = FR_FREE
    for i in range(u32(0), DSM_MAX_OUT):
        st.out[i].state = OUT_FREE
    for i in range(u32(0), DSM_MAX_VCPUS):
        st.vcpu[i].state = VF_NONE
    dsm_queue_init()
    dsm_hold_init()
    st.ready = True


def _home_lost(home: u16) -> bool:
    return (dsm_state().lost_mask & dsm_bit(home)) != 0 or transport_peer_state(home) == PEER_LOST


def dsm_fault_begin(vcpu: u32, ipa: u64, access: u32) -> u32:
    # A stage-2 fault of local vCPU `vcpu` on `ipa` (access: DSM_FAULT_READ / WRITE / EXEC / WALK).
    # DSM_DONE: mapped now, re-execute; DSM_PENDING: wait (ops.wake(vcpu), dsm_fault_pending/_wait);
    # DSM_ERR_NOT_RAM / DSM_ERR_NODE_LOST.
    st = dsm_state()
    c = st.cfg
    if not st.ready or vcpu >= DSM_MAX_VCPUS or access >= DSM_KIND_UPGRADE:
        panic("dsm_fault_begin: DSM not initialised, or vCPU / access out of range")
    _hold_release(vcpu)                 # this vCPU ran on since its last fault was served
    f = st.vcpu[vcpu]
    if f.state == VF_PENDING:
        panic("dsm_fault_begin: this vCPU has a fault pending already")
    if ipa < c.ram_ipa_base or (ipa - c.ram_ipa_base) // DSM_PAGE_BYTES >= u64(st.total_pages):
        return DSM_ERR_NOT_RAM
    gpn = u32((ipa - c.ram_ipa_base) // DSM_PAGE_BYTES)
    home = dsm_home_of(gpn)
    page = dsm_page(gpn)
    if access == DSM_FAULT_WRITE and page.state == ST_WRITE and page.clean != 0:
        dsm_mark_dirty(gpn)             # the first write to a clean exclusive copy: local only
        return DSM_DONE
    kind = access
    if access == DSM_FAULT_WRITE and page.state == ST_READ:
        kind = DSM_KIND_UPGRADE
    st.stats.faults[kind] += 1
    if dsm_satisfied(page.state, access):
        st.stats.faults_done += 1
        return DSM_DONE                 # another vCPU of this node got it meanwhile
    if home != c.me and (_home_lost(home) or page.lost != 0):
        st.stats.faults_failed += 1
        return DSM_ERR_NODE_LOST
    f.state = VF_PENDING
    f.gpn = gpn
    f.access = access
    f.start = timer_now()
    f.result = DSM_PENDING
    if page.out != DSM_NONE8:
        e = st.out[u32(page.out)]
        e.waiters = e.waiters | (u32(1) << vcpu)
        return DSM_PENDING
    idx = DSM_NONE32
    for i in range(u32(0), DSM_MAX_OUT):
        if st.out[i].state == OUT_FREE:
            idx = i
            break
    if idx == DSM_NONE32:
        panic("dsm: DSM_MAX_OUT outstanding requests exceeded (bound: one fault per vCPU)")
    e = st.out[idx]
    e.gpn = gpn
    e.waiters = u32(1) << vcpu
    e.upgrade = u8(0)
    page.out = u8(idx)
    if home != c.me:
        e.state = OUT_SENT
        dsm_out_send(idx)
        return DSM_PENDING
    e.state = OUT_SENT
    e.kind = RQ_X if access == DSM_FAULT_WRITE else RQ_S
    e.txn = dsm_next_txn()
    st.sync_vcpu = vcpu
    dsm_home_request(c.me, gpn, e.kind, e.txn)
    st.sync_vcpu = DSM_NONE32
    if f.state == VF_DONE:
        dsm_hold_set(vcpu, gpn)
        f.state = VF_NONE
        return f.result
    return DSM_PENDING


def dsm_fault_pending(vcpu: u32) -> bool:
    return dsm_state().vcpu[vcpu].state == VF_PENDING


def dsm_fault_wait(vcpu: u32) -> u32:
    # Wait until vcpu's fault is served, serving other nodes meanwhile; returns DSM_DONE or the error.
    # (Returns at once with the result when the wake came already, DSM_DONE if nothing was pending.)
    st = dsm_state()
    while st.vcpu[vcpu].state == VF_PENDING:
        dsm_poll()
        if cluster_poll() == 0 and st.vcpu[vcpu].state == VF_PENDING:
            cluster_sleep_until(cluster_next_deadline())
    f = st.vcpu[vcpu]
    if f.state != VF_DONE:
        return DSM_DONE
    f.state = VF_NONE
    return f.result


def dsm_poll() -> None:
    # From the node's idle loop: handle peers the transport declared lost, send stalled fetches.
    st = dsm_state()
    if not st.ready:
        return
    c = st.cfg
    for n in range(u16(0), u16(c.nodes)):
        if n == c.me or (st.lost_mask & dsm_bit(n)) != 0 or transport_peer_state(n) != PEER_LOST:
            continue
        st.lost_mask = st.lost_mask | dsm_bit(n)
        held = dsm_forget_node_pages(n)
        homed = dsm_home_node_lost(n)
        kprint("dsm: node %u lost: %u of its %u pages were held here and are gone, %u pages homed here had "
               "their only copy there; faults on them fail\n", n, held, c.home_pages[n], homed)
    dsm_retry_stalled()
    for v in range(u32(0), c.vcpus):
        if dsm_hold_expired(v):
            _hold_release(v)


def _hold_release(v: u32) -> None:
    # End vCPU v's hold on its last served page: run the INV / RECALL that waited for it, and let the
    # page's home (if it is us) start the transaction it held back.
    st = dsm_state()
    h = st.hold[v]
    gpn = h.gpn
    if gpn == DSM_NONE32:
        return
    h.gpn = DSM_NONE32
    st.frames_changed = True            # its frame may be evicted again: stalled fetches may retry
    kind = h.d_type
    h.d_type = u8(0)
    if kind != 0 and _home_lost(h.d_src):
        kind = u8(0)                    # its sender died meanwhile: dsm_poll dropped what it homed
    if kind == HOLD_INV:
        dsm_inv_apply(h.d_src, gpn, h.d_txn)
    elif kind == HOLD_RECALL:
        dsm_recall_apply(h.d_src, gpn, h.d_txn, h.d_arg)
    if dsm_home_of(gpn) == st.cfg.me:
        dsm_home_run(gpn)


def dsm_stats() -> DsmStats:
    return dsm_state().stats


def dsm_print_stats() -> None:
    s = dsm_state().stats
    kprint("dsm: faults read %u write %u exec %u walk %u upgrade %u; served %u failed %u\n", s.faults[0],
           s.faults[1], s.faults[2], s.faults[3], s.faults[4], s.faults_done, s.faults_failed)
    kprint("dsm: pages fetched %u sent %u; inv sent %u received %u; recalls sent %u received %u\n",
           s.pages_fetched, s.pages_sent, s.inv_sent, s.inv_recv, s.recalls_sent, s.recalls_recv)
    kprint("dsm: upgrades without data %u with data %u; evictions %u write-backs %u; stalls %u\n",
           s.upgrades_no_data, s.upgrades_with_data, s.evictions, s.writebacks, s.stalls)
    kprint("dsm: queued %u (high water %u); stale %u; protocol errors %u; migratory grants %u clean writes %u\n",
           s.queued, s.queue_high, s.stale, s.protocol_errors, s.migratory_grants, s.clean_writes)
    kprint("dsm: fault latency (log2 us buckets):")
    for b in range(u32(0), DSM_LAT_BUCKETS):
        kprint(" %u", s.lat_hist[b])
    kprint("\n")
