"""A malformed DTB stops the boot with a clear panic; the reader never reads outside totalsize."""

from __future__ import annotations

import struct

import pytest

from pyhv.lang import Panic, u64

from pyhv.core.fdt import FDT_NONE, fdt_find_compatible, fdt_init
from pyhv.core.fdt_path import fdt_path
from pyhv.core.hostinfo import hostinfo_discover

from .conftest import Board
from .dtbs import DTB_ADDR, virt_dtb

H_TOTAL, H_OFF_STRUCT, H_OFF_STRINGS, H_VERSION, H_LAST_COMP, H_SIZE_STRINGS, H_SIZE_STRUCT = 4, 8, 12, 20, 24, 32, 36


def patched(blob: bytes, offset: int, value: int) -> bytes:
    return blob[:offset] + struct.pack(">I", value) + blob[offset + 4:]


def header(blob: bytes, offset: int) -> int:
    return int(struct.unpack_from(">I", blob, offset)[0])


def test_bad_magic_panics(board: Board) -> None:
    with pytest.raises(Panic, match="bad magic"):
        board.load_dtb(patched(virt_dtb(), 0, 0xD00DFEEE))


def test_null_or_misaligned_pointer_panics(board: Board) -> None:
    with pytest.raises(Panic, match="null or misaligned"):
        fdt_init(u64(0))
    with pytest.raises(Panic, match="null or misaligned"):
        fdt_init(u64(DTB_ADDR + 4))


def test_unsupported_version_panics(board: Board) -> None:
    with pytest.raises(Panic, match="version"):
        board.load_dtb(patched(virt_dtb(), H_VERSION, 16))
    with pytest.raises(Panic, match="version"):
        board.load_dtb(patched(virt_dtb(), H_LAST_COMP, 18))


def test_absurd_totalsize_panics(board: Board) -> None:
    with pytest.raises(Panic, match="totalsize out of range"):
        board.load_dtb(patched(virt_dtb(), H_TOTAL, 0x4000_0000))
    with pytest.raises(Panic, match="totalsize out of range"):
        board.load_dtb(patched(virt_dtb(), H_TOTAL, 8))


def test_blocks_past_totalsize_panic(board: Board) -> None:
    blob = virt_dtb()
    total = header(blob, H_TOTAL)
    with pytest.raises(Panic, match="structure block outside"):
        board.load_dtb(patched(blob, H_OFF_STRUCT, total + 4))
    with pytest.raises(Panic, match="structure block outside"):
        board.load_dtb(patched(blob, H_SIZE_STRUCT, total))
    with pytest.raises(Panic, match="strings block outside"):
        board.load_dtb(patched(blob, H_SIZE_STRINGS, total))


def test_truncated_blob_panics_instead_of_reading_on(board: Board) -> None:
    # The header still claims the full size, but only the first half was loaded: the rest of RAM is
    # zeroes, which is not a valid token.
    blob = virt_dtb()
    board.load_dtb(blob[: len(blob) // 2] + bytes(len(blob) - len(blob) // 2))
    with pytest.raises(Panic, match="unexpected token|unterminated|past"):
        fdt_find_compatible(FDT_NONE, "no-such-device")


def test_totalsize_smaller_than_the_tree_panics_on_access(board: Board) -> None:
    # totalsize cut so the strings block no longer fits: rejected at init.
    blob = virt_dtb()
    with pytest.raises(Panic, match="outside totalsize"):
        board.load_dtb(patched(blob, H_TOTAL, header(blob, H_OFF_STRINGS) + 4))


def test_property_length_past_the_structure_block_panics(board: Board) -> None:
    blob = bytearray(virt_dtb())
    off_struct = header(bytes(blob), H_OFF_STRUCT)
    # The root node "" is BEGIN_NODE + 4 bytes of name; its first property's length follows at +12.
    assert header(bytes(blob), off_struct + 8) == 3
    struct.pack_into(">I", blob, off_struct + 12, 0x00FF_FFFF)
    board.load_dtb(bytes(blob))
    with pytest.raises(Panic, match="property value past the structure block"):
        fdt_path("/cpus")


def test_string_name_offset_past_the_strings_block_panics(board: Board) -> None:
    blob = bytearray(virt_dtb())
    off_struct = header(bytes(blob), H_OFF_STRUCT)
    struct.pack_into(">I", blob, off_struct + 16, 0x7FFF_0000)
    board.load_dtb(bytes(blob))
    with pytest.raises(Panic, match="name offset past the strings block"):
        hostinfo_discover(u64(0))


def test_deep_nesting_panics(board: Board) -> None:
    from pyhv.host.fdt_build import FdtBuilder
    f = FdtBuilder()
    for i in range(20):
        f.begin_node("" if i == 0 else f"n{i}")
    for _ in range(20):
        f.end_node()
    board.load_dtb(f.finish())
    with pytest.raises(Panic, match="nested too deeply"):
        fdt_path("/cpus")
