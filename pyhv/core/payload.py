# The guest payload: one blob carrying the guest kernel, its initrd and its bootargs, parsed here
# (bounds-checked: a malformed payload is an error code, never a wild read). The host side that writes it
# is pyhv/host/payload.py; the format is documented in docs/vm-model.md ("How the guest reaches pyhv").
#
# How it arrives: on QEMU virt the blob is QEMU's `-initrd`, so the host DTB's /chosen
# linux,initrd-start/-end say where it is; on rpi4 the firmware loads it from the SD card
# (config.txt `initramfs payload.bin followkernel`) and writes the same /chosen properties.
#
#   offset 0   u32 magic "PYHV" (0x56485950)   u32 version (1)
#   offset 8   u32 header_bytes (24 + 24 * n)  u32 nr_entries n (<= PAYLOAD_MAX_ENTRIES)
#   offset 16  u64 total_bytes (the blob's size)
#   offset 24  n x { u32 kind, u32 flags (0), u64 offset, u64 size_bytes }   (offsets from the blob start)
#
# Kinds: 1 = kernel (arm64 Image or flat binary), 2 = initrd, 3 = bootargs (text, NUL-terminated within
# size_bytes). The kernel is required; each kind appears at most once.

from typing import Final

from pyhv.lang import Struct, kprint, mem_read8, mem_read32, mem_read64, range, u32, u64

PAYLOAD_MAGIC: Final = u32(0x56485950)      # "PYHV" little-endian
PAYLOAD_VERSION: Final = u32(1)
PAYLOAD_HEADER_BYTES: Final = u64(24)
PAYLOAD_ENTRY_BYTES: Final = u64(24)
PAYLOAD_MAX_ENTRIES: Final = u32(8)

PAYLOAD_KIND_KERNEL: Final = u32(1)
PAYLOAD_KIND_INITRD: Final = u32(2)
PAYLOAD_KIND_BOOTARGS: Final = u32(3)

PAYLOAD_OK: Final = u32(0)
PAYLOAD_ERR_SHORT: Final = u32(1)          # smaller than its header, or than total_bytes says
PAYLOAD_ERR_MAGIC: Final = u32(2)          # not a pyhv payload (e.g. a plain initramfs)
PAYLOAD_ERR_VERSION: Final = u32(3)
PAYLOAD_ERR_ENTRIES: Final = u32(4)        # entry count or header size out of range
PAYLOAD_ERR_BOUNDS: Final = u32(5)         # an entry reaches past the blob
PAYLOAD_ERR_KIND: Final = u32(6)           # unknown kind, or a kind given twice
PAYLOAD_ERR_NO_KERNEL: Final = u32(7)
PAYLOAD_ERR_BOOTARGS: Final = u32(8)       # bootargs without a NUL inside their entry


class Payload(Struct):
    kernel_addr: u64        # host addresses of each part (0 and size 0 when absent)
    kernel_size: u64
    initrd_addr: u64
    initrd_size: u64
    bootargs_addr: u64      # NUL-terminated string
    bootargs_size: u64      # bytes of the entry (NUL included)


def payload_looks_valid(addr: u64, size: u64) -> bool:
    # Cheap test for "is this blob ours" (an ordinary initramfs is not).
    return size >= PAYLOAD_HEADER_BYTES and mem_read32(addr) == PAYLOAD_MAGIC


def _has_nul(addr: u64, size: u64) -> bool:
    i = u64(0)
    while i < size:
        if mem_read8(addr + i) == 0:
            return True
        i += 1
    return False


def _entry(addr: u64, size: u64, i: u32, out: Payload) -> u32:
    e = addr + PAYLOAD_HEADER_BYTES + u64(i) * PAYLOAD_ENTRY_BYTES
    kind = mem_read32(e)
    off = mem_read64(e + 8)
    n = mem_read64(e + 16)
    if off > size or n > size - off:
        return PAYLOAD_ERR_BOUNDS
    if kind == PAYLOAD_KIND_KERNEL:
        if out.kernel_size != 0:
            return PAYLOAD_ERR_KIND
        out.kernel_addr = addr + off
        out.kernel_size = n
    elif kind == PAYLOAD_KIND_INITRD:
        if out.initrd_size != 0:
            return PAYLOAD_ERR_KIND
        out.initrd_addr = addr + off
        out.initrd_size = n
    elif kind == PAYLOAD_KIND_BOOTARGS:
        if out.bootargs_size != 0:
            return PAYLOAD_ERR_KIND
        if not _has_nul(addr + off, n):
            return PAYLOAD_ERR_BOOTARGS
        out.bootargs_addr = addr + off
        out.bootargs_size = n
    else:
        return PAYLOAD_ERR_KIND
    return PAYLOAD_OK


def payload_parse(addr: u64, size: u64, out: Payload) -> u32:
    # Parse the blob at host address `addr` of `size` bytes (the /chosen initrd range) into `out`.
    out.kernel_addr = u64(0)
    out.kernel_size = u64(0)
    out.initrd_addr = u64(0)
    out.initrd_size = u64(0)
    out.bootargs_addr = u64(0)
    out.bootargs_size = u64(0)
    if size < PAYLOAD_HEADER_BYTES:
        return PAYLOAD_ERR_SHORT
    if mem_read32(addr) != PAYLOAD_MAGIC:
        return PAYLOAD_ERR_MAGIC
    if mem_read32(addr + 4) != PAYLOAD_VERSION:
        return PAYLOAD_ERR_VERSION
    header_bytes = u64(mem_read32(addr + 8))
    count = mem_read32(addr + 12)
    total = mem_read64(addr + 16)
    if total > size:
        return PAYLOAD_ERR_SHORT
    if count == 0 or count > PAYLOAD_MAX_ENTRIES or \
            header_bytes != PAYLOAD_HEADER_BYTES + u64(count) * PAYLOAD_ENTRY_BYTES or header_bytes > total:
        return PAYLOAD_ERR_ENTRIES
    for i in range(count):
        err = _entry(addr, total, i, out)
        if err != PAYLOAD_OK:
            return err
    if out.kernel_size == 0:
        return PAYLOAD_ERR_NO_KERNEL
    return PAYLOAD_OK


def payload_report(err: u32) -> None:
    # One log line explaining a payload_parse error.
    kprint("payload: rejected (error %u: 1 short, 2 magic, 3 version, 4 entries, 5 bounds, 6 kind, "
           "7 no kernel, 8 bootargs)\n", err)
