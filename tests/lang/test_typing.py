"""mypy --strict enforces the dialect's typing rules on the prelude's signatures (one mypy run, many snippets)."""

from __future__ import annotations

import os
import re
import textwrap
from pathlib import Path

import mypy.api
import pytest

SNIPPETS: dict[str, tuple[str, bool]] = {
    # name: (code, accepted?)
    "mixed_widths": ("x = u32(1) + u64(1)", False),
    "mixed_signedness": ("x = u32(1) & i32(1)", False),
    "mixed_compare": ("b = u8(1) < u16(1)", False),
    "same_width": ("x: u32 = u32(1) + u32(2) * 3 - (1 + u32(4))", True),
    "literal_on_the_left": ("x: u64 = 1 << 0 | (5 - u64(2))", True),
    "signed_floordiv": ("x = i32(5) // i32(2)", False),
    "signed_mod": ("x = i64(5) % 2", False),
    "unsigned_div": ("x: u16 = u16(5) // 2 % u16(3)", True),
    "shift_any_count": ("x: u32 = (u32(1) << u8(3)) >> i64(1)", True),
    "sdiv_same_type": ("x: i32 = sdiv(i32(-7), 2)", True),
    "sdiv_mixed": ("x = sdiv(i32(-7), i64(2))", False),
    "sdiv_unsigned": ("x = sdiv(u32(7), u32(2))", False),
    "assign_int_to_field": ("h = Header()\nh.magic = 5", False),
    "field_types": ("h = Header()\nh.magic = h.magic + 1\nv: u8 = h.data[u32(1)]", True),
    "atomic_types": ("h = Header()\nold: u64 = h.count.fetch_add(u64(1), SEQ_CST)", True),
    "atomic_wrong_type": ("h = Header()\nh.count.store(u32(1), RELEASE)", False),
    "static_get": ("_s: Final = Static(Header)\nm: u32 = _s.get().magic", True),
    "ops_table": ("def f() -> None: ...\nt: Final = MyOps(init=f)\nslot: Final = OpsSlot(MyOps)\n"
                  "slot.set(t)\nslot.get().init()", True),
    "ops_wrong_signature": ("def g() -> u32: return u32(1)\nt = MyOps(init=g)", False),
    "ops_positional": ("def f() -> None: ...\nt = MyOps(f)", False),
}

PRELUDE = textwrap.dedent("""\
    from typing import Annotated, Callable, Final
    from pyhv.lang import (u8, u16, u32, u64, i32, i64, sdiv, Struct, Array, Atomic, Static, Ops, OpsSlot,
                           SEQ_CST, RELEASE)

    class Header(Struct):
        magic: u32
        data: Annotated[Array[u8], 4]
        count: Atomic[u64]

    class MyOps(Ops):
        init: Callable[[], None]

    """)


@pytest.fixture(scope="module")
def mypy_errors(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("snippets")
    for name, (code, _) in SNIPPETS.items():
        (d / f"snip_{name}.py").write_text(PRELUDE + code + "\n")
    repo = Path(__file__).resolve().parents[2]
    old = os.getcwd()
    os.chdir(repo)  # mypy resolves `pyhv` from the repository root
    try:
        out, _, _ = mypy.api.run(["--strict", "--no-incremental", "--cache-dir=/dev/null",
                                  "--python-version=3.11", str(d)])
    finally:
        os.chdir(old)
    assert "pyhv/lang" not in out, out  # the prelude itself must be clean
    errors: dict[str, str] = {name: "" for name in SNIPPETS}
    for line in out.splitlines():
        m = re.search(r"snip_(\w+)\.py:\d+: error: (.*)", line)
        if m:
            errors[m.group(1)] += m.group(2) + "\n"
    return errors


@pytest.mark.parametrize("name", sorted(SNIPPETS))
def test_snippet(name: str, mypy_errors: dict[str, str]) -> None:
    accepted = SNIPPETS[name][1]
    if accepted:
        assert mypy_errors[name] == ""
    else:
        assert mypy_errors[name] != "", f"mypy accepted {name}"
