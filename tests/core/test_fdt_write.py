"""The dialect FDT writer: blob layout, string de-duplication, reservations, and every error path."""

from __future__ import annotations

import struct

from pyhv.lang import u8, u32, u64

from pyhv.core.fdt_write import (
    FDT_W_ERR_ALIGN, FDT_W_ERR_NOSPACE, FDT_W_ERR_STATE, FDT_W_OK, FdtWriter, fdt_blob_size, fdt_w_begin_node,
    fdt_w_begin_node_at, fdt_w_end_node, fdt_w_finish, fdt_w_init, fdt_w_prop_begin, fdt_w_prop_empty,
    fdt_w_prop_end, fdt_w_prop_str, fdt_w_prop_u32, fdt_w_prop_u64, fdt_w_put_byte, fdt_w_put_str,
    fdt_w_reserve,
)

from .conftest import Node
from .fdtparse import parse

BUF = 0x4800_0000


def _blob(node: Node, size: int) -> bytes:
    return node.node.ram.read(BUF, fdt_blob_size(u64(BUF)).__index__())


def _small_tree(w: FdtWriter) -> None:
    fdt_w_begin_node(w, "")
    fdt_w_prop_u32(w, "#address-cells", u32(2))
    fdt_w_begin_node_at(w, "memory", u64(0x4000_0000))
    fdt_w_prop_str(w, "device_type", "memory")
    fdt_w_prop_u64(w, "value64", u64(0x1122_3344_5566_7788))
    fdt_w_end_node(w)
    fdt_w_begin_node_at(w, "cpu", u64(0))
    fdt_w_prop_str(w, "device_type", "cpu")
    fdt_w_prop_empty(w, "flag")
    fdt_w_end_node(w)
    fdt_w_end_node(w)


def test_a_small_tree_round_trips_through_an_independent_parser(node: Node) -> None:
    w = FdtWriter()
    fdt_w_init(w, u64(BUF), u32(4096))
    _small_tree(w)
    assert fdt_w_finish(w) == FDT_W_OK
    hdr, rsv, root = parse(_blob(node, 4096))
    assert hdr["version"] == 17 and hdr["last_comp_version"] == 16 and hdr["off_mem_rsvmap"] == 40
    assert hdr["off_dt_strings"] == hdr["off_dt_struct"] + hdr["size_dt_struct"]
    assert rsv == []
    assert root.name == "" and root.u32s("#address-cells") == [2]
    mem = root.path("/memory@40000000")
    assert mem.strs("device_type") == ["memory"]
    assert mem.props["value64"] == bytes.fromhex("1122334455667788")
    cpu = root.path("/cpu@0")
    assert cpu.props["flag"] == b"" and cpu.strs("device_type") == ["cpu"]


def test_property_names_are_stored_once_in_the_strings_block(node: Node) -> None:
    w = FdtWriter()
    fdt_w_init(w, u64(BUF), u32(4096))
    _small_tree(w)
    assert fdt_w_finish(w) == FDT_W_OK
    hdr, _, _ = parse(_blob(node, 4096))
    strings = _blob(node, 4096)[hdr["off_dt_strings"]:][:hdr["size_dt_strings"]]
    names = strings.split(b"\0")[:-1]
    assert sorted(names) == sorted([b"#address-cells", b"device_type", b"value64", b"flag"])


def test_reservations_precede_the_structure_block(node: Node) -> None:
    w = FdtWriter()
    fdt_w_init(w, u64(BUF), u32(4096))
    fdt_w_reserve(w, u64(0x4100_0000), u64(0x1000))
    fdt_w_reserve(w, u64(0x1_0000_0000), u64(0x20_0000))
    _small_tree(w)
    assert fdt_w_finish(w) == FDT_W_OK
    _, rsv, _ = parse(_blob(node, 4096))
    assert rsv == [(0x4100_0000, 0x1000), (0x1_0000_0000, 0x20_0000)]


def test_string_lists_and_raw_bytes_keep_their_nuls(node: Node) -> None:
    w = FdtWriter()
    fdt_w_init(w, u64(BUF), u32(1024))
    fdt_w_begin_node(w, "")
    fdt_w_prop_begin(w, "compatible")
    fdt_w_put_str(w, "arm,pl011")
    fdt_w_put_str(w, "arm,primecell")
    fdt_w_prop_end(w)
    fdt_w_prop_begin(w, "odd")
    fdt_w_put_byte(w, u8(7))
    fdt_w_prop_end(w)
    fdt_w_prop_u32(w, "after", u32(5))
    fdt_w_end_node(w)
    assert fdt_w_finish(w) == FDT_W_OK
    _, _, root = parse(_blob(node, 1024))
    assert root.strs("compatible") == ["arm,pl011", "arm,primecell"]
    assert root.props["odd"] == b"\x07"
    assert root.u32s("after") == [5]


def test_every_buffer_size_below_the_need_is_refused_without_writing_past_it(node: Node) -> None:
    w = FdtWriter()
    fdt_w_init(w, u64(BUF), u32(4096))
    _small_tree(w)
    assert fdt_w_finish(w) == FDT_W_OK
    need = fdt_blob_size(u64(BUF)).__index__()
    for size in range(0, need, 8):
        node.node.ram.write(BUF, b"\xaa" * (need + 64))
        w = FdtWriter()
        fdt_w_init(w, u64(BUF), u32(size))
        _small_tree(w)
        assert fdt_w_finish(w) == FDT_W_ERR_NOSPACE, size
        assert node.node.ram.read(BUF + size, need + 64 - size) == b"\xaa" * (need + 64 - size)
    w = FdtWriter()
    fdt_w_init(w, u64(BUF), u32(need))
    _small_tree(w)
    assert fdt_w_finish(w) == FDT_W_OK


def test_a_misaligned_buffer_is_refused(node: Node) -> None:
    w = FdtWriter()
    fdt_w_init(w, u64(BUF + 4), u32(4096))
    _small_tree(w)
    assert fdt_w_finish(w) == FDT_W_ERR_ALIGN


def test_a_property_outside_any_node_is_a_state_error(node: Node) -> None:
    w = FdtWriter()
    fdt_w_init(w, u64(BUF), u32(4096))
    fdt_w_prop_u32(w, "x", u32(1))
    assert fdt_w_finish(w) == FDT_W_ERR_STATE


def test_unbalanced_nodes_are_a_state_error(node: Node) -> None:
    w = FdtWriter()
    fdt_w_init(w, u64(BUF), u32(4096))
    fdt_w_begin_node(w, "")
    fdt_w_begin_node(w, "child")
    fdt_w_end_node(w)
    assert fdt_w_finish(w) == FDT_W_ERR_STATE


def test_a_second_root_and_a_late_reservation_are_state_errors(node: Node) -> None:
    w = FdtWriter()
    fdt_w_init(w, u64(BUF), u32(4096))
    fdt_w_begin_node(w, "")
    fdt_w_end_node(w)
    fdt_w_begin_node(w, "")
    assert fdt_w_finish(w) == FDT_W_ERR_STATE
    w = FdtWriter()
    fdt_w_init(w, u64(BUF), u32(4096))
    fdt_w_begin_node(w, "")
    fdt_w_reserve(w, u64(0), u64(0x1000))
    fdt_w_end_node(w)
    assert fdt_w_finish(w) == FDT_W_ERR_STATE


def test_a_node_inside_an_open_property_is_a_state_error(node: Node) -> None:
    w = FdtWriter()
    fdt_w_init(w, u64(BUF), u32(4096))
    fdt_w_begin_node(w, "")
    fdt_w_prop_begin(w, "p")
    fdt_w_begin_node(w, "child")
    assert fdt_w_finish(w) == FDT_W_ERR_STATE


def test_header_is_big_endian(node: Node) -> None:
    w = FdtWriter()
    fdt_w_init(w, u64(BUF), u32(4096))
    _small_tree(w)
    fdt_w_finish(w)
    assert struct.unpack(">I", node.node.ram.read(BUF, 4))[0] == 0xD00DFEED
