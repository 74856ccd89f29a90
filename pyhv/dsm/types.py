# DSM data: constants, the configuration, the per-page tables laid out at meta_host_base, the node's static
# state, the message payloads and the ops slot the image (or the simulator) fills. docs/dsm.md "Protocol" is
# the specification; this module holds no logic beyond addressing.
#
#   meta_host_base: [DsmPage × total_pages][DsmDir × home_pages][DsmFrame × pool_pages]   (8-byte aligned)
#
# Every node keeps a DsmPage for every global page (its own view: INVALID / READ / WRITE), a DsmDir for each
# page it homes (owner + copyset + the transaction being served + its FIFO of queued requests) and a
# DsmFrame per cache-pool frame (which page it holds, for eviction).

from typing import Annotated, Callable, Final

from pyhv.lang import Array, Ops, OpsSlot, Static, Struct, panic, sizeof, struct_at, u8, u16, u32, u64

DSM_PAGE_BYTES: Final = u64(4096)
DSM_MAX_NODES: Final = u32(16)          # = wire MAX_NODES (copysets are u16 bitmasks)
DSM_MAX_VCPUS: Final = u32(16)          # vCPUs per node (waiter masks are u32)
DSM_MAX_OUT: Final = u32(16)            # outstanding requests per node: one fault per vCPU at most
DSM_EVICT_MAX: Final = u32(4)           # write-backs in flight per node (EVICTING frames)
DSM_QUEUE_RECS: Final = u32(256)        # queued requests at a home: DSM_MAX_NODES × DSM_MAX_OUT
DSM_HOLD_US: Final = u64(2000)          # longest a served page is kept from others for its vCPU (hold.py)
HOLD_INV: Final = u8(1)
HOLD_RECALL: Final = u8(2)
DSM_LAT_BUCKETS: Final = u32(20)        # fault latency histogram: bucket b counts [2^b, 2^(b+1)) µs
DSM_NONE16: Final = u16(0xFFFF)
DSM_NONE32: Final = u32(0xFFFFFFFF)
DSM_NONE8: Final = u8(0xFF)

# dsm_fault_begin results (dsm_fault_wait returns the final one)
DSM_DONE: Final = u32(0)                # mapped with the access's permission: re-execute the access
DSM_PENDING: Final = u32(1)             # a request is out; ops.wake(vcpu) comes when it is served
DSM_ERR_NOT_RAM: Final = u32(2)         # the IPA is outside the guest RAM the DSM manages
DSM_ERR_NODE_LOST: Final = u32(3)       # the page's home (or its only copy) died with a node

# dsm_fault_begin access kinds (the stage-2 fault classes; upgrade is found by the DSM itself)
DSM_FAULT_READ: Final = u32(0)
DSM_FAULT_WRITE: Final = u32(1)
DSM_FAULT_EXEC: Final = u32(2)          # instruction fetch
DSM_FAULT_WALK: Final = u32(3)          # the guest's stage-1 table walk (a read)
DSM_KIND_UPGRADE: Final = u32(4)        # statistics only: a write fault on a page held READ
DSM_FAULT_KINDS: Final = u32(5)

# permissions passed to DsmOps.map / protect
DSM_PERM_R: Final = u32(1)
DSM_PERM_W: Final = u32(2)
DSM_PERM_X: Final = u32(4)

# DsmPage.state (this node's copy)
ST_INVALID: Final = u8(0)
ST_READ: Final = u8(1)
ST_WRITE: Final = u8(2)

# DsmFrame.state
FR_FREE: Final = u8(0)
FR_USED: Final = u8(1)                  # holds page gpn (mapped, or reserved for its outstanding fetch)
FR_EVICTING: Final = u8(2)              # dirty copy written back (PUT_X), kept until PUT_ACK

# request kinds (queue records, outstanding entries)
RQ_S: Final = u8(1)
RQ_X: Final = u8(2)

# DsmOut.state
OUT_FREE: Final = u8(0)
OUT_SENT: Final = u8(1)                 # request sent (or queued at our own directory)
OUT_STALLED: Final = u8(2)              # waiting for a free cache frame before it can be sent

# DsmVcpuFault.state
VF_NONE: Final = u8(0)
VF_PENDING: Final = u8(1)
VF_DONE: Final = u8(2)

# RECALL modes
RECALL_DOWN: Final = u32(1)             # keep a READ copy
RECALL_INV: Final = u32(2)              # drop the copy

DATA_EXCL: Final = u32(1)               # DsmDataMsg.flags: the copy is granted writable
DATA_CLEAN: Final = u32(2)              # ... exclusive for a READ request (migratory page): map it read-only
                                        # until the first write, which needs no message (docs/dsm.md)
DSM_MIG_THRESHOLD: Final = u8(2)        # upgrades in the migratory pattern before reads are granted X
RECALL_KEPT: Final = u32(1)             # RECALL_DATA flags: the sender kept a READ copy
RECALL_WRITTEN: Final = u32(2)          # ... the copy was written while held exclusively


class DsmConfig(Struct):
    ram_ipa_base: u64
    home_host_base: u64                 # host PA of this node's home frames
    pool_host_base: u64                 # host PA of the cache pool
    meta_host_base: u64                 # host PA of the tables (dsm_meta_bytes long)
    pool_pages: u32
    nodes: u32
    vcpus: u32                          # local vCPUs (indices 0..vcpus-1)
    me: u16
    first_gpn: Annotated[Array[u32], 16]
    home_pages: Annotated[Array[u32], 16]


class DsmPage(Struct):
    frame: u32                          # cache frame index (non-home pages), DSM_NONE32 if none
    state: u8                           # ST_*
    out: u8                             # index of the outstanding request for this page, DSM_NONE8 if none
    lost: u8                            # 1: this node dropped the page because its holder died
    clean: u8                           # 1: held ST_WRITE from a migratory read grant, mapped read-only and
                                        #    not written yet (the first write only re-protects it)


class DsmDir(Struct):
    req_txn: u32                        # requester's txn of the transaction being served
    home_txn: u32                       # our txn in INV/RECALL of it
    owner: u16                          # exclusive holder when excl == 1
    copyset: u16                        # holders (bit = node); the home is in it whenever excl == 0
    pending: u16                        # nodes whose INV_ACK / RECALL_DATA we still wait for
    req_node: u16                       # requester of the transaction being served
    recall_node: u16                    # node a RECALL went to, DSM_NONE16 if none
    q_head: u16                         # queued requests (DsmQRec indices), DSM_NONE16 if empty
    q_tail: u16
    busy: u8                            # a transaction is being served
    excl: u8
    req_kind: u8                        # RQ_S / RQ_X
    had_copy: u8                        # X: the requester was a sharer at the start (grant without data)
    lost: u8                            # the only valid copy died with a node
    req_gone: u8                        # 1: the requester died meanwhile; 2: it holds the page already
    mig: u8                             # migratory: read-then-upgrade by one node at a time; reads get X
    converted: u8                       # the transaction being served is a read turned into an X grant


class DsmFrame(Struct):
    gpn: u32
    state: u8
    ref: u8                             # clock bit: set when mapped, cleared by the hand
    pad: u16


class DsmQRec(Struct):
    txn: u32
    next: u16
    src: u16
    kind: u8
    pad: u8
    pad2: u16


class DsmOut(Struct):
    gpn: u32
    txn: u32
    waiters: u32                        # local vCPUs waiting (bit = vCPU index)
    state: u8
    kind: u8                            # RQ_S / RQ_X in flight
    upgrade: u8                         # sent while holding READ (an upgrade)
    pad: u8


class DsmVcpuFault(Struct):
    start: u64                          # counter at dsm_fault_begin
    gpn: u32
    access: u32
    result: u32
    state: u8
    pad: u8
    pad2: u16


class DsmHold(Struct):
    # The page a local vCPU's fault was just served with, kept until it used it (hold.py), and the one
    # INV / RECALL that arrived for it meanwhile (the home serves one transaction per page at a time).
    since: u64                          # counter when the fault was served
    gpn: u32                            # DSM_NONE32: no hold
    d_txn: u32
    d_arg: u32
    d_src: u16
    d_type: u8                          # 0: nothing deferred; HOLD_INV / HOLD_RECALL
    pad: u8


class DsmStats(Struct):
    faults: Annotated[Array[u64], 5]    # by kind: read, write, exec, walk, upgrade
    faults_done: u64
    faults_failed: u64
    pages_fetched: u64                  # DATA received
    pages_sent: u64                     # DATA / RECALL_DATA / PUT_X sent
    inv_sent: u64
    inv_recv: u64
    recalls_sent: u64
    recalls_recv: u64
    recalls_from_evicting: u64          # RECALLs answered from a frame being written back
    upgrades_no_data: u64               # GRANT_X received
    upgrades_with_data: u64             # an upgrade answered with DATA (our copy was invalidated meanwhile)
    migratory_grants: u64               # reads this home answered with an exclusive (clean) copy
    clean_writes: u64                   # first writes to a clean exclusive copy (no message needed)
    evictions: u64                      # clean copies dropped (PUT_S)
    writebacks: u64                     # dirty copies written back (PUT_X)
    queued: u64                         # requests that waited behind a busy page at this home
    queue_high: u64                     # most queue records in use at once
    stalls: u64                         # faults that waited for a free cache frame
    stale: u64                          # messages that no longer matched (harmless races, counted)
    held: u64                           # INV / RECALL / home transactions deferred by a hold
    protocol_errors: u64                # messages impossible under the protocol (0 unless a bug)
    lat_hist: Annotated[Array[u64], 20]  # DSM_LAT_BUCKETS, fault -> mapped


class DsmDataMsg(Struct, packed=True):
    gpn: u32
    txn: u32
    flags: u32                          # DATA: DATA_EXCL | DATA_CLEAN; RECALL_DATA: RECALL_KEPT | RECALL_WRITTEN
    pad: u32
    data: Annotated[Array[u8], 4096]


class DsmCtlMsg(Struct, packed=True):
    gpn: u32
    txn: u32
    arg: u32                            # RECALL: RECALL_DOWN / RECALL_INV; otherwise 0


class DsmState(Struct):
    cfg: DsmConfig
    total_pages: u32
    next_txn: u32
    hand: u32                           # eviction clock hand (frame index)
    evicting: u32                       # frames in FR_EVICTING
    stalled: u32                        # outstanding entries in OUT_STALLED
    q_free: u16                         # free list of queue records
    q_used: u16
    lost_mask: u16                      # nodes whose loss we have handled
    ready: bool
    frames_changed: bool                # a frame was freed or unpinned since the last stalled retry
    sync_vcpu: u32                      # vCPU inside dsm_fault_begin (no wake for it), DSM_NONE32 if none
    stats: DsmStats
    out: Annotated[Array[DsmOut], 16]           # DSM_MAX_OUT
    vcpu: Annotated[Array[DsmVcpuFault], 16]    # DSM_MAX_VCPUS
    hold: Annotated[Array[DsmHold], 16]         # DSM_MAX_VCPUS
    q: Annotated[Array[DsmQRec], 256]           # DSM_QUEUE_RECS
    tx: DsmDataMsg                      # the one outgoing page message (handlers never nest)
    ctl: DsmCtlMsg


class DsmOps(Ops):
    map: Callable[[u64, u64, u32], None]        # (ipa, host pa, DSM_PERM_*): break-before-make, TLBI, I-cache
    unmap: Callable[[u64], None]                # (ipa): unmap + TLBI (inner shareable)
    protect: Callable[[u64, u32], None]         # (ipa, perm): change permission of a mapped page
    monitor_clear: Callable[[u64], None]        # (ipa): clear local vCPUs' exclusive monitors on the page
    wake: Callable[[u32], None]                 # (vcpu): its fault was served (an SGI on the image)


def _absent_map(ipa: u64, pa: u64, perm: u32) -> None:
    panic("dsm: DsmOps not set (dsm_ops_set before dsm_init)")


def _absent_unmap(ipa: u64) -> None:
    panic("dsm: DsmOps not set (dsm_ops_set before dsm_init)")


def _absent_protect(ipa: u64, perm: u32) -> None:
    panic("dsm: DsmOps not set (dsm_ops_set before dsm_init)")


def _absent_wake(vcpu: u32) -> None:
    panic("dsm: DsmOps not set (dsm_ops_set before dsm_init)")


# The explicit "absent" implementation until the image fills the slot (it also bounds the ops calls for
# the build's stack-depth check).
DSM_OPS_ABSENT: Final = DsmOps(map=_absent_map, unmap=_absent_unmap, protect=_absent_protect,
                               monitor_clear=_absent_unmap, wake=_absent_wake)

_dsm: Final = Static(DsmState)
_ops: Final = OpsSlot(DsmOps)


def dsm_state() -> DsmState:
    return _dsm.get()


def dsm_ops_set(ops: DsmOps) -> None:
    _ops.set(ops)


def dsm_ops() -> DsmOps:
    return _ops.get()


def _align8(n: u64) -> u64:
    return (n + 7) & ~u64(7)


def dsm_meta_bytes(total_pages: u64, home_pages: u64, pool_pages: u64) -> u64:
    # Bytes of the tables at meta_host_base for this many pages (the image reserves it from RAM).
    return (_align8(total_pages * sizeof(DsmPage)) + _align8(home_pages * sizeof(DsmDir))
            + _align8(pool_pages * sizeof(DsmFrame)))


def dsm_page(gpn: u32) -> DsmPage:
    return struct_at(DsmPage, _dsm.get().cfg.meta_host_base + u64(gpn) * sizeof(DsmPage))


def dsm_dir(gpn: u32) -> DsmDir:
    # The directory entry of a page this node homes.
    st = _dsm.get()
    base = st.cfg.meta_host_base + _align8(u64(st.total_pages) * sizeof(DsmPage))
    idx = gpn - st.cfg.first_gpn[st.cfg.me]
    assert idx < st.cfg.home_pages[st.cfg.me]
    return struct_at(DsmDir, base + u64(idx) * sizeof(DsmDir))


def dsm_frame(i: u32) -> DsmFrame:
    st = _dsm.get()
    c = st.cfg
    base = (c.meta_host_base + _align8(u64(st.total_pages) * sizeof(DsmPage))
            + _align8(u64(c.home_pages[c.me]) * sizeof(DsmDir)))
    assert i < c.pool_pages
    return struct_at(DsmFrame, base + u64(i) * sizeof(DsmFrame))


def dsm_home_of(gpn: u32) -> u16:
    # The node whose home range holds gpn (DSM_NONE16: not guest RAM).
    c = _dsm.get().cfg
    n = u32(0)
    while n < c.nodes:
        if gpn >= c.first_gpn[n] and gpn - c.first_gpn[n] < c.home_pages[n]:
            return u16(n)
        n += 1
    return DSM_NONE16


def dsm_ipa(gpn: u32) -> u64:
    return _dsm.get().cfg.ram_ipa_base + u64(gpn) * DSM_PAGE_BYTES


def dsm_home_pa(gpn: u32) -> u64:
    c = _dsm.get().cfg
    return c.home_host_base + u64(gpn - c.first_gpn[c.me]) * DSM_PAGE_BYTES


def dsm_frame_pa(i: u32) -> u64:
    return _dsm.get().cfg.pool_host_base + u64(i) * DSM_PAGE_BYTES


def dsm_bit(node: u16) -> u16:
    return u16(1) << node
