"""Differential tests: every corpus function gives the same result (or panics the same way) under CPython
and as host-compiled generated C (UBSan at -O0, -O1 and -O2, called through ctypes) — on boundary values exhaustively where the
parameter product is small, and on hypothesis-drawn values (derandomized, so CI is reproducible).

A corpus function the compiler rejects or miscompiles is a finding: it stays in the corpus and is listed in
KNOWN_MISMATCHES (xfail, strict: the entry must be removed once fixed).
"""
from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from . import gen_corpus
from .known_mismatches import KNOWN_MISMATCHES
from .harness import REPO, CorpusFunction, DiffBuild, Scalar, all_functions, call_py, edge_inputs, edge_values

EXAMPLES = 40
EDGE_LIMIT = 300
SEED = 20240611


FUNCTIONS = all_functions()


def _marks(fn: CorpusFunction) -> list[pytest.MarkDecorator]:
    reason = KNOWN_MISMATCHES.get(fn.id) or KNOWN_MISMATCHES.get(fn.module)
    return [pytest.mark.xfail(strict=True, reason=reason)] if reason else []


PARAMS = [pytest.param(f, id=f.id, marks=_marks(f)) for f in FUNCTIONS]


def _values(s: Scalar) -> st.SearchStrategy[int]:
    return st.one_of(st.sampled_from(edge_values(s)), st.integers(min_value=s.min, max_value=s.max))


def _built(diff_build: DiffBuild, fn: CorpusFunction) -> DiffBuild:
    b = diff_build.module(fn.module)
    if b.error is not None:
        pytest.fail(b.error, pytrace=False)
    return diff_build


def _agree(diff_build: DiffBuild, fn: CorpusFunction, args: tuple[int, ...]) -> None:
    py = call_py(fn, args)
    for level, c in diff_build.module(fn.module).call_c(fn, args).items():
        assert c == py, f"{fn.id}{args}: C ({level}) gives {c}, CPython gives {py}"


@pytest.mark.parametrize("fn", PARAMS)
def test_boundary_values_agree(diff_build: DiffBuild, fn: CorpusFunction) -> None:
    _built(diff_build, fn)
    for args in edge_inputs(fn, EDGE_LIMIT, SEED):
        _agree(diff_build, fn, args)


@pytest.mark.parametrize("fn", PARAMS)
def test_drawn_values_agree(diff_build: DiffBuild, fn: CorpusFunction) -> None:
    _built(diff_build, fn)

    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(st.tuples(*(_values(p) for p in fn.params)))
    def check(args: tuple[int, ...]) -> None:
        _agree(diff_build, fn, args)

    check()


def test_corpus_covers_every_width_and_construct() -> None:
    names = {f.name for f in FUNCTIONS}
    for t in ("u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64"):
        assert {f"add_{t}", f"neg_{t}", f"shl_{t}_by_i8", f"shr_{t}_lit255", f"cmp_{t}"} <= names
        assert all(f"conv_{t}_to_{d}" in names for d in ("u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64"))
    assert {"sdiv_i32", "srem_i64", "div_u8", "mod_u64", "gcd_u64", "collatz_steps", "checksum_bytes",
            "alias_write", "copy_is_independent", "wire_byte", "array_index", "table_slot_oob"} <= names


def test_generated_corpus_is_up_to_date() -> None:
    stale = [str(p) for p, text in gen_corpus.generated().items() if not p.is_file() or p.read_text() != text]
    assert stale == [], "run python3 tests/diff/gen_corpus.py"


def test_corpus_is_mypy_strict_clean() -> None:
    proc = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-error-summary", "tests/diff/corpus"],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
