"""Differential corpus: structs built inside each function from integer inputs — field reads and writes,
nested structs, aliasing through references, struct_copy, struct_zero, reference parameters, padding-sensitive
layouts and sizeof."""
from pyhv.lang import Struct, i32, i64, sizeof, struct_copy, struct_zero, u8, u16, u32, u64


class Point(Struct):
    x: i32
    y: i32


class Rect(Struct):
    tag: u8
    top_left: Point
    bottom_right: Point
    area: i64


class Mixed(Struct):
    a: u8
    b: u64
    c: u16
    d: bool
    e: u32


def _fill_point(p: Point, x: i32, y: i32) -> None:
    p.x = x
    p.y = y


def _swap_xy(p: Point) -> None:
    t = p.x
    p.x = p.y
    p.y = t


def point_roundtrip(x: i32, y: i32) -> i64:
    p = Point()
    _fill_point(p, x, y)
    _swap_xy(p)
    return i64(p.x) * 3 - i64(p.y)


def rect_area(x0: i32, y0: i32, x1: i32, y1: i32) -> i64:
    r = Rect()
    _fill_point(r.top_left, x0, y0)
    _fill_point(r.bottom_right, x1, y1)
    r.area = (i64(r.bottom_right.x) - i64(r.top_left.x)) * (i64(r.bottom_right.y) - i64(r.top_left.y))
    return r.area


def alias_write(a: u32, b: u32) -> u32:
    # Struct-typed names are references: q aliases p.
    p = Point()
    q = p
    q.x = i32(a)
    p.y = i32(b)
    return u32(q.y) ^ u32(p.x)


def nested_reference(a: i32, b: i32) -> i32:
    r = Rect()
    corner = r.top_left
    corner.x = a
    r.top_left.y = b
    corner.y += 1
    return r.top_left.x - r.top_left.y


def copy_is_independent(a: i32, b: i32) -> i32:
    src = Point()
    src.x = a
    src.y = b
    dst = Point()
    struct_copy(dst, src)
    src.x = i32(0)
    src.y = i32(7)
    return dst.x - dst.y + src.y


def copy_nested(a: i32, b: i32, tag: u8) -> i64:
    r1 = Rect()
    r1.tag = tag
    r1.top_left.x = a
    r1.bottom_right.y = b
    r2 = Rect()
    struct_copy(r2, r1)
    r1.tag = u8(0)
    struct_copy(r2.top_left, r2.bottom_right)
    return i64(r2.tag) + i64(r2.top_left.y) * 65536 + i64(r1.top_left.x)


def zero_after_write(a: u64, c: u16) -> u64:
    m = Mixed()
    m.b = a
    m.c = c
    m.d = True
    struct_zero(m)
    m.e = u32(a)
    return m.b + u64(m.c) + u64(m.e) + (u64(1) if m.d else u64(0))


def mixed_fields(a: u8, b: u64, c: u16, e: u32) -> u64:
    m = Mixed()
    m.a = a
    m.b = b
    m.c = c
    m.d = a > 100
    m.e = e
    m.a += 1
    m.c -= 1
    flag = u64(1) if m.d else u64(0)
    return u64(m.a) ^ m.b ^ (u64(m.c) << 16) ^ (flag << 40) ^ (u64(m.e) << 20)


def struct_sizes(k: u8) -> u64:
    # C layout: Point 8, Rect 32 (padding before top_left and area), Mixed 24.
    if k == 0:
        return sizeof(Point)
    if k == 1:
        return sizeof(Rect)
    return sizeof(Mixed)
