"""Fixed-width integers behave like the C they become: checked against a reference model of C arithmetic."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyhv.lang import Panic, i8, i16, i32, i64, sdiv, srem, u8, u16, u32, u64
from pyhv.lang.ints import _Fixed

TYPES: list[type[_Fixed]] = [u8, u16, u32, u64, i8, i16, i32, i64]
UNSIGNED: list[type[_Fixed]] = [u8, u16, u32, u64]
SIGNED: list[type[_Fixed]] = [i8, i16, i32, i64]


def c_value(t: type[_Fixed], x: int) -> int:
    """Reference model: the value C stores in an object of type t after converting mathematical x."""
    bits = t.BITS
    r = x % (1 << bits)
    if t in SIGNED and r >= 1 << (bits - 1):
        r -= 1 << bits
    return r


def c_shift_count_ok(t: type[_Fixed], c: int) -> bool:
    return 0 <= c < t.BITS


@st.composite
def typed_pair(draw: st.DrawFn) -> tuple[type[_Fixed], int, int]:
    t = draw(st.sampled_from(TYPES))
    lo, hi = (-(1 << (t.BITS - 1)), (1 << (t.BITS - 1)) - 1) if t in SIGNED else (0, (1 << t.BITS) - 1)
    return t, draw(st.integers(lo, hi)), draw(st.integers(lo, hi))


@given(typed_pair())
def test_wrapping_binary_ops_match_c(p: tuple[type[_Fixed], int, int]) -> None:
    t, a, b = p
    x, y = t(a), t(b)
    assert int(x + y) == c_value(t, a + b)
    assert int(x - y) == c_value(t, a - b)
    assert int(x * y) == c_value(t, a * b)
    assert int(x & y) == c_value(t, a & b)
    assert int(x | y) == c_value(t, a | b)
    assert int(x ^ y) == c_value(t, a ^ b)
    assert int(~x) == c_value(t, ~a)
    assert int(-x) == c_value(t, -a)
    assert type(x + y) is t
    assert (x < y) == (a < b) and (x <= y) == (a <= b) and (x > y) == (a > b) and (x >= y) == (a >= b)
    assert (x == y) == (a == b) and (x != y) == (a != b)


@given(typed_pair())
def test_int_literal_operand_is_converted_to_the_operand_type(p: tuple[type[_Fixed], int, int]) -> None:
    t, a, b = p
    assert t(a) + b == t(a) + t(b)
    assert b + t(a) == t(b) + t(a)
    assert b - t(a) == t(b) - t(a)
    assert t(a) * b == t(a) * t(b)


@given(st.sampled_from(UNSIGNED), st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1))
def test_unsigned_division_matches_c(t: type[u32], a: int, b: int) -> None:
    x, y = t(a), t(b)
    if int(y) == 0:
        with pytest.raises(Panic):
            x // y
        with pytest.raises(Panic):
            x % y
    else:
        assert int(x // y) == int(x) // int(y)
        assert int(x % y) == int(x) % int(y)


def c_sdiv(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


@given(typed_pair().filter(lambda p: p[0] in SIGNED))
def test_sdiv_srem_truncate_toward_zero(p: tuple[type[i32], int, int]) -> None:
    t, a, b = p
    if b == 0:
        with pytest.raises(Panic):
            sdiv(t(a), t(b))
        return
    q = sdiv(t(a), t(b))
    r = srem(t(a), t(b))
    assert int(q) == c_value(t, c_sdiv(a, b))
    assert int(r) == c_value(t, a - c_sdiv(a, b) * b)
    assert type(q) is t and type(r) is t


def test_sdiv_examples_from_the_doc() -> None:
    assert sdiv(i32(-7), i32(2)) == -3
    assert srem(i32(-7), i32(2)) == -1
    assert sdiv(i32(-2**31), i32(-1)) == i32(-2**31)
    assert srem(i32(-2**31), i32(-1)) == 0
    assert sdiv(i64(-9), 4) == i64(-2)


@given(st.sampled_from(TYPES), st.integers(-2**70, 2**70), st.sampled_from(TYPES + [int]),
       st.integers(-300, 300))
def test_shifts_follow_the_guarded_rules(t: type[_Fixed], a: int, ct: type, c: int) -> None:
    x = t(a)
    count = ct(c)
    cv = c if ct is int else int(count)
    v = int(x)
    if c_shift_count_ok(t, cv):
        assert int(x << count) == c_value(t, v << cv)
        assert int(x >> count) == c_value(t, v >> cv)
    else:
        assert int(x << count) == 0
        assert int(x >> count) == (-1 if v < 0 else 0)
    assert type(x << count) is t


def test_conversions_are_c_casts() -> None:
    assert u32(i8(-1)) == u32(0xFFFF_FFFF)
    assert i8(u8(200)) == i8(-56)
    assert u8(u32(0x1234)) == u8(0x34)
    assert i64(i16(-2)) == i64(-2)
    assert u64(i32(-1)) == u64(2**64 - 1)
    assert u32(0xFFFF_FFFF) + 1 == u32(0)
    assert u8(200) * u8(2) == u8(144)


def test_mixing_widths_raises_at_run_time() -> None:
    with pytest.raises(TypeError):
        u32(1) + u64(1)  # type: ignore[operator]
    with pytest.raises(TypeError):
        u32(1) == u64(1)  # noqa: B015
    with pytest.raises(TypeError):
        u32(1) < i32(2)  # type: ignore[operator]


def test_condition_without_comparison_raises() -> None:
    with pytest.raises(TypeError, match="!= 0"):
        if u32(1):
            pass
    with pytest.raises(TypeError):
        bool(i8(0))


def test_signed_types_have_no_floor_division() -> None:
    assert not hasattr(i32, "__floordiv__") and not hasattr(i32, "__mod__")
    with pytest.raises(TypeError):
        i32(7) // i32(2)  # type: ignore[operator]


def test_repr_index_hash_and_format() -> None:
    assert repr(u32(5)) == "u32(5)" and repr(i8(-56)) == "i8(-56)"
    assert ["a", "b", "c"][u8(2)] == "c"
    assert hash(u16(7)) == hash(7) and {u16(7): 1}[u16(7)] == 1
    assert f"{u32(255):08x}" == "000000ff"


def test_construction_rejects_non_integers() -> None:
    with pytest.raises(TypeError):
        u32("5")  # type: ignore[arg-type]


def test_unary_plus_keeps_the_value_and_type() -> None:
    assert +u32(7) == u32(7) and type(+i8(-3)) is i8 and +i8(-3) == i8(-3)
