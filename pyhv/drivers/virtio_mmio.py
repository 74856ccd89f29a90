# virtio-mmio transport, version 2 only, and split virtqueues: OASIS "Virtual I/O Device (VIRTIO) Version
# 1.2", §4.2.2 (MMIO device register layout), §3.1.1 (driver initialisation), §2.7 (split virtqueues),
# §2.1 (device status), §6 (reserved feature bits). Device-independent: virtio_net.py builds on it.
#
# Version 1 ("legacy") devices have a different register layout (one page-aligned ring area given by a
# page frame number); pyhv does not speak it. QEMU presents legacy devices unless it runs with
# `-global virtio-mmio.force-legacy=false`.
#
# A split virtqueue lives in driver memory, as three areas the device reads and writes by physical address
# (pyhv runs identity-mapped, PA = VA). We keep the three in one VirtqRings struct that the caller places
# page-aligned (the spec needs 16 bytes for the descriptor table, 2 for avail, 4 for used):
#
#   +0     desc[VIRTQ_SIZE]   16 bytes each: addr, len, flags, next       (driver writes)
#   +512   avail              flags, idx, ring[VIRTQ_SIZE] of desc ids    (driver writes)
#   +584   used               flags, idx, ring[VIRTQ_SIZE] of (id, len)   (device writes)
#
# avail.idx / used.idx run freely modulo 2^16; slot = idx & (size - 1), the size being a power of two.

from typing import Annotated, Final

from pyhv.lang import (
    range, Array, Struct, addr_of, cpu_relax, dmb, dsb, mem_read16, mmio_read8, mmio_read16, mmio_read32,
    mmio_write32, panic, struct_at, u8, u16, u32, u64,
)

# --- registers (offsets from the device's base; all 32-bit, little-endian) --------------------------------
VIRTIO_MMIO_MAGIC_VALUE: Final = u64(0x000)          # reads "virt" (VIRTIO_MMIO_MAGIC)
VIRTIO_MMIO_VERSION: Final = u64(0x004)              # 2 = virtio 1.x layout; 1 = legacy
VIRTIO_MMIO_DEVICE_ID: Final = u64(0x008)            # 0 = empty slot, 1 = network card, 2 = block, ...
VIRTIO_MMIO_DEVICE_FEATURES: Final = u64(0x010)      # 32 feature bits of the word DeviceFeaturesSel selects
VIRTIO_MMIO_DEVICE_FEATURES_SEL: Final = u64(0x014)
VIRTIO_MMIO_DRIVER_FEATURES: Final = u64(0x020)      # the accepted bits of the word DriverFeaturesSel selects
VIRTIO_MMIO_DRIVER_FEATURES_SEL: Final = u64(0x024)
VIRTIO_MMIO_QUEUE_SEL: Final = u64(0x030)            # which queue the Queue* registers below address
VIRTIO_MMIO_QUEUE_NUM_MAX: Final = u64(0x034)        # largest size the device supports (0: no such queue)
VIRTIO_MMIO_QUEUE_NUM: Final = u64(0x038)            # size the driver chose
VIRTIO_MMIO_QUEUE_READY: Final = u64(0x044)          # 1 = the device may use the queue
VIRTIO_MMIO_QUEUE_NOTIFY: Final = u64(0x050)         # write a queue index: "new buffers available"
VIRTIO_MMIO_INTERRUPT_STATUS: Final = u64(0x060)     # why the interrupt line is up (VIRTIO_IRQ_*)
VIRTIO_MMIO_INTERRUPT_ACK: Final = u64(0x064)        # write the handled bits back to lower the line
VIRTIO_MMIO_STATUS: Final = u64(0x070)               # device status (VIRTIO_STATUS_*); write 0 = reset
VIRTIO_MMIO_QUEUE_DESC_LOW: Final = u64(0x080)       # descriptor table address, low / high word
VIRTIO_MMIO_QUEUE_DESC_HIGH: Final = u64(0x084)
VIRTIO_MMIO_QUEUE_DRIVER_LOW: Final = u64(0x090)     # available ring address
VIRTIO_MMIO_QUEUE_DRIVER_HIGH: Final = u64(0x094)
VIRTIO_MMIO_QUEUE_DEVICE_LOW: Final = u64(0x0A0)     # used ring address
VIRTIO_MMIO_QUEUE_DEVICE_HIGH: Final = u64(0x0A4)
VIRTIO_MMIO_CONFIG_GENERATION: Final = u64(0x0FC)    # changes when the device config changes under us
VIRTIO_MMIO_CONFIG: Final = u64(0x100)               # device-specific configuration space

VIRTIO_MMIO_MAGIC: Final = u32(0x74726976)           # "virt", little-endian
VIRTIO_MMIO_VERSION_LEGACY: Final = u32(1)
VIRTIO_MMIO_VERSION_MODERN: Final = u32(2)

# --- device status bits (§2.1) ----------------------------------------------------------------------------
VIRTIO_STATUS_ACKNOWLEDGE: Final = u32(1)            # we noticed the device
VIRTIO_STATUS_DRIVER: Final = u32(2)                 # we know how to drive it
VIRTIO_STATUS_DRIVER_OK: Final = u32(4)              # queues set up: the device is live
VIRTIO_STATUS_FEATURES_OK: Final = u32(8)            # feature negotiation done (device may clear it: refused)
VIRTIO_STATUS_NEEDS_RESET: Final = u32(64)           # the device hit an error it cannot recover from
VIRTIO_STATUS_FAILED: Final = u32(128)               # we gave up on the device

# --- transport feature bits (§6) --------------------------------------------------------------------------
VIRTIO_F_VERSION_1: Final = u64(1) << 32             # virtio 1.x semantics (little-endian, 12-byte net header)

# --- interrupt status bits (§4.2.2) -----------------------------------------------------------------------
VIRTIO_IRQ_USED_BUFFER: Final = u32(1)               # the device put buffers into a used ring
VIRTIO_IRQ_CONFIG_CHANGE: Final = u32(2)             # the device configuration changed

# --- split virtqueue (§2.7) -------------------------------------------------------------------------------
VIRTQ_SIZE: Final = u32(32)                          # entries per queue we provide (power of two, <= 64)
VIRTQ_DESC_F_NEXT: Final = u16(1)                    # the chain continues at `next`
VIRTQ_DESC_F_WRITE: Final = u16(2)                   # device writes this buffer (receive)
VIRTQ_AVAIL_F_NO_INTERRUPT: Final = u16(1)           # driver hint: no interrupt needed for this queue
VIRTQ_USED_F_NO_NOTIFY: Final = u16(1)               # device hint: no notification needed right now

VIRTQ_EMPTY: Final = u32(0)                          # virtq_pop_used: nothing new in the used ring
VIRTQ_GOT: Final = u32(1)                            # an entry was taken (id, len in the out struct)
VIRTQ_BAD: Final = u32(2)                            # an entry naming a descriptor we never posted: skipped

_RESET_POLLS: Final = u32(100000)                    # reads of Status waiting for a reset to finish
_CONFIG_RETRIES: Final = u32(16)                     # config reads racing a config change


class VirtqDesc(Struct):
    addr: u64               # buffer's physical address
    len: u32                # buffer length in bytes
    flags: u16              # VIRTQ_DESC_F_*
    next: u16               # next descriptor of a chain (with VIRTQ_DESC_F_NEXT)


class VirtqAvail(Struct):
    flags: u16              # VIRTQ_AVAIL_F_*
    idx: u16                # where the driver puts the next entry (free-running)
    ring: Annotated[Array[u16], 32]
    used_event: u16         # only with VIRTIO_F_EVENT_IDX (not negotiated)


class VirtqUsedElem(Struct):
    id: u32                 # head descriptor of the chain the device finished
    len: u32                # bytes the device wrote into the chain (receive)


class VirtqUsed(Struct):
    flags: u16              # VIRTQ_USED_F_*
    idx: u16                # where the device puts the next entry (free-running)
    ring: Annotated[Array[VirtqUsedElem], 32]
    avail_event: u16        # only with VIRTIO_F_EVENT_IDX (not negotiated)


class VirtqRings(Struct):
    desc: Annotated[Array[VirtqDesc], 32]
    avail: VirtqAvail
    used: VirtqUsed


class Virtq(Struct):
    # The driver's bookkeeping of one queue (kept apart from the rings the device sees).
    rings: u64              # address of the VirtqRings (page-aligned)
    posted: u64             # bit i set: descriptor i is owned by the device
    index: u32              # queue number (QueueSel / QueueNotify value)
    bad_used: u32           # used entries that named a descriptor we had not posted
    size: u16               # entries in use (power of two, <= VIRTQ_SIZE)
    avail_idx: u16          # our copy of avail.idx, including entries not yet published
    last_used: u16          # next used.idx slot we will consume


# --- device registers -------------------------------------------------------------------------------------

def virtio_mmio_read(base: u64, reg: u64) -> u32:
    return mmio_read32(base + reg)


def virtio_mmio_write(base: u64, reg: u64, v: u32) -> None:
    mmio_write32(base + reg, v)


def virtio_mmio_reset(base: u64) -> bool:
    # Write 0 to Status and wait until the device reads back 0 (§4.2.3.1). False if it never does.
    mmio_write32(base + VIRTIO_MMIO_STATUS, u32(0))
    polls = u32(0)
    while mmio_read32(base + VIRTIO_MMIO_STATUS) != 0:
        polls += 1
        if polls >= _RESET_POLLS:
            return False
        cpu_relax()
    return True


def virtio_mmio_add_status(base: u64, bits: u32) -> None:
    mmio_write32(base + VIRTIO_MMIO_STATUS, mmio_read32(base + VIRTIO_MMIO_STATUS) | bits)


def virtio_mmio_status(base: u64) -> u32:
    return mmio_read32(base + VIRTIO_MMIO_STATUS)


def virtio_mmio_device_features(base: u64) -> u64:
    mmio_write32(base + VIRTIO_MMIO_DEVICE_FEATURES_SEL, u32(0))
    low = mmio_read32(base + VIRTIO_MMIO_DEVICE_FEATURES)
    mmio_write32(base + VIRTIO_MMIO_DEVICE_FEATURES_SEL, u32(1))
    high = mmio_read32(base + VIRTIO_MMIO_DEVICE_FEATURES)
    return (u64(high) << 32) | u64(low)


def virtio_mmio_set_features(base: u64, features: u64) -> bool:
    # Write the accepted features, set FEATURES_OK and read it back: a device that does not support this
    # subset clears it (§3.1.1 steps 5-6). Returns whether the device accepted.
    mmio_write32(base + VIRTIO_MMIO_DRIVER_FEATURES_SEL, u32(0))
    mmio_write32(base + VIRTIO_MMIO_DRIVER_FEATURES, u32(features))
    mmio_write32(base + VIRTIO_MMIO_DRIVER_FEATURES_SEL, u32(1))
    mmio_write32(base + VIRTIO_MMIO_DRIVER_FEATURES, u32(features >> 32))
    virtio_mmio_add_status(base, VIRTIO_STATUS_FEATURES_OK)
    return (virtio_mmio_status(base) & VIRTIO_STATUS_FEATURES_OK) != 0


def virtio_mmio_config_generation(base: u64) -> u32:
    return mmio_read32(base + VIRTIO_MMIO_CONFIG_GENERATION)


def virtio_mmio_config_read8(base: u64, off: u64) -> u8:
    return mmio_read8(base + VIRTIO_MMIO_CONFIG + off)


def virtio_mmio_config_read16(base: u64, off: u64) -> u16:
    # A little-endian 16-bit config field (2-byte aligned: one access is atomic, no generation check).
    return mmio_read16(base + VIRTIO_MMIO_CONFIG + off)


def virtio_mmio_config_read48(base: u64, off: u64) -> u64:
    # Six config bytes, first byte most significant (a MAC address), read consistently: retried while the
    # configuration generation changes under us (§4.2.2: fields wider than 32 bits).
    tries = u32(0)
    while True:
        gen = virtio_mmio_config_generation(base)
        v = u64(0)
        for i in range(u64(6)):
            v = (v << 8) | u64(virtio_mmio_config_read8(base, off + i))
        tries += 1
        if virtio_mmio_config_generation(base) == gen or tries >= _CONFIG_RETRIES:
            return v


def virtio_mmio_irq_ack(base: u64) -> u32:
    # Read InterruptStatus and acknowledge exactly the bits seen (a bit raised meanwhile stays up).
    status = mmio_read32(base + VIRTIO_MMIO_INTERRUPT_STATUS)
    if status != 0:
        mmio_write32(base + VIRTIO_MMIO_INTERRUPT_ACK, status)
    return status


# --- queues -----------------------------------------------------------------------------------------------

def virtq_rings(q: Virtq) -> VirtqRings:
    return struct_at(VirtqRings, q.rings)


def virtio_mmio_queue_setup(base: u64, q: Virtq, index: u32, rings: u64) -> bool:
    # Size queue `index` (the largest power of two <= min(VIRTQ_SIZE, QueueNumMax)), hand the device the
    # three ring addresses and mark it ready (§4.2.3.2). `rings` is a zeroed, page-aligned VirtqRings.
    mmio_write32(base + VIRTIO_MMIO_QUEUE_SEL, index)
    if mmio_read32(base + VIRTIO_MMIO_QUEUE_READY) != 0:
        return False
    num_max = mmio_read32(base + VIRTIO_MMIO_QUEUE_NUM_MAX)
    size = VIRTQ_SIZE
    while size > num_max:
        size = size >> 1
    if size == 0:
        return False
    q.rings = rings
    q.index = index
    q.size = u16(size)
    q.posted = u64(0)
    q.bad_used = u32(0)
    q.avail_idx = u16(0)
    q.last_used = u16(0)
    r = virtq_rings(q)
    mmio_write32(base + VIRTIO_MMIO_QUEUE_NUM, size)
    _write_addr(base, VIRTIO_MMIO_QUEUE_DESC_LOW, addr_of(r.desc))
    _write_addr(base, VIRTIO_MMIO_QUEUE_DRIVER_LOW, addr_of(r.avail))
    _write_addr(base, VIRTIO_MMIO_QUEUE_DEVICE_LOW, addr_of(r.used))
    mmio_write32(base + VIRTIO_MMIO_QUEUE_READY, u32(1))
    return True


def _write_addr(base: u64, low_reg: u64, addr: u64) -> None:
    mmio_write32(base + low_reg, u32(addr))
    mmio_write32(base + low_reg + 4, u32(addr >> 32))


def virtq_add(q: Virtq, desc_id: u16, addr: u64, length: u32, flags: u16) -> None:
    # Fill descriptor `desc_id` (one buffer, no chain) and queue it in the avail ring. The device does not
    # see it before virtq_publish.
    if desc_id >= q.size or (q.posted & (u64(1) << desc_id)) != 0:
        panic("virtq_add: descriptor out of range or already owned by the device")
    r = virtq_rings(q)
    d = r.desc[desc_id]
    d.addr = addr
    d.len = length
    d.flags = flags
    d.next = u16(0)
    r.avail.ring[q.avail_idx & (q.size - 1)] = desc_id
    q.avail_idx += 1
    q.posted = q.posted | (u64(1) << desc_id)


def virtq_publish(q: Virtq, base: u64) -> None:
    # Make the added entries visible, then notify the device unless it asked us not to (§2.7.13).
    r = virtq_rings(q)
    dmb("osh")              # descriptors, ring entries (and our reads of recycled buffers) before idx
    r.avail.idx = q.avail_idx
    dmb("osh")              # idx store before reading used.flags (§2.7.13.3: a full barrier)
    if (r.used.flags & VIRTQ_USED_F_NO_NOTIFY) == 0:
        dsb("st")           # idx store complete before the notify write reaches the device
        mmio_write32(base + VIRTIO_MMIO_QUEUE_NOTIFY, q.index)


def virtq_used_pending(q: Virtq) -> bool:
    # A volatile read of used.idx: the device writes it behind the compiler's back.
    return mem_read16(addr_of(virtq_rings(q).used) + 2) != q.last_used


def virtq_pop_used(q: Virtq, out: VirtqUsedElem) -> u32:
    # Take the next used entry: VIRTQ_EMPTY, VIRTQ_GOT (copied into `out`, descriptor ours again) or
    # VIRTQ_BAD (an id out of range or not posted: consumed, counted, ignored).
    if not virtq_used_pending(q):
        return VIRTQ_EMPTY
    dmb("oshld")            # used.idx before the entry and the buffer contents it covers
    e = virtq_rings(q).used.ring[q.last_used & (q.size - 1)]
    out.id = e.id
    out.len = e.len
    q.last_used += 1
    if out.id >= u32(q.size) or (q.posted & (u64(1) << out.id)) == 0:
        q.bad_used += 1
        return VIRTQ_BAD
    q.posted = q.posted & ~(u64(1) << out.id)
    return VIRTQ_GOT
