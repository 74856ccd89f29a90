"""The prelude's typed `range`: loop variables carry the bounds' fixed-width type, as in the C build."""

from __future__ import annotations

import builtins

import pytest
from hypothesis import given, strategies as st

from pyhv.lang import i8, range, u8, u32, u64


def test_loop_variable_has_the_bound_type_and_wraps_like_c() -> None:
    seen = list(range(u32(2)))
    assert seen == [u32(0), u32(1)]
    assert all(type(v) is u32 for v in seen)
    assert seen[0] - 1 == u32(0xFFFF_FFFF)


def test_literal_bound_is_converted_to_the_other_bounds_type() -> None:
    assert list(range(i8(-2), 1)) == [i8(-2), i8(-1), i8(0)]
    assert list(range(1, u8(3))) == [u8(1), u8(2)]


def test_empty_when_start_is_not_below_stop() -> None:
    assert list(range(u64(5), u64(5))) == []
    assert list(range(u64(6), u64(5))) == []


def test_range_up_to_the_maximum_does_not_wrap() -> None:
    assert list(range(u8(253), u8(255))) == [u8(253), u8(254)]


def test_mixed_fixed_types_are_rejected() -> None:
    with pytest.raises(TypeError):
        list(range(u32(0), u64(3)))  # type: ignore[call-overload]


def test_plain_int_bounds_are_rejected() -> None:
    with pytest.raises(TypeError):
        list(range(0, 3))  # type: ignore[call-overload]


@given(st.integers(0, 255), st.integers(0, 255))
def test_matches_python_range_on_values(a: int, b: int) -> None:
    assert [int(v) for v in range(u8(a), u8(b))] == list(builtins.range(a, b))
