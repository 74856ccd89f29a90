# Guest image placement (Linux Documentation/arch/arm64/booting.rst, "Call the kernel image"): read the
# arm64 Image header, choose where kernel, initrd and DTB go in guest RAM, and check a placement.
#
# arm64 Image header (64 bytes, little-endian):
#   0x00 code0/code1  0x08 text_offset  0x10 image_size  0x18 flags  0x20-0x37 reserved  0x38 magic "ARM\x64"
# flags: bit 0 = big-endian kernel (refused), bit 3 = the 2 MiB-aligned base may be anywhere in RAM.
# image_size 0 (kernels before 3.17) means text_offset 0x80000 and an unknown size (the file size is used).
# No magic: a raw flat binary, entered at its first byte.
#
# Placement (loader_place), inside the lowest RAM region:
#   kernel  an Image at the first 2 MiB-aligned base + text_offset; with flags bit 3 the base moves up past
#           memory holes, without it a hole there is an error. A raw binary at the region's base +
#           0x80000, where QEMU's -kernel puts one on AArch64 (hw/arm/boot.c, KERNEL64_LOAD_ADDR)
#   initrd  an Image: right after its image_size (which covers its BSS), 4 KiB aligned. A raw binary has no
#           size beyond its file, and its BSS, stack and heap usually follow the file: the initrd goes
#           LOADER_RAW_GAP_BYTES (64 MiB, at most a quarter of the region) past the file's end, rounded up to
#           2 MiB, so that much memory after the file is the guest's to use (QEMU leaves the same kind of
#           gap: it puts the initrd at RAM + 128 MiB)
#   DTB     at the next 2 MiB boundary after that, so it never crosses one (booting.rst: <= 2 MiB, 8-aligned)
# The guest finds initrd and bootargs through the DTB's /chosen (linux,initrd-start/-end, bootargs), its
# address in x0. Placements that overlap, leave RAM or cross a hole are refused with a line naming them.

from typing import Final

from pyhv.lang import range, Struct, kprint, mem_read8, u32, u64

from pyhv.core.vmconfig import VmConfig, vmconfig_ipa_in_ram

LOADER_OK: Final = u32(0)
LOADER_ERR_BIG_ENDIAN: Final = u32(1)   # flags bit 0: a big-endian kernel
LOADER_ERR_NO_ROOM: Final = u32(2)      # the images do not fit in the RAM region
LOADER_ERR_OUTSIDE_RAM: Final = u32(3)  # an image is not inside one RAM region
LOADER_ERR_OVERLAP: Final = u32(4)      # two images overlap
LOADER_ERR_HOLE: Final = u32(5)         # an image overlaps a memory hole of the VmConfig
LOADER_ERR_DTB: Final = u32(6)          # DTB misaligned, over 2 MiB, or crossing a 2 MiB boundary
LOADER_ERR_ALIGN: Final = u32(7)        # kernel not at a 2 MiB-aligned base + text_offset

IMAGE_MAGIC: Final = u32(0x644D5241)    # "ARM\x64"
IMAGE_HEADER_SIZE: Final = u64(64)
IMAGE_FLAG_BE: Final = u64(1 << 0)
IMAGE_FLAG_ANYWHERE: Final = u64(1 << 3)
IMAGE_OLD_TEXT_OFFSET: Final = u64(0x80000)
SZ_2M: Final = u64(0x200000)
SZ_4K: Final = u64(0x1000)
DTB_MAX_SIZE: Final = u64(0x200000)
LOADER_RAW_LOAD_OFFSET: Final = u64(0x80000)    # a raw binary's offset from the RAM base (QEMU's)
LOADER_RAW_GAP_BYTES: Final = u64(64 << 20)     # free room after a raw binary's file end (see above)


class KernelImage(Struct):
    text_offset: u64
    image_size: u64     # bytes the kernel occupies from its load address (BSS included)
    file_size: u64      # bytes to copy
    flags: u64
    raw: bool           # no arm64 header: a flat binary (image_size = file size + the gap left after it)


def _le(addr: u64, nbytes: u32) -> u64:
    v = u64(0)
    for i in range(nbytes):
        v |= u64(mem_read8(addr + u64(i))) << (u32(i) * 8)
    return v


def loader_parse_image(addr: u64, file_size: u64, img: KernelImage) -> u32:
    # The image's file is at host address `addr`. LOADER_OK or LOADER_ERR_BIG_ENDIAN.
    img.file_size = file_size
    img.raw = file_size < IMAGE_HEADER_SIZE or u32(_le(addr + 0x38, u32(4))) != IMAGE_MAGIC
    if img.raw:
        img.text_offset = u64(0)
        img.image_size = file_size
        img.flags = u64(0)
        return LOADER_OK
    img.text_offset = _le(addr + 8, u32(8))
    img.image_size = _le(addr + 16, u32(8))
    img.flags = _le(addr + 24, u32(8))
    if img.image_size == 0:
        img.text_offset = IMAGE_OLD_TEXT_OFFSET
        img.image_size = file_size
        img.flags = u64(0)
    if img.image_size < file_size:
        img.image_size = file_size
    if (img.flags & IMAGE_FLAG_BE) != 0:
        kprint("loader: the kernel is big-endian\n")
        return LOADER_ERR_BIG_ENDIAN
    return LOADER_OK


def _overlap(a: u64, a_size: u64, b: u64, b_size: u64) -> bool:
    return a_size != 0 and b_size != 0 and a < b + b_size and b < a + a_size


def _hole_end(cfg: VmConfig, base: u64, size_bytes: u64) -> u64:
    # End of the first memory hole [base, base + size) overlaps, 0 if none.
    for i in range(u32(0), cfg.nr_holes):
        h = cfg.holes[i]
        if _overlap(base, size_bytes, h.base, h.size_bytes):
            return h.base + h.size_bytes
    return u64(0)


def _align_up(v: u64, a: u64) -> u64:
    return (v + a - 1) & ~(a - 1)


def _lowest_region(cfg: VmConfig) -> u32:
    best = u32(0)
    for i in range(u32(1), cfg.nr_mem):
        if cfg.mem[i].ipa_base < cfg.mem[best].ipa_base:
            best = u32(i)
    return best


def loader_check(cfg: VmConfig, img: KernelImage) -> u32:
    # Check cfg's kernel/initrd/DTB placement against booting.rst, RAM, holes and each other.
    if img.raw:
        aligned = True
    else:
        aligned = cfg.kernel_ipa >= img.text_offset and ((cfg.kernel_ipa - img.text_offset) & (SZ_2M - 1)) == 0
    if not aligned:
        kprint("loader: kernel at 0x%x is not a 2 MiB base + text_offset 0x%x\n", cfg.kernel_ipa, img.text_offset)
        return LOADER_ERR_ALIGN
    if (cfg.dtb_ipa & 7) != 0 or cfg.dtb_size_bytes > DTB_MAX_SIZE or cfg.dtb_size_bytes == 0 or \
            (cfg.dtb_ipa & ~(SZ_2M - 1)) != ((cfg.dtb_ipa + cfg.dtb_size_bytes - 1) & ~(SZ_2M - 1)):
        kprint("loader: DTB at 0x%x (0x%x bytes) breaks the 8-byte / 2 MiB rules\n", cfg.dtb_ipa, cfg.dtb_size_bytes)
        return LOADER_ERR_DTB
    if not vmconfig_ipa_in_ram(cfg, cfg.kernel_ipa, cfg.kernel_size_bytes) or \
            not vmconfig_ipa_in_ram(cfg, cfg.dtb_ipa, cfg.dtb_size_bytes) or \
            (cfg.initrd_size_bytes != 0 and not vmconfig_ipa_in_ram(cfg, cfg.initrd_ipa, cfg.initrd_size_bytes)):
        kprint("loader: an image lies outside guest RAM\n")
        return LOADER_ERR_OUTSIDE_RAM
    if _overlap(cfg.kernel_ipa, cfg.kernel_size_bytes, cfg.initrd_ipa, cfg.initrd_size_bytes):
        kprint("loader: the kernel (0x%x, 0x%x bytes with its BSS) overlaps the initrd (0x%x, 0x%x bytes)\n",
               cfg.kernel_ipa, cfg.kernel_size_bytes, cfg.initrd_ipa, cfg.initrd_size_bytes)
        return LOADER_ERR_OVERLAP
    if _overlap(cfg.kernel_ipa, cfg.kernel_size_bytes, cfg.dtb_ipa, cfg.dtb_size_bytes):
        kprint("loader: the kernel (0x%x, 0x%x bytes with its BSS) overlaps the DTB (0x%x, 0x%x bytes)\n",
               cfg.kernel_ipa, cfg.kernel_size_bytes, cfg.dtb_ipa, cfg.dtb_size_bytes)
        return LOADER_ERR_OVERLAP
    if _overlap(cfg.initrd_ipa, cfg.initrd_size_bytes, cfg.dtb_ipa, cfg.dtb_size_bytes):
        kprint("loader: the initrd (0x%x, 0x%x bytes) overlaps the DTB (0x%x, 0x%x bytes)\n",
               cfg.initrd_ipa, cfg.initrd_size_bytes, cfg.dtb_ipa, cfg.dtb_size_bytes)
        return LOADER_ERR_OVERLAP
    if _hole_end(cfg, cfg.kernel_ipa, cfg.kernel_size_bytes) != 0 or \
            _hole_end(cfg, cfg.initrd_ipa, cfg.initrd_size_bytes) != 0 or \
            _hole_end(cfg, cfg.dtb_ipa, cfg.dtb_size_bytes) != 0:
        kprint("loader: an image overlaps a memory hole\n")
        return LOADER_ERR_HOLE
    return LOADER_OK


def loader_place(cfg: VmConfig, img: KernelImage, initrd_size_bytes: u64, dtb_size_bytes: u64) -> u32:
    # Choose the placement (fields kernel_ipa ... dtb_size_bytes of cfg), then loader_check it.
    r = cfg.mem[_lowest_region(cfg)]
    end = r.ipa_base + r.size_bytes
    if img.raw:
        gap = LOADER_RAW_GAP_BYTES if LOADER_RAW_GAP_BYTES <= r.size_bytes // 4 else r.size_bytes // 4
        img.image_size = _align_up(LOADER_RAW_LOAD_OFFSET + img.file_size + gap, SZ_2M) - LOADER_RAW_LOAD_OFFSET
    cfg.kernel_size_bytes = img.image_size
    cfg.initrd_size_bytes = initrd_size_bytes
    cfg.dtb_size_bytes = dtb_size_bytes
    if img.raw:
        cfg.kernel_ipa = r.ipa_base + LOADER_RAW_LOAD_OFFSET
    else:
        base = _align_up(r.ipa_base, SZ_2M)
        hole = _hole_end(cfg, base + img.text_offset, img.image_size)
        while hole != 0 and (img.flags & IMAGE_FLAG_ANYWHERE) != 0 and base < end:
            base = _align_up(hole, SZ_2M)
            hole = _hole_end(cfg, base + img.text_offset, img.image_size)
        cfg.kernel_ipa = base + img.text_offset
    cfg.initrd_ipa = _align_up(cfg.kernel_ipa + img.image_size, SZ_4K)
    cfg.dtb_ipa = _align_up(cfg.initrd_ipa + initrd_size_bytes, SZ_2M)
    if cfg.kernel_ipa >= end or cfg.dtb_ipa >= end or end - cfg.dtb_ipa < dtb_size_bytes:
        kprint("loader: kernel (0x%x), initrd (0x%x) and DTB (0x%x bytes) do not fit in 0x%x bytes of RAM\n",
               img.image_size, initrd_size_bytes, dtb_size_bytes, r.size_bytes)
        return LOADER_ERR_NO_ROOM
    return loader_check(cfg, img)
