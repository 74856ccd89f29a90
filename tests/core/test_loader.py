"""Guest loader: arm64 Image header parsing, booting.rst placement, and every placement error."""

from __future__ import annotations

import struct

from pyhv.lang import u32, u64

from pyhv.core.loader import (
    LOADER_ERR_ALIGN, LOADER_ERR_BIG_ENDIAN, LOADER_ERR_DTB, LOADER_ERR_HOLE, LOADER_ERR_NO_ROOM, LOADER_ERR_OUTSIDE_RAM,
    LOADER_ERR_OVERLAP, LOADER_OK, KernelImage, loader_check, loader_parse_image, loader_place,
)
from pyhv.core.vmconfig import VmConfig, vmconfig_add_hole, vmconfig_single_node

from .conftest import Node

IMG = 0x2000_0000
MIB = 1 << 20


def _image(node: Node, text_offset: int, image_size: int, flags: int, magic: bytes = b"ARM\x64") -> None:
    hdr = struct.pack("<IIQQQQQQ4sI", 0x14000010, 0, text_offset, image_size, flags, 0, 0, 0, magic, 0)
    node.node.ram.write(IMG, hdr)


def _parsed(node: Node, file_size: int = 30 * MIB) -> KernelImage:
    img = KernelImage()
    assert loader_parse_image(u64(IMG), u64(file_size), img) == LOADER_OK
    return img


def _cfg(ram: int = 512 * MIB) -> VmConfig:
    cfg = VmConfig()
    vmconfig_single_node(cfg, u32(1), u32(1), u64(ram), u32(3))
    return cfg


def test_header_fields_are_read(node: Node) -> None:
    _image(node, 0, 40 * MIB, 0xA)
    img = _parsed(node)
    assert (int(img.text_offset), int(img.image_size), int(img.flags), img.raw) == (0, 40 * MIB, 0xA, False)


def test_old_kernels_without_image_size_use_text_offset_0x80000(node: Node) -> None:
    _image(node, 0x1234, 0, 0)
    img = _parsed(node, 20 * MIB)
    assert int(img.text_offset) == 0x80000 and int(img.image_size) == 20 * MIB


def test_no_magic_means_a_raw_binary_loaded_at_the_ram_base_plus_0x80000_like_qemu(node: Node) -> None:
    _image(node, 0, 0, 0, magic=b"ELF!")
    img = _parsed(node, 4096)
    assert img.raw
    cfg = _cfg()
    assert loader_place(cfg, img, u64(0), u64(0x1000)) == LOADER_OK
    assert int(cfg.kernel_ipa) == 0x4008_0000


def test_a_raw_binary_gets_64_mib_free_after_its_file_before_the_initrd(node: Node) -> None:
    _image(node, 0, 0, 0, magic=b"ELF!")
    img = _parsed(node, 3 * MIB + 5)
    cfg = _cfg()
    assert loader_place(cfg, img, u64(8 * MIB), u64(0x3000)) == LOADER_OK
    file_end = 0x4008_0000 + 3 * MIB + 5
    assert int(cfg.initrd_ipa) >= file_end + 64 * MIB and int(cfg.initrd_ipa) % (2 * MIB) == 0
    assert int(cfg.initrd_ipa) - (file_end + 64 * MIB) < 2 * MIB
    assert int(cfg.dtb_ipa) >= int(cfg.initrd_ipa) + 8 * MIB


def test_a_small_vm_leaves_a_raw_binary_a_quarter_of_its_ram(node: Node) -> None:
    _image(node, 0, 0, 0, magic=b"ELF!")
    img = _parsed(node, 4096)
    cfg = _cfg(32 * MIB)
    assert loader_place(cfg, img, u64(MIB), u64(0x3000)) == LOADER_OK
    assert int(cfg.initrd_ipa) == 0x4000_0000 + 10 * MIB       # 0x80000 + 4 KiB + 8 MiB, up to 2 MiB


def test_a_raw_binary_too_big_for_its_ram_is_refused(node: Node) -> None:
    _image(node, 0, 0, 0, magic=b"ELF!")
    img = _parsed(node, 30 * MIB)
    assert loader_place(_cfg(32 * MIB), img, u64(MIB), u64(0x3000)) == LOADER_ERR_NO_ROOM


def test_big_endian_kernels_are_refused(node: Node) -> None:
    _image(node, 0, 40 * MIB, 0x1)
    assert loader_parse_image(u64(IMG), u64(MIB), KernelImage()) == LOADER_ERR_BIG_ENDIAN


def test_kernel_at_2mib_base_plus_text_offset_then_initrd_then_dtb(node: Node) -> None:
    _image(node, 0x80000, 30 * MIB + 5, 0x8)
    img = _parsed(node)
    cfg = _cfg()
    assert loader_place(cfg, img, u64(8 * MIB), u64(0x3000)) == LOADER_OK
    assert int(cfg.kernel_ipa) == 0x4008_0000
    assert int(cfg.initrd_ipa) == 0x4008_0000 + 30 * MIB + 4096
    assert int(cfg.dtb_ipa) % (2 * MIB) == 0 and int(cfg.dtb_ipa) >= int(cfg.initrd_ipa) + 8 * MIB


def test_anywhere_kernels_skip_a_hole_at_the_start_of_ram(node: Node) -> None:
    _image(node, 0, 30 * MIB, 0x8)
    cfg = _cfg()
    vmconfig_add_hole(cfg, u64(0x4000_0000), u64(0x10_0000))          # e.g. firmware's first MiB
    assert loader_place(cfg, _parsed(node), u64(0), u64(0x1000)) == LOADER_OK
    assert int(cfg.kernel_ipa) == 0x4020_0000


def test_fixed_kernels_on_a_hole_are_refused(node: Node) -> None:
    _image(node, 0, 30 * MIB, 0x0)
    cfg = _cfg()
    vmconfig_add_hole(cfg, u64(0x4000_0000), u64(0x10_0000))
    assert loader_place(cfg, _parsed(node), u64(0), u64(0x1000)) == LOADER_ERR_HOLE


def test_initrd_on_a_hole_is_refused(node: Node) -> None:
    _image(node, 0, 30 * MIB, 0x8)
    cfg = _cfg()
    vmconfig_add_hole(cfg, u64(0x4000_0000 + 40 * MIB), u64(MIB))
    assert loader_place(cfg, _parsed(node), u64(16 * MIB), u64(0x1000)) == LOADER_ERR_HOLE


def test_images_larger_than_ram_are_refused(node: Node) -> None:
    _image(node, 0, 30 * MIB, 0x8)
    assert loader_place(_cfg(32 * MIB), _parsed(node), u64(8 * MIB), u64(0x1000)) == LOADER_ERR_NO_ROOM


def test_check_refuses_a_misaligned_kernel(node: Node) -> None:
    _image(node, 0, 30 * MIB, 0x8)
    img = _parsed(node)
    cfg = _cfg()
    assert loader_place(cfg, img, u64(0), u64(0x1000)) == LOADER_OK
    cfg.kernel_ipa = cfg.kernel_ipa + 0x1000
    assert loader_check(cfg, img) == LOADER_ERR_ALIGN


def test_check_refuses_bad_dtb_placements(node: Node) -> None:
    _image(node, 0, 30 * MIB, 0x8)
    img = _parsed(node)
    cfg = _cfg()
    assert loader_place(cfg, img, u64(0), u64(0x1000)) == LOADER_OK
    good = cfg.dtb_ipa
    cfg.dtb_ipa = good + 4                                              # not 8-byte aligned
    assert loader_check(cfg, img) == LOADER_ERR_DTB
    cfg.dtb_ipa = good + 2 * MIB - 0x800                               # crosses a 2 MiB boundary
    assert loader_check(cfg, img) == LOADER_ERR_DTB
    cfg.dtb_ipa, cfg.dtb_size_bytes = good, u64(2 * MIB + 8)           # over 2 MiB
    assert loader_check(cfg, img) == LOADER_ERR_DTB


def test_check_refuses_images_outside_ram_and_overlapping_images(node: Node) -> None:
    _image(node, 0, 30 * MIB, 0x8)
    img = _parsed(node)
    cfg = _cfg()
    assert loader_place(cfg, img, u64(4 * MIB), u64(0x1000)) == LOADER_OK
    saved = cfg.initrd_ipa
    cfg.initrd_ipa = u64(0x3000_0000)
    assert loader_check(cfg, img) == LOADER_ERR_OUTSIDE_RAM
    cfg.initrd_ipa = cfg.kernel_ipa + MIB
    assert loader_check(cfg, img) == LOADER_ERR_OVERLAP
    cfg.initrd_ipa = saved
    cfg.dtb_ipa = saved
    assert loader_check(cfg, img) == LOADER_ERR_OVERLAP
