"""HOST mode smoke differential: the golden arith sample, compiled by host gcc as a shared library and called
through ctypes, computes exactly what the same functions compute under CPython with the prelude."""
from __future__ import annotations

import ctypes
import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.api import compile_modules

from compiler_test_util import GOLDEN_SRC

HARNESS = r"""
#include "pyhv_rt.h"
void panic_at(const u8 *file, u32 line, const u8 *msg) { (void)file; (void)line; (void)msg; for (;;) {} }
void printk_begin(void) {}
void printk_end(void) {}
void printk_str(const u8 *s) { (void)s; }
void printk_char(u8 c) { (void)c; }
void printk_udec(u64 v) { (void)v; }
void printk_sdec(i64 v) { (void)v; }
void printk_hex(u64 v, u32 w) { (void)v; (void)w; }
"""


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    out = tmp_path_factory.mktemp("host")
    res = compile_modules(GOLDEN_SRC, ["arith"], out, max_cpus=1, host=True)
    (out / "harness.c").write_text(HARNESS)
    so = out / "libarith.so"
    srcs = [str(c) for c in res.c_files] + [str(out / "harness.c")]
    r = subprocess.run(["gcc", "-std=c11", "-shared", "-fPIC", "-O1", "-Wall", "-Wextra", "-Werror", "-o", str(so),
                        *srcs], capture_output=True, text=True, cwd=out)
    assert r.returncode == 0, r.stderr
    return ctypes.CDLL(str(so))


@pytest.fixture(scope="module")
def py() -> Iterator[ModuleType]:
    sys.path.insert(0, str(GOLDEN_SRC))
    try:
        yield importlib.import_module("arith")
    finally:
        sys.path.remove(str(GOLDEN_SRC))


def _v(x: object) -> int:
    return int(x)  # type: ignore[call-overload]


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 255), st.integers(0, 255), st.integers(0, 0xFFFF), st.integers(1, 2**32 - 1),
       st.integers(0, 2**64 - 1))
def test_unsigned_mix_matches(lib: ctypes.CDLL, py: ModuleType, a: int, b: int, c: int, d: int, e: int) -> None:
    from pyhv.lang import u8, u16, u32, u64
    f = lib.arith_mix
    f.restype = ctypes.c_uint64
    f.argtypes = [ctypes.c_uint8, ctypes.c_uint8, ctypes.c_uint16, ctypes.c_uint32, ctypes.c_uint64]
    assert f(a, b, c, d, e) == _v(py.arith_mix(u8(a), u8(b), u16(c), u32(d), u64(e)))


@settings(max_examples=200, deadline=None)
@given(st.integers(-2**31, 2**31 - 1), st.integers(-2**31, 2**31 - 1).filter(lambda x: x != 0),
       st.integers(-128, 127))
def test_signed_ops_match(lib: ctypes.CDLL, py: ModuleType, a: int, b: int, n: int) -> None:
    from pyhv.lang import i8, i32
    f = lib.arith_signed
    f.restype = ctypes.c_int32
    f.argtypes = [ctypes.c_int32, ctypes.c_int32, ctypes.c_int8]
    assert f(a, b, n) == _v(py.arith_signed(i32(a), i32(b), i8(n)))


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 80), st.integers(-5, 80))
def test_guarded_shifts_match(lib: ctypes.CDLL, py: ModuleType, v: int, c: int, s: int) -> None:
    from pyhv.lang import i32, u32
    f = lib.arith_shift_var
    f.restype = ctypes.c_uint32
    f.argtypes = [ctypes.c_uint32, ctypes.c_uint32, ctypes.c_int32]
    assert f(v, c, s) == _v(py.arith_shift_var(u32(v), u32(c), i32(s)))


def test_host_mode_has_no_inline_asm(tmp_path: Path) -> None:
    compile_modules(GOLDEN_SRC, ["state"], tmp_path, max_cpus=1, host=True)
    text = (tmp_path / "pyhv_intrinsics.h").read_text()
    assert "PYHV_ASM(" not in text
    assert "pyhv_sysreg_read__hcr_el2" in text


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_wrapping_literal_conversions_match(lib: ctypes.CDLL, py: ModuleType, x: int) -> None:
    from pyhv.lang import u32
    f = lib.arith_wrap
    f.restype = ctypes.c_uint64
    f.argtypes = [ctypes.c_uint32]
    assert f(x) == _v(py.arith_wrap(u32(x)))
