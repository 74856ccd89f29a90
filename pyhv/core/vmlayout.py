# A node's host RAM, split (docs/dsm.md "Memory layout"):
#
#   ram_base  +----------------------------------+
#             | pyhv's reservation               |  low area (firmware/boot stub) + image + stacks (up to
#             |                                  |  _end), stage-2 table pool, DSM metadata; rounded up
#             |                                  |  to 2 MiB; sized from RAM at boot and printed
#             +----------------------------------+  <- host PA of this node's home region (2 MiB aligned)
#             | home share of guest RAM          |  this node's region of the guest IPA map
#             +----------------------------------+
#             | cache pool                       |  copies of pages homed on other nodes (4 KiB pages)
#             +----------------------------------+
#             | slack (< 2 MiB, or what the pool |
#             |  could never fill)               |
#   ram_end   +----------------------------------+
#
# With one node the whole remainder is home (nothing to cache). With several, the home share is
# VMLAYOUT_HOME_NUM / VMLAYOUT_HOME_DEN of what is left after the reservation, so the guest's RAM (the sum of
# the homes) is larger than any one node's host RAM once there are two nodes; the rest is the pool, capped
# at the guest RAM homed elsewhere (a bigger pool could never fill).
#
# The stage-2 pool and the DSM metadata sizes are inputs: their owners (pyhv/arch/stage2*.py,
# pyhv/dsm/) size them from the guest RAM (stage2_pool_pages_for, dsm_meta_bytes); until those land the
# caller passes them.

from typing import Final

from pyhv.lang import Struct, kprint, u32, u64

VMLAYOUT_OK: Final = u32(0)
VMLAYOUT_ERR_TOO_SMALL: Final = u32(1)      # the reservation plus one 2 MiB home block do not fit
VMLAYOUT_ERR_POOL: Final = u32(2)           # several nodes, but no room for a minimal cache pool

VMLAYOUT_ALIGN_BYTES: Final = u64(0x200000)  # 2 MiB: stage-2 block size of the home region
VMLAYOUT_PAGE_BYTES: Final = u64(4096)
VMLAYOUT_HOME_NUM: Final = u64(3)           # home = 3/4 of the RAM after the reservation (several nodes)
VMLAYOUT_HOME_DEN: Final = u64(4)
VMLAYOUT_MIN_POOL_PAGES: Final = u64(1024)  # 4 MiB: below that a node would thrash on remote pages


class NodeLayout(Struct):
    ram_bytes: u64              # host RAM of the node
    fixed_bytes: u64            # low area + image + stacks (ram_base .. _end)
    s2_pool_bytes: u64
    dsm_meta_bytes: u64
    reserved_bytes: u64         # pyhv's reservation: the above, rounded up to 2 MiB
    home_offset: u64            # offset of the home region from ram_base (= reserved_bytes)
    home_bytes: u64             # this node's share of guest RAM
    pool_offset: u64
    pool_pages: u64             # cache pool for other nodes' pages
    slack_bytes: u64            # host RAM left unused


def _align_up(v: u64) -> u64:
    return (v + VMLAYOUT_ALIGN_BYTES - 1) & ~(VMLAYOUT_ALIGN_BYTES - 1)


def _align_down(v: u64) -> u64:
    return v & ~(VMLAYOUT_ALIGN_BYTES - 1)


def vm_layout_node(ram_bytes: u64, total_guest_pages_hint: u64, nr_nodes: u32, fixed_bytes: u64,
                   s2_pool_pages: u64, dsm_meta_bytes: u64, out: NodeLayout) -> u32:
    # Split `ram_bytes` of host RAM into reservation, home share and cache pool (file header).
    # total_guest_pages_hint: the VM's guest RAM in pages (0: unknown; caps the pool); fixed_bytes: what
    # the image occupies from ram_base (_end - ram_base). VMLAYOUT_OK or an error (printed).
    out.ram_bytes = ram_bytes
    out.fixed_bytes = fixed_bytes
    out.s2_pool_bytes = s2_pool_pages * VMLAYOUT_PAGE_BYTES
    out.dsm_meta_bytes = dsm_meta_bytes
    out.home_bytes = u64(0)
    out.pool_pages = u64(0)
    need = fixed_bytes + out.s2_pool_bytes + dsm_meta_bytes
    # Each term is checked against the RAM first, so `need` (at most three times a u64 RAM size) is exact.
    if fixed_bytes > ram_bytes or out.s2_pool_bytes > ram_bytes or dsm_meta_bytes > ram_bytes or \
            need > ram_bytes or _align_up(need) + VMLAYOUT_ALIGN_BYTES > ram_bytes:
        kprint("vm: node RAM of %u MiB is too small: pyhv needs %u KiB plus 2 MiB of guest RAM\n",
               u32(ram_bytes >> 20), u32(need >> 10))
        kprint("vm:   (image %u KiB, stage-2 pool %u pages, DSM metadata %u KiB)\n", u32(fixed_bytes >> 10),
               u32(s2_pool_pages), u32(dsm_meta_bytes >> 10))
        return VMLAYOUT_ERR_TOO_SMALL
    out.reserved_bytes = _align_up(need)
    out.home_offset = out.reserved_bytes
    avail = ram_bytes - out.reserved_bytes
    if nr_nodes <= 1:
        out.home_bytes = _align_down(avail)
        out.pool_offset = out.home_offset + out.home_bytes
        out.slack_bytes = avail - out.home_bytes
        return VMLAYOUT_OK
    out.home_bytes = _align_down(avail // VMLAYOUT_HOME_DEN * VMLAYOUT_HOME_NUM)
    if out.home_bytes == 0:
        out.home_bytes = VMLAYOUT_ALIGN_BYTES
    out.pool_offset = out.home_offset + out.home_bytes
    pool = (avail - out.home_bytes) // VMLAYOUT_PAGE_BYTES
    home_pages = out.home_bytes // VMLAYOUT_PAGE_BYTES
    capped = False
    if total_guest_pages_hint > home_pages and pool > total_guest_pages_hint - home_pages:
        pool = total_guest_pages_hint - home_pages      # it can hold every remote page: never too small
        capped = True
    out.pool_pages = pool
    out.slack_bytes = avail - out.home_bytes - pool * VMLAYOUT_PAGE_BYTES
    if pool < VMLAYOUT_MIN_POOL_PAGES and not capped:
        kprint("vm: node RAM of %u MiB leaves a cache pool of %u pages for a %u-node VM (need %u)\n",
               u32(ram_bytes >> 20), u32(pool), nr_nodes, u32(VMLAYOUT_MIN_POOL_PAGES))
        return VMLAYOUT_ERR_POOL
    return VMLAYOUT_OK


def vm_layout_print(lay: NodeLayout) -> None:
    kprint("vm: host RAM %u MiB: pyhv keeps %u KiB, guest home %u MiB, cache pool %u pages\n",
           u32(lay.ram_bytes >> 20), u32(lay.reserved_bytes >> 10), u32(lay.home_bytes >> 20), u32(lay.pool_pages))
    kprint("vm:   pyhv's share: image and stacks %u KiB, stage-2 pool %u KiB, DSM metadata %u KiB\n",
           u32(lay.fixed_bytes >> 10), u32(lay.s2_pool_bytes >> 10), u32(lay.dsm_meta_bytes >> 10))
