"""Robustness: mutations of valid dialect programs (delete / duplicate / swap tokens or lines) must either
compile or fail with a DialectError, never any other exception (which would be an internal compiler error)."""
from __future__ import annotations

import io
import tokenize
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.diagnostics import DialectError
from compiler.emit_c import emit_module
from compiler.parse import parse_module
from compiler.sema_check import analyze

from compiler_test_util import GOLDEN_SRC

SOURCES = [(GOLDEN_SRC / f"{m}.py").read_text() for m in ("arith", "state")]


def _tokens(src: str) -> list[str]:
    out: list[str] = []
    try:
        for t in tokenize.generate_tokens(io.StringIO(src).readline):
            out.append(t.string)
    except (tokenize.TokenError, SyntaxError):
        return src.split()
    return out


def _compile(src: str) -> None:
    try:
        mod = parse_module(src, "fuzz.py", "fuzz")
        prog = analyze([mod])
        for m in prog.modules:
            emit_module(prog, m)
    except DialectError:
        pass


@st.composite
def line_mutation(draw: st.DrawFn) -> str:
    lines = draw(st.sampled_from(SOURCES)).splitlines()
    i = draw(st.integers(0, len(lines) - 1))
    j = draw(st.integers(0, len(lines) - 1))
    op = draw(st.sampled_from(["delete", "duplicate", "swap"]))
    if op == "delete":
        del lines[i]
    elif op == "duplicate":
        lines.insert(j, lines[i])
    else:
        lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines) + "\n"


@st.composite
def token_mutation(draw: st.DrawFn) -> str:
    src = draw(st.sampled_from(SOURCES))
    lines = src.splitlines(keepends=True)
    n = draw(st.integers(0, len(lines) - 1))
    toks = [t for t in _tokens(lines[n]) if t.strip()]
    if not toks:
        return src
    i = draw(st.integers(0, len(toks) - 1))
    j = draw(st.integers(0, len(toks) - 1))
    op = draw(st.sampled_from(["delete", "duplicate", "swap"]))
    if op == "delete":
        toks[i] = ""
    elif op == "duplicate":
        toks[i] = toks[i] + " " + toks[i]
    else:
        toks[i], toks[j] = toks[j], toks[i]
    indent = lines[n][: len(lines[n]) - len(lines[n].lstrip())]
    lines[n] = indent + " ".join(t for t in toks if t) + "\n"
    return "".join(lines)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(line_mutation())
def test_line_mutations_only_raise_dialect_errors(src: str) -> None:
    _compile(src)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(token_mutation())
def test_token_mutations_only_raise_dialect_errors(src: str) -> None:
    _compile(src)


def test_unmutated_samples_compile() -> None:
    for src in SOURCES:
        mod = parse_module(src, "fuzz.py", "fuzz")
        analyze([mod])


def test_fuzz_helper_paths_exist() -> None:
    assert all(Path(GOLDEN_SRC / f"{m}.py").exists() for m in ("arith", "state"))
