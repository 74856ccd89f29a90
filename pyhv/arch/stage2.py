# Stage-2 translation of the guest (ARM DDI 0487, D8: VMSAv8-64 stage 2): 4 KiB granule, 40-bit IPA,
# walk starting at level 1 (two concatenated level-1 tables), descriptors as declared in stage2_desc.py.
#
# Table pages come from a pool the caller reserves (stage2_init(pool_base, pool_pages)): the first two
# pages (8 KiB aligned) are the root, the rest are handed out one by one and never freed. Boot code maps RAM
# and passthrough devices with stage2_map_range (1 GiB / 2 MiB blocks where alignment allows); at run time
# (DSM, device ownership) pages are mapped, unmapped and re-protected one at a time, splitting a block into
# smaller entries first.
#
# Pool bound (why exhaustion cannot happen): a table is allocated only for an empty or block slot of its
# parent, and a table is never replaced (never merged back into a block), so each 1 GiB slot owns at most
# one level-2 table and each 2 MiB slot at most one level-3 table, for ever. Mapping, unmapping and
# re-protecting any set of pages inside an IPA range of B bytes therefore uses at most
# ceil(B / 1 GiB) + 1 level-2 and ceil(B / 2 MiB) + 1 level-3 tables (+1: a range need not be aligned),
# however often it is repeated: stage2_pool_pages_for(B) = that + the root + S2_POOL_DEVICE_PAGES for the
# device windows below guest RAM. The VM sizes its pool with it from its IPA space (pyhv/core/vm.py), so
# the "pool exhausted" panic below is a broken invariant (a mapping outside that space), not a guest event.
#
# Replacing or removing a valid entry is break-before-make with broadcast invalidation:
#
#   write 0 ; dsb ishst ; tlbi ipas2e1is, ipa>>12 ; dsb ish ; tlbi vmalle1is ; dsb ish ; isb ; write new
#
# (vmalle1is because stage-1 TLB entries of the guest may combine the old stage-2 translation). Both TLBIs
# act on the VMID in the ISSUING CPU's VTTBR_EL2, so every writer first makes sure this CPU holds the VM's
# VTCR/VTTBR (_ensure_vmid): correct from any CPU, also one that never ran a vCPU (the boot CPU before
# vcpu_run, a CPU serving cluster messages). The VM also installs them on every CPU at set-up.
# Writers hold the one stage-2 lock. stage2_lookup walks without it: table pages are never freed, and
# every descriptor is read once with a single 64-bit load.
#
# Pages whose contents pyhv wrote (a page that arrived from another node) and that the guest may execute
# must pass stage2_sync_icache(pa) before they are mapped: D-cache clean to PoU, I-cache invalidate.

from typing import Final

from pyhv.lang import (
    range,
    SpinLock, Static, Struct, dc_op, dsb, ic_op, isb, mem_read64, mem_write64, panic, sysreg_read, sysreg_write,
    tlbi, tlbi_addr, u32, u64,
)

from pyhv.arch.stage2_desc import (
    PARANGE_40BIT, PARANGE_MASK, S2_ATTR_MASK, S2_DESC_TYPE_BLOCK, S2_DESC_TYPE_TABLE_OR_PAGE,
    S2_DESC_VALID, S2_ENTRIES_PER_TABLE, S2_OA_MASK, S2_PAGE_SIZE, S2_ROOT_ENTRIES, S2_ROOT_PAGES,
    S2_START_LEVEL, S2_VMID, VTTBR_BADDR_MASK, VTTBR_VMID_SHIFT, s2_desc_flags, s2_desc_is_table, s2_desc_is_valid, s2_desc_leaf, s2_desc_table, s2_desc_with_perm,
    s2_level_shift, vtcr_value,
)

_IPA_LIMIT: Final = u64(1 << 40)
_ROOT_ALIGN: Final = u64(8192)
S2_POOL_DEVICE_PAGES: Final = u64(8)    # device windows below RAM: one level-2 table + page-mapped windows
CTR_DMINLINE_SHIFT: Final = 16          # CTR_EL0.DminLine[19:16]: log2 of the smallest D-cache line in words
CTR_DMINLINE_MASK: Final = u64(0xF)


class Stage2State(Struct):
    lock: SpinLock
    pool_base: u64      # host PA of the first pool page (8 KiB aligned)
    pool_pages: u64     # pages in the pool
    pool_used: u64      # pages handed out (the root counts two)
    root: u64           # host PA of the concatenated level-1 tables
    vtcr: u64           # VTCR_EL2 value computed at init
    ready: bool


class Stage2Lookup(Struct):
    pa: u64             # host PA the IPA translates to (page offset included)
    perm: u32           # S2_READ | S2_WRITE | S2_EXEC | S2_DEVICE of the mapping
    level: u32          # level of the leaf: 1 (1 GiB block), 2 (2 MiB block), 3 (page)


_s2: Final = Static(Stage2State)


def _zero_page(pa: u64) -> None:
    for i in range(S2_ENTRIES_PER_TABLE):
        mem_write64(pa + u64(i) * 8, u64(0))


def _alloc_table(st: Stage2State) -> u64:
    if st.pool_used >= st.pool_pages:
        panic("stage2: page-table pool exhausted (a mapping outside the IPA space it was sized for)")
    pa = st.pool_base + st.pool_used * S2_PAGE_SIZE
    st.pool_used += 1
    _zero_page(pa)
    return pa


def stage2_init(pool_base: u64, pool_pages: u32) -> None:
    # Reserve the pool, clear the root and compute VTCR_EL2 from this CPU's ID_AA64MMFR0_EL1.PARange.
    st = _s2.get()
    if (pool_base & (_ROOT_ALIGN - 1)) != 0:
        panic("stage2_init: the page-table pool must be 8 KiB aligned")
    if u64(pool_pages) < S2_ROOT_PAGES + 1:
        panic("stage2_init: the page-table pool needs at least 3 pages")
    parange = sysreg_read("id_aa64mmfr0_el1") & PARANGE_MASK
    if parange < PARANGE_40BIT:
        panic("stage2_init: the CPU's physical address range is below the 40-bit IPA space")
    st.pool_base = pool_base
    st.pool_pages = u64(pool_pages)
    st.pool_used = S2_ROOT_PAGES
    st.root = pool_base
    _zero_page(pool_base)
    _zero_page(pool_base + S2_PAGE_SIZE)
    st.vtcr = vtcr_value(parange)
    st.ready = True


def stage2_vtcr() -> u64:
    return _s2.get().vtcr


def stage2_vttbr() -> u64:
    # VTTBR_EL2: VMID 1, BADDR = the root tables, CnP = 0.
    return (S2_VMID << VTTBR_VMID_SHIFT) | (_s2.get().root & VTTBR_BADDR_MASK)


def stage2_install() -> None:
    # Load VTCR_EL2/VTTBR_EL2 on the calling CPU (each CPU once; HCR_EL2.VM is the caller's business).
    st = _s2.get()
    assert st.ready
    sysreg_write("vtcr_el2", st.vtcr)
    sysreg_write("vttbr_el2", stage2_vttbr())
    isb()


def stage2_pool_used() -> u64:
    return _s2.get().pool_used


def stage2_pool_pages() -> u64:
    return _s2.get().pool_pages


def _ceil_div(n: u64, d: u64) -> u64:
    return (n + d - 1) // d


def stage2_pool_pages_for(ipa_bytes: u64) -> u32:
    # Table pages (root included) that any page-by-page mapping of an IPA range of `ipa_bytes` (any
    # alignment) plus the device windows can ever need (the bound at the top of this file).
    l2 = _ceil_div(ipa_bytes, _level_size(u32(1))) + 1
    l3 = _ceil_div(ipa_bytes, _level_size(u32(2))) + 1
    return u32(S2_ROOT_PAGES + S2_POOL_DEVICE_PAGES + l2 + l3)


def _index(ipa: u64, level: u32) -> u64:
    idx = ipa >> s2_level_shift(level)
    if level == S2_START_LEVEL:
        return idx & (S2_ROOT_ENTRIES - 1)
    return idx & (S2_ENTRIES_PER_TABLE - 1)


def _level_size(level: u32) -> u64:
    return u64(1) << s2_level_shift(level)


def _ensure_vmid(st: Stage2State) -> None:
    # TLBI by IPA and VMALLE1 use the VMID of this CPU's VTTBR_EL2: load the VM's if it is not there yet.
    if sysreg_read("vttbr_el2") != stage2_vttbr():
        sysreg_write("vtcr_el2", st.vtcr)
        sysreg_write("vttbr_el2", stage2_vttbr())
        isb()


def _invalidate(slot: u64, ipa: u64) -> None:
    # Break: remove a valid entry and flush every TLB entry that may hold it, on all CPUs.
    mem_write64(slot, u64(0))
    dsb("ishst")
    _ensure_vmid(_s2.get())
    tlbi_addr("ipas2e1is", ipa)
    dsb("ish")
    tlbi("vmalle1is")
    dsb("ish")
    isb()


def _replace(slot: u64, ipa: u64, new: u64) -> None:
    # Break-before-make when the slot holds a valid entry; a plain store when it is empty.
    if s2_desc_is_valid(mem_read64(slot)):
        _invalidate(slot, ipa)
    mem_write64(slot, new)
    dsb("ishst")


def _split(st: Stage2State, slot: u64, ipa: u64, level: u32) -> u64:
    # Replace the block at `slot` (level 1 or 2) by a table of 512 entries one level down that map the same
    # range with the same attributes. Returns the new table's PA.
    d = mem_read64(slot)
    child = level + 1
    step = _level_size(child)
    block_pa = d & S2_OA_MASK & ~(_level_size(level) - 1)
    attrs = d & S2_ATTR_MASK
    kind = S2_DESC_TYPE_TABLE_OR_PAGE if child == 3 else S2_DESC_TYPE_BLOCK
    table = _alloc_table(st)
    for i in range(S2_ENTRIES_PER_TABLE):
        mem_write64(table + u64(i) * 8, (block_pa + u64(i) * step) | attrs | kind)
    dsb("ishst")
    _replace(slot, ipa & ~(_level_size(level) - 1), s2_desc_table(table))
    return table


def _slot(st: Stage2State, ipa: u64, target: u32, alloc: bool, split: bool) -> u64:
    # Address of the descriptor for `ipa` at level `target`, descending from the root. A missing table is
    # allocated when `alloc`; a block above `target` is split when `split`. Returns 0 when the walk stops
    # at a missing table (alloc False) or a block (split False).
    table = st.root
    level = S2_START_LEVEL
    while level < target:
        slot = table + _index(ipa, level) * 8
        d = mem_read64(slot)
        if s2_desc_is_table(d, level):
            table = d & S2_OA_MASK
        elif s2_desc_is_valid(d):
            if not split:
                return u64(0)
            table = _split(st, slot, ipa, level)
        else:
            if not alloc:
                return u64(0)
            table = _alloc_table(st)
            dsb("ishst")
            mem_write64(slot, s2_desc_table(table))
        level += 1
    return table + _index(ipa, level) * 8


def _check_page_args(ipa: u64, pa: u64) -> None:
    if (ipa & (S2_PAGE_SIZE - 1)) != 0 or (pa & (S2_PAGE_SIZE - 1)) != 0:
        panic("stage2: IPA and PA must be 4 KiB aligned")
    if ipa >= _IPA_LIMIT:
        panic("stage2: IPA beyond the 40-bit IPA space")


def _map_range_locked(st: Stage2State, ipa: u64, pa: u64, size: u64, attrs: u32) -> None:
    done = u64(0)
    while done < size:
        rest = size - done
        level = u32(3)
        for lv in range(u32(1), u32(3)):
            blk = _level_size(u32(lv))
            fits = rest >= blk and ((ipa + done) & (blk - 1)) == 0 and ((pa + done) & (blk - 1)) == 0
            if level == 3 and fits:
                level = u32(lv)
        slot = _slot(st, ipa + done, level, True, False)
        if slot == 0:
            panic("stage2_map_range: range overlaps an existing block mapping")
        if s2_desc_is_valid(mem_read64(slot)):
            panic("stage2_map_range: IPA already mapped")
        mem_write64(slot, s2_desc_leaf(pa + done, attrs, level))
        done += _level_size(level)
    dsb("ishst")


def stage2_map_range(ipa: u64, pa: u64, size: u64, attrs: u32) -> None:
    # Boot-time mapping of [ipa, ipa+size) to [pa, pa+size) with S2_* attrs; overlaps panic.
    st = _s2.get()
    assert st.ready
    _check_page_args(ipa, pa)
    if (size & (S2_PAGE_SIZE - 1)) != 0 or size == 0 or size > _IPA_LIMIT - ipa:
        panic("stage2_map_range: size must be a non-zero multiple of 4 KiB inside the IPA space")
    with st.lock:
        _map_range_locked(st, ipa, pa, size, attrs)


def stage2_map_page(ipa: u64, pa: u64, attrs: u32) -> None:
    # Map one 4 KiB page (replacing any current mapping of it, break-before-make).
    st = _s2.get()
    assert st.ready
    _check_page_args(ipa, pa)
    with st.lock:
        slot = _slot(st, ipa, u32(3), True, True)
        _replace(slot, ipa, s2_desc_leaf(pa, attrs, u32(3)))


def stage2_unmap_page(ipa: u64) -> bool:
    # Remove the mapping of one page (splitting a block around it). False if it was not mapped.
    st = _s2.get()
    assert st.ready
    _check_page_args(ipa, u64(0))
    was_mapped = False
    with st.lock:
        slot = _slot(st, ipa, u32(3), False, True)
        if slot != 0 and s2_desc_is_valid(mem_read64(slot)):
            _invalidate(slot, ipa)
            was_mapped = True
    return was_mapped


def stage2_set_perm(ipa: u64, perm: u32) -> bool:
    # Change the access permissions (S2_READ|S2_WRITE|S2_EXEC) of one mapped page; the memory type and
    # output address stay. False if the page is not mapped.
    st = _s2.get()
    assert st.ready
    _check_page_args(ipa, u64(0))
    changed = False
    with st.lock:
        slot = _slot(st, ipa, u32(3), False, True)
        if slot != 0:
            d = mem_read64(slot)
            if s2_desc_is_valid(d):
                _replace(slot, ipa, s2_desc_with_perm(d, perm))
                changed = True
    return changed


def stage2_lookup(ipa: u64, out: Stage2Lookup) -> bool:
    # Translate `ipa`; fills `out` and returns True when a valid leaf maps it. Lock-free (see top).
    st = _s2.get()
    if not st.ready or ipa >= _IPA_LIMIT:
        return False
    table = st.root
    level = S2_START_LEVEL
    while level <= 3:
        d = mem_read64(table + _index(ipa, level) * 8)
        if (d & S2_DESC_VALID) == 0:
            return False
        if s2_desc_is_table(d, level):
            table = d & S2_OA_MASK
            level += 1
        else:
            if level == 3 and (d & S2_DESC_TYPE_TABLE_OR_PAGE) != S2_DESC_TYPE_TABLE_OR_PAGE:
                return False        # 0b01 at level 3 is reserved: treated as invalid by the walker
            offset_mask = _level_size(level) - 1
            out.pa = (d & S2_OA_MASK & ~offset_mask) | (ipa & offset_mask)
            out.perm = s2_desc_flags(d)
            out.level = level
            return True
    return False


def stage2_sync_icache(pa: u64) -> None:
    # Make the 4 KiB page at host PA `pa`, just written by pyhv, safe to execute (ARM DDI 0487, D7.5.9
    # "Instruction cache maintenance"): clean every D-cache line to the point of unification, then
    # invalidate all instruction caches of the inner-shareable domain (the guest may have run old code
    # from this PA on any CPU; IC IALLUIS needs no VA, so the EL2 mapping of `pa` does not matter).
    line = u64(4) << ((sysreg_read("ctr_el0") >> CTR_DMINLINE_SHIFT) & CTR_DMINLINE_MASK)
    base = pa & ~(S2_PAGE_SIZE - 1)
    off = u64(0)
    while off < S2_PAGE_SIZE:
        dc_op("cvau", base + off)
        off += line
    dsb("ish")
    ic_op("ialluis")
    dsb("ish")
    isb()
