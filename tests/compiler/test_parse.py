"""Parser: the dialect subset parses into compiler.ast with exact positions; everything else is a
DialectError naming the offending token."""
from __future__ import annotations

import pytest

from compiler import ast as A
from compiler.diagnostics import DialectError
from compiler.parse import parse_module


def parse(src: str) -> A.Module:
    return parse_module(src, "t.py", "t")


def test_grammar_builds_in_strict_mode() -> None:
    # strict=True turns any LALR conflict or terminal collision into an error; needs `interegular`.
    from compiler.parse import STRICT, _build_parser
    assert STRICT
    _build_parser(strict=True)


def test_module_docstring_imports_and_constants() -> None:
    m = parse('"""doc"""\nfrom a.b import x, y as z\nimport a.c as c\nN: Final = u32(5)\n')
    assert m.docstring == "doc"
    imp = m.body[0]
    assert isinstance(imp, A.ImportFrom)
    assert [(n, a) for n, a, _ in imp.names] == [("x", None), ("y", "z")]
    assert isinstance(m.body[1], A.Import) and m.body[1].alias == "c"
    const = m.body[2]
    assert isinstance(const, A.AnnAssign) and isinstance(const.value, A.Call)


def test_int_literals_in_all_bases() -> None:
    m = parse("X: Final = 0x1_F\nY: Final = 0b101\nZ: Final = 1_000\n")
    vals = [s.value.value for s in m.body if isinstance(s, A.AnnAssign) and isinstance(s.value, A.IntLit)]
    assert vals == [31, 5, 1000]


def test_positions_are_one_based_line_and_column() -> None:
    m = parse("def f(a: u32) -> u32:\n    return a + 1\n")
    fn = m.body[0]
    assert isinstance(fn, A.FunctionDef)
    ret = fn.body[0]
    assert isinstance(ret, A.Return) and isinstance(ret.value, A.BinOp)
    assert ret.pos == A.Pos("t.py", 2, 5)
    assert ret.value.op_pos == A.Pos("t.py", 2, 14)


def test_precedence_follows_python() -> None:
    m = parse("def f(a: u32) -> u32:\n    return a | 1 << 2 + 3 & 4\n")
    fn = m.body[0]
    assert isinstance(fn, A.FunctionDef)
    ret = fn.body[0]
    assert isinstance(ret, A.Return)
    e = ret.value
    assert isinstance(e, A.BinOp) and e.op == "|"
    assert isinstance(e.right, A.BinOp) and e.right.op == "&"
    assert isinstance(e.right.left, A.BinOp) and e.right.left.op == "<<"


def test_elif_chain_becomes_nested_if() -> None:
    m = parse("def f(a: u32) -> None:\n    if a == 1:\n        pass\n    elif a == 2:\n        pass\n"
              "    else:\n        pass\n")
    fn = m.body[0]
    assert isinstance(fn, A.FunctionDef)
    top = fn.body[0]
    assert isinstance(top, A.If) and isinstance(top.orelse[0], A.If)
    assert isinstance(top.orelse[0].orelse[0], A.Pass)


def test_class_with_packed_keyword_and_decorated_function() -> None:
    m = parse("class P(Struct, packed=True):\n    a: u8\n\n@asm_function\ndef g() -> u64: ...\n")
    cls, fn = m.body
    assert isinstance(cls, A.ClassDef) and cls.keywords[0].name == "packed"
    assert isinstance(fn, A.FunctionDef) and fn.decorators[0][0] == "asm_function"


def test_comments_are_collected_with_positions() -> None:
    m = parse("x: Final = 1  # note\n")
    assert m.comments == ((A.Pos("t.py", 1, 15), "# note"),)


@pytest.mark.parametrize("src,line,col,msg", [
    ("def f() -> None:\n    x = a if b\n", 2, 15, "syntax error: unexpected end of line"),
    ("def f() -> None:\n    yield 1\n", 2, 5, "generators are not dialect"),
    ("def f(*a: u32) -> None:\n    pass\n", 1, 7, "syntax error: unexpected '*' (*args and unpacking are not dialect)"),
    ("def f() -> None:\n    x = 1.5\n", 2, 10, "syntax error: floats are not dialect"),
    ("def f() -> None:\n    x = 2 ** 3\n", 2, 11, "syntax error: '**' is not dialect"),
    ("def f() -> None:\n    global x\n", 2, 5, "'global' is not dialect (use Static/PerCpu storage)"),
    ("x = 1; y = 2\n", 1, 6, "syntax error: unexpected character ';' (one statement per line)"),
])
def test_non_dialect_syntax_is_a_positioned_error(src: str, line: int, col: int, msg: str) -> None:
    with pytest.raises(DialectError) as ei:
        parse(src)
    assert (ei.value.pos.line, ei.value.pos.col, ei.value.message) == (line, col, msg)


def test_render_shows_source_line_and_caret() -> None:
    with pytest.raises(DialectError) as ei:
        parse("def f() -> None:\n    lambda: 1\n")
    assert ei.value.render() == "t.py:2:5: error: lambdas are not dialect\n        lambda: 1\n        ^"
