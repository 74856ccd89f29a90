"""Struct layout equals C's (checked against ctypes) and struct views alias their bytes like C pointers."""

from __future__ import annotations

import ctypes
import operator
import typing
from typing import Annotated

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyhv.lang import (
    Array, Atomic, Panic, SpinLock, Struct, addr_of, array_len, as_bytes, i16, i64, sizeof, struct_at,
    struct_copy, struct_zero, u8, u16, u32, u64,
)
from pyhv.lang.machine import LOCAL_BASE, Machine
from pyhv.lang.structs import struct_layout

SCALARS: dict[type, type] = {
    u8: ctypes.c_uint8, u16: ctypes.c_uint16, u32: ctypes.c_uint32, u64: ctypes.c_uint64,
    i16: ctypes.c_int16, i64: ctypes.c_int64, bool: ctypes.c_bool,
}


class _CSpinLock(ctypes.Structure):
    _fields_ = [("next", ctypes.c_uint32), ("owner", ctypes.c_uint32)]


def make_pair(name: str, fields: list[tuple[object, type]], packed: bool) -> tuple[type[Struct], type]:
    """Build the same struct twice: as a dialect Struct and as a ctypes.Structure."""
    annotations = {f"f{i}": ann for i, (ann, _) in enumerate(fields)}
    cfields = [(f"f{i}", c) for i, (_, c) in enumerate(fields)]
    ns: dict[str, object] = {"__annotations__": annotations}
    dialect = type(name, (Struct,), ns, packed=packed)
    cns: dict[str, object] = {"_fields_": cfields}
    if packed:
        cns["_pack_"] = 1
    ctype = type(name + "_c", (ctypes.Structure,), cns)
    return dialect, ctype


def c_array(c: type, n: int) -> type:
    return typing.cast(type, operator.mul(c, n))


@st.composite
def field_spec(draw: st.DrawFn, depth: int) -> tuple[object, type]:  # (annotation, ctypes type)
    choice = draw(st.sampled_from(["scalar", "array", "atomic", "lock"] + (["struct"] if depth < 2 else [])))
    if choice == "scalar":
        t = draw(st.sampled_from(list(SCALARS)))
        return t, SCALARS[t]
    if choice == "array":
        t = draw(st.sampled_from(list(SCALARS)))
        n = draw(st.integers(1, 5))
        return Annotated[Array[t], n], c_array(SCALARS[t], n)  # type: ignore[valid-type]
    if choice == "atomic":
        t = draw(st.sampled_from([u32, u64]))
        return Atomic[t], SCALARS[t]  # type: ignore[valid-type]
    if choice == "lock":
        return SpinLock, _CSpinLock
    inner = draw(st.lists(field_spec(depth + 1), min_size=1, max_size=4))
    d, c = make_pair(f"Inner{depth}", inner, draw(st.booleans()))
    if draw(st.booleans()):
        n = draw(st.integers(1, 3))
        return Annotated[Array[d], n], c_array(c, n)  # type: ignore[valid-type]
    return d, c


@settings(max_examples=150, deadline=None)
@given(st.lists(field_spec(0), min_size=1, max_size=8), st.booleans())
def test_layout_matches_ctypes(fields: list[tuple[object, type]], packed: bool) -> None:
    d, c = make_pair("Shape", fields, packed)
    lay = struct_layout(d)
    assert lay.size == ctypes.sizeof(c) == int(sizeof(d))
    assert lay.align == ctypes.alignment(c)
    for f in lay.fields:
        assert f.offset == getattr(c, f.name).offset, f.name


class Header(Struct):
    magic: u32
    length: u32


class Packet(Struct, packed=True):
    kind: u8
    hdr: Header
    payload: Annotated[Array[u8], 16]
    ok: bool


class Table(Struct):
    count: u16
    rows: Annotated[Array[Header], 3]


def test_doc_example_layout_and_bytes_are_little_endian() -> None:
    p = Packet()
    p.kind = u8(7)
    p.hdr.magic = u32(0x11223344)
    p.payload[15] = u8(0xEE)
    p.ok = True
    b = as_bytes(p)
    assert len(b) == 26 == int(sizeof(Packet))
    assert b[0] == 7 and b[1:5] == bytes([0x44, 0x33, 0x22, 0x11]) and b[24] == 0xEE and b[25] == 1


def test_new_struct_is_zeroed_and_fields_read_back() -> None:
    h = Header()
    assert h.magic == 0 and h.length == 0
    h.length = u32(5)
    h.length += 1
    assert h.length == u32(6)


def test_nested_struct_is_a_reference_into_the_same_bytes() -> None:
    p = Packet()
    hdr = p.hdr
    hdr.length = u32(99)
    assert p.hdr.length == 99
    assert addr_of(hdr) == addr_of(p) + 1


def test_assignment_aliases_and_struct_copy_copies() -> None:
    a = Header()
    b = a
    b.magic = u32(1)
    assert a.magic == 1
    c = Header()
    struct_copy(c, a)
    a.magic = u32(2)
    assert c.magic == 1
    struct_zero(a)
    assert as_bytes(a) == bytes(8)


def test_array_of_structs_yields_references_and_checks_bounds() -> None:
    t = Table()
    t.rows[u32(2)].magic = u32(0xAB)
    assert t.rows[2].magic == 0xAB
    assert as_bytes(t)[4 + 16:4 + 20] == bytes([0xAB, 0, 0, 0])
    assert len(t.rows) == 3 and array_len(t.rows) == u64(3)
    with pytest.raises(Panic):
        t.rows[u8(3)]
    with pytest.raises(TypeError):
        t.rows[i16(0)]  # type: ignore[index]


def test_standalone_array_is_zeroed_and_not_iterable() -> None:
    buf = Array(u8, 64)
    buf[u64(63)] = u8(1)
    assert buf[63] == 1 and buf[0] == 0
    with pytest.raises(Panic):
        buf[64] = u8(0)
    with pytest.raises(TypeError):
        iter(buf)


def test_field_assignment_is_type_checked_at_run_time() -> None:
    h = Header()
    with pytest.raises(TypeError):
        h.magic = u64(1)  # type: ignore[assignment]
    with pytest.raises(AttributeError):
        h.magik = u32(1)  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        Packet().hdr = Header()


def test_local_structs_get_unique_fake_addresses() -> None:
    a, b = Header(), Header()
    assert int(addr_of(a)) >= LOCAL_BASE and addr_of(a) != addr_of(b)


def test_struct_at_views_node_ram() -> None:
    m = Machine()
    node = m.add_node()
    with m.on_cpu(node, 0):
        t = struct_at(Table, u64(0x4000_0ffc))  # straddles a page boundary
        t.rows[1].length = u32(0xCAFE)
        assert node.ram.read(0x4000_0ffc + 4 + 8 + 4, 4) == (0xCAFE).to_bytes(4, "little")
        assert struct_at(Table, u64(0x4000_0ffc)).rows[1].length == 0xCAFE
        assert addr_of(t.rows[1]) == u64(0x4000_0ffc + 12)
        with pytest.raises(Panic):
            struct_at(Header, u64(0x4000_0002))


def test_struct_at_resolves_local_addresses() -> None:
    m = Machine()
    node = m.add_node()
    t = Table()
    with m.on_cpu(node, 0):
        view = struct_at(Header, addr_of(t.rows[1]))
        view.magic = u32(3)
        with pytest.raises(Panic):  # packed: the nested header sits at an odd address
            struct_at(Header, addr_of(Packet().hdr))
    assert t.rows[1].magic == 3


def test_invalid_declarations_are_rejected() -> None:
    with pytest.raises(TypeError):
        type("NoLen", (Struct,), {"__annotations__": {"a": Array[u8]}})
    with pytest.raises(TypeError):
        type("BadAtomic", (Struct,), {"__annotations__": {"a": Atomic[u8]}})  # type: ignore[type-var]
    with pytest.raises(TypeError):
        type("Empty", (Struct,), {})
    with pytest.raises(TypeError):
        type("Derived", (Header,), {"__annotations__": {"x": u8}})
