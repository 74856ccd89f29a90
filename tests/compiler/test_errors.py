"""Diagnostics corpus: every tests/compiler/errors/*.py is an invalid dialect program whose expected error is
written inline (`# error@COL: message` on the offending line, or `# error: LINE:COL: message`). The compiler
must report exactly that message at exactly that position, exit with status 1, and never show a traceback."""
from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

from compiler.api import main

ERRORS = Path(__file__).with_name("errors")
REPO = Path(__file__).resolve().parents[2]
_AT = re.compile(r"#\s*error@(\d+):\s*(.*)$")
_FULL = re.compile(r"#\s*error:\s*(\d+):(\d+):\s*(.*)$")


def expectation(path: Path) -> tuple[int, int, str] | None:
    for n, line in enumerate(path.read_text().splitlines(), 1):
        m = _AT.search(line)
        if m:
            return n, int(m.group(1)), m.group(2).strip()
        m = _FULL.search(line)
        if m:
            return int(m.group(1)), int(m.group(2)), m.group(3).strip()
    return None


CASES = sorted(p for p in ERRORS.glob("*.py") if expectation(p) is not None)


def run_compiler(args: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(args)
    return code, err.getvalue()


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 25


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_error_case(path: Path, tmp_path: Path) -> None:
    exp = expectation(path)
    assert exp is not None
    line, col, msg = exp
    code, err = run_compiler(["emit", path.stem, "--root", str(ERRORS), "--out", str(tmp_path)])
    assert code == 1, err
    first = err.splitlines()[0]
    assert first == f"{path.name}:{line}:{col}: error: {msg}"
    assert "Traceback" not in err
    caret_line = err.splitlines()[2]
    assert caret_line.index("^") - 4 == col - 1  # caret under the column (source shown indented by 4)


def test_cli_exit_status_and_no_traceback() -> None:
    r = subprocess.run([sys.executable, "-m", "compiler", "check", "mixed_widths", "--root", str(ERRORS)],
                       cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stderr.startswith("mixed_widths.py:6:14: error: mixed widths")
    assert "Traceback" not in r.stderr


def test_internal_error_exits_3_with_banner(monkeypatch: pytest.MonkeyPatch) -> None:
    # Simulate a compiler bug in the checker stage: the CLI must say so and exit 3, not 1.
    import compiler.api

    def broken(root: Path, entries: list[str]) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(compiler.api, "check_modules", broken)
    code, err = run_compiler(["check", "mixed_widths", "--root", str(ERRORS)])
    assert code == 3
    assert err.startswith("internal compiler error")
    assert "RuntimeError: boom" in err


# Programs next to the rules above that must stay accepted (the rule is no wider than it says).
ACCEPTED = {
    "near_reserved_names": '''
from pyhv.lang import range, u32


def f(pyhv: u32, _pyhv_x: u32) -> u32:
    pyhvt = pyhv + _pyhv_x
    a_b = pyhvt
    _x_ = a_b
    for i_end in range(u32(3)):
        _x_ += i_end
    return _x_
''',
    "exits_from_with": '''
from typing import Final

from pyhv.lang import SpinLock, Static, Struct, range, u32


class Counter(Struct):
    lock: SpinLock
    other: SpinLock
    n: u32


_c: Final = Static(Counter)


def f(k: u32) -> u32:
    c = _c.get()
    with c.lock:
        for i in range(k):
            while True:
                with c.other:
                    if i == 2:
                        return c.n
                    if i == 3:
                        break
                    continue
        c.n += 1
        return c.n
''',
    "storage_rebound_without_alias": '''
from pyhv.lang import Struct, range, struct_copy, u32


class Pair(Struct):
    x: u32
    y: u32


def f(n: u32) -> u32:
    p = Pair()
    p.x = n
    t = p.x
    p = Pair()
    for i in range(n):
        cur = Pair()
        cur.x = i
        t += cur.x
    prev = Pair()
    last = Pair()
    for i in range(n):
        struct_copy(prev, last)
        last.x = prev.x + i
    return t + p.x + last.x
''',
    "len_where_it_cannot_leak": '''
from pyhv.lang import Array, array_len, range, u8, u32, u64


def f(n: u64) -> u32:
    buf = Array(u8, 8)
    t = u32(len(buf))
    for i in range(u64(0), len(buf)):
        buf[i] = u8(i)
    if n < len(buf) and len(buf) != n:
        t += 1
    return t + u32(array_len(buf) - 100)
''',
    "assigned_on_every_path": '''
from typing import NoReturn

from pyhv.lang import Struct, panic, range, u32


class Box(Struct):
    x: u32


def stop() -> NoReturn:
    panic("stop")


def f(c: bool, n: u32) -> u32:
    if c:
        x = u32(1)
    elif n == 2:
        x = u32(2)
    else:
        x = u32(3)
    if n == 7:
        y = u32(0)
    else:
        stop()
    i = u32(0)
    for i in range(n):
        if i == 3:
            break
        t = i
        t += 1
        if t == 2:
            continue
    while True:
        if n == 1:
            z = x
            break
        if n == 9:
            z = y
            break
        n += 1
    b = Box()
    b.x = x
    assert z != 99
    return x + y + z + i + b.x
''',
    "returns_on_every_path": '''
from pyhv.lang import panic, range, u32


def f(c: bool, n: u32) -> u32:
    if c:
        return n
    elif n == 3:
        return u32(1)
    else:
        panic("no")


def g(n: u32) -> u32:
    while True:
        for i in range(n):
            if i == 5:
                return i
        n += 1


def h(n: u32) -> u32:
    if n == 0:
        return u32(0)
    assert False
''',
    "stack_addresses_passed_down": '''
from pyhv.lang import Array, Struct, addr_of, mem_read32, u8, u32, u64


class Inner(Struct, packed=True):
    a: u32


class Outer(Struct, packed=True):
    tag: u8
    inner: Inner


def _sum(addr: u64) -> u32:
    return mem_read32(addr)


def f() -> u32:
    buf = Array(u8, 16)
    o = Outer()
    o.inner.a = u32(3)
    a = addr_of(buf)
    return _sum(a) + _sum(addr_of(buf) + 4) + o.inner.a
''',
}


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_accepted_case(name: str, tmp_path: Path) -> None:
    (tmp_path / f"{name}.py").write_text(ACCEPTED[name])
    code, err = run_compiler(["emit", name, "--root", str(tmp_path), "--out", str(tmp_path / "out")])
    assert code == 0, err
