"""Inputs past the compiler's comfort zone: nesting as deep as CPython accepts must compile; deeper nesting,
huge literals, NUL characters and non-UTF-8 bytes must be positioned diagnostics (exit 1), never a
traceback (exit 3). The sources are generated here because they are too large to keep in errors/."""
from __future__ import annotations

from pathlib import Path

from compiler.deep import MAX_NESTING

from test_errors import run_compiler

HEAD = "from pyhv.lang import u32\n\n\ndef f(x: u32, c: bool) -> u32:\n"


def _emit(tmp_path: Path, name: str, data: bytes) -> tuple[int, str]:
    (tmp_path / f"{name}.py").write_bytes(data)
    return run_compiler(["emit", name, "--root", str(tmp_path), "--out", str(tmp_path / "out")])


def _ternary(depth: int) -> str:
    e = "x"
    for _ in range(depth):
        e = f"x if c else {e}"
    return e


def test_python_depth_sum_compiles(tmp_path: Path) -> None:
    # CPython 3.11 compiles a 2 900-term sum; a 500-term one used to be a RecursionError in the parser.
    code, err = _emit(tmp_path, "sum", (HEAD + "    return " + " + ".join(["x"] * 2900) + "\n").encode())
    assert code == 0, err[-2000:]
    ret = next(ln for ln in (tmp_path / "out" / "sum.c").read_text().splitlines() if "return" in ln)
    assert ret.count("x") == 2900


def test_deep_conditional_expression_compiles(tmp_path: Path) -> None:
    code, err = _emit(tmp_path, "tern", (HEAD + "    return " + _ternary(2000) + "\n").encode())
    assert code == 0, err[-2000:]


def test_deep_unary_and_not_compile(tmp_path: Path) -> None:
    src = HEAD + "    if " + "not " * 1500 + "c:\n        return " + "-" * 1500 + "x\n    return x\n"
    code, err = _emit(tmp_path, "unary", src.encode())
    assert code == 0, err[-2000:]


def test_nesting_past_the_limit_is_positioned(tmp_path: Path) -> None:
    n = MAX_NESTING + 100
    code, err = _emit(tmp_path, "deep", (HEAD + "    return " + " + ".join(["x"] * n) + "\n").encode())
    assert code == 1
    assert "Traceback" not in err
    head = err.splitlines()[0]
    assert head.startswith("deep.py:5:") and head.endswith(
        f"error: nested too deeply: more than {MAX_NESTING} levels of expressions and blocks")


def test_5000_digit_literal_is_positioned(tmp_path: Path) -> None:
    code, err = _emit(tmp_path, "lit", (HEAD + "    return x + " + "9" * 5000 + "\n").encode())
    assert code == 1
    assert err.splitlines()[0] == "lit.py:5:16: error: integer literal does not fit 64 bits"


def test_nul_character_is_positioned(tmp_path: Path) -> None:
    code, err = _emit(tmp_path, "nul", (HEAD + '    s = "a\0b"\n    return x\n').encode())
    assert code == 1
    assert err.splitlines()[0] == "nul.py:5:11: error: source contains a NUL character"


def test_non_utf8_source_is_positioned(tmp_path: Path) -> None:
    code, err = _emit(tmp_path, "bytes", HEAD.encode() + b"    return x  # \xff\n")
    assert code == 1
    assert err.splitlines()[0] == "bytes.py:5:17: error: source is not UTF-8 text"
