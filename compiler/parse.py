"""Stage 1: source text -> compiler.ast.Module, with Lark LALR (strict, positions on) and an indenting
post-lexer. Every Lark error is turned into a DialectError at the offending token."""
from __future__ import annotations

import ast as pyast
import io
import tokenize
from collections.abc import Callable, Iterator
from pathlib import Path

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import LexError, UnexpectedCharacters, VisitError, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.indenter import DedentError, PythonIndenter
from lark.tree import Meta

from compiler import ast as A
from compiler.deep import MAX_NESTING, run_deep
from compiler.diagnostics import DialectError, register_source

# Python keywords (and builtins that look like syntax) that the dialect rejects outright.
FORBIDDEN_WORDS = {
    "lambda": "lambdas are not dialect",
    "yield": "generators are not dialect",
    "try": "exceptions are not dialect (use panic)",
    "except": "exceptions are not dialect (use panic)",
    "finally": "exceptions are not dialect (use panic)",
    "raise": "exceptions are not dialect (use panic)",
    "global": "'global' is not dialect (use Static/PerCpu storage)",
    "nonlocal": "'nonlocal' is not dialect",
    "del": "'del' is not dialect",
    "async": "'async' is not dialect",
    "await": "'await' is not dialect",
    "is": "'is' is not dialect (compare with ==)",
}

TOKEN_NAMES = {"_NEWLINE": "end of line", "$END": "end of file", "_INDENT": "indent", "_DEDENT": "dedent"}


class DialectIndenter(PythonIndenter):
    """PythonIndenter that also rejects non-dialect keywords at their own token."""

    file = "<input>"
    last_nl: Token | None = None

    def handle_NL(self, token: Token) -> Iterator[Token]:
        self.last_nl = token
        indent = token.value.rsplit("\n", 1)[-1]
        if self.paren_level == 0 and "\t" in indent:
            # CPython measures a tab as up to 8 columns and refuses some mixes (TabError) but not others;
            # the dialect indents with spaces only, so the block structure has one reading.
            raise DialectError(A.Pos(self.file, token.end_line or 1, indent.index("\t") + 1),
                               "indent with spaces: a tab in indentation is not dialect")
        yield from super().handle_NL(token)

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        self.last_nl = None
        base: Callable[[Iterator[Token]], Iterator[Token]] = super().process
        try:
            for tok in base(stream):
                if tok.type == "NAME" and tok.value in FORBIDDEN_WORDS:
                    raise DialectError(A.Pos(self.file, tok.line or 0, tok.column or 0),
                                       FORBIDDEN_WORDS[tok.value])
                yield tok
        except DedentError:
            nl = self.last_nl
            line = (nl.end_line or 1) if nl is not None else 1
            indent = len(nl.value.rsplit("\n", 1)[-1]) if nl is not None else 0
            raise DialectError(A.Pos(self.file, line, indent + 1),
                               "unindent does not match any outer indentation level") from None


_GRAMMAR = Path(__file__).with_name("grammar.lark")
_INDENTER = DialectIndenter()


def _build_parser(strict: bool) -> Lark:
    return Lark(_GRAMMAR.read_text(), parser="lalr", lexer="basic", strict=strict, propagate_positions=True,
                postlex=_INDENTER, maybe_placeholders=True, start="start")


try:
    _PARSER = _build_parser(strict=True)
    STRICT = True
except LexError as _e:  # strict mode needs the `interegular` package (lark[interegular])
    if "interegular" not in str(_e):
        raise
    _PARSER = _build_parser(strict=False)  # same grammar; tests/compiler/test_parse.py insists on strict
    STRICT = False


def parse_module(text: str, file: str, module_name: str) -> A.Module:
    """Parse one dialect file; `file` is the path shown in diagnostics."""
    register_source(file, text)
    if not text.endswith("\n"):
        text += "\n"
    nul = text.find("\0")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        raise DialectError(A.Pos(file, line, nul - (text.rfind("\n", 0, nul) + 1) + 1),
                           "source contains a NUL character")
    _INDENTER.file = file
    try:
        tree = _PARSER.parse(text)
    except UnexpectedInput as e:
        raise _syntax_error(e, file, text) from None
    _check_nesting(tree, file)

    def build() -> object:
        try:
            return _Builder(file).transform(tree)
        except VisitError as e:
            if isinstance(e.orig_exc, DialectError):
                raise e.orig_exc from None
            raise

    body = run_deep(build)
    assert isinstance(body, list)
    doc, stmts = _split_docstring(body)
    return A.Module(module_name, file, doc, tuple(stmts), _comments(text, file))


def _check_nesting(tree: Tree[Token], file: str) -> None:
    """The dialect's nesting limit (compiler/deep.py), checked without recursion so that a program nested
    past it gets a positioned error at its deepest construct."""
    stack: list[tuple[Tree[Token], int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_NESTING:
            meta = node.meta
            raise DialectError(A.Pos(file, getattr(meta, "line", 1), getattr(meta, "column", 1)),
                               f"nested too deeply: more than {MAX_NESTING} levels of expressions and blocks")
        for ch in node.children:
            if isinstance(ch, Tree):
                stack.append((ch, depth + 1))


def _char_before(text: str, line: int, col: int) -> str:
    lines = text.splitlines()
    if 1 <= line <= len(lines) and 2 <= col <= len(lines[line - 1]) + 1:
        return lines[line - 1][col - 2]
    return ""


def _syntax_error(e: UnexpectedInput, file: str, text: str) -> DialectError:
    if isinstance(e, UnexpectedToken):
        tok = e.token
        line, col = tok.line or e.line, tok.column or e.column
        before = _char_before(text, line, col)
        if tok.type == "DEC_NUMBER" and before == ".":
            return DialectError(A.Pos(file, line, col - 1), "syntax error: floats are not dialect")
        if tok.value == "*" and before == "*":
            return DialectError(A.Pos(file, line, col - 1), "syntax error: '**' is not dialect")
        if tok.type == "$END" or isinstance(e, UnexpectedEOF):
            return DialectError(A.Pos(file, max(line, 1), max(col, 1)), "syntax error: unexpected end of file")
        if tok.type == "_NEWLINE":
            return DialectError(A.Pos(file, line, col), "syntax error: unexpected end of line")
        if tok.type in TOKEN_NAMES:
            return DialectError(A.Pos(file, line, col), f"syntax error: unexpected {TOKEN_NAMES[tok.type]}")
        hint = ""
        if tok.value == "*" and "NAME" in e.expected:
            hint = " (*args and unpacking are not dialect)"
        elif tok.value == "=" and ("RPAR" in e.expected or "COMMA" in e.expected):
            hint = " (default arguments are not dialect)"
        elif tok.type == "SEMICOLON":
            hint = " (one statement per line)"
        return DialectError(A.Pos(file, line, col), f"syntax error: unexpected '{tok.value}'{hint}")
    if isinstance(e, UnexpectedCharacters):
        ch = e.char
        hints = {"{": " (dicts and sets are not dialect)", "/": " (use // on unsigned integers)",
                 "@": " (only decorators from pyhv.lang, on their own line)", ";": " (one statement per line)",
                 ".": " (floats are not dialect)"}
        return DialectError(A.Pos(file, e.line, e.column), f"syntax error: unexpected character '{ch}'"
                            + hints.get(ch, ""))
    return DialectError(A.Pos(file, max(e.line, 1), max(e.column, 1)), "syntax error")


def _comments(text: str, file: str) -> tuple[tuple[A.Pos, str], ...]:
    out: list[tuple[A.Pos, str]] = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT:
                out.append((A.Pos(file, tok.start[0], tok.start[1] + 1), tok.string))
    except (tokenize.TokenError, SyntaxError):
        pass  # the Lark parse already accepted the file; tokenize quirks must not hide its comments
    return tuple(out)


def _split_docstring(body: list[A.Stmt]) -> tuple[str | None, list[A.Stmt]]:
    if body and isinstance(body[0], A.ExprStmt) and isinstance(body[0].value, A.StrLit):
        return body[0].value.value, body[1:]
    return None, body


def _tok_pos(file: str, tok: Token) -> A.Pos:
    return A.Pos(file, tok.line or 0, tok.column or 0)


class _Builder(Transformer[Token, object]):
    """Lark tree -> compiler.ast nodes."""

    def __init__(self, file: str) -> None:
        super().__init__()
        self.file = file

    def _pos(self, meta: Meta) -> A.Pos:
        return A.Pos(self.file, getattr(meta, "line", 0), getattr(meta, "column", 0))

    def _err(self, pos: A.Pos, msg: str) -> DialectError:
        return DialectError(pos, msg)

    # -- structure
    def start(self, children: list[object]) -> list[object]:
        return [c for c in children if c is not None]

    def simple_stmt(self, children: list[object]) -> object:
        return children[0]

    def suite(self, children: list[object]) -> list[object]:
        return [c for c in children if c is not None]

    # -- simple statements
    @v_args(meta=True)
    def expr_stmt(self, meta: Meta, c: list[A.Expr]) -> A.Stmt:
        return A.ExprStmt(self._pos(meta), c[0])

    @v_args(meta=True)
    def ann_decl(self, meta: Meta, c: list[A.Expr]) -> A.Stmt:
        return A.AnnAssign(self._pos(meta), c[0], c[1], None)

    @v_args(meta=True)
    def ann_assign(self, meta: Meta, c: list[A.Expr]) -> A.Stmt:
        return A.AnnAssign(self._pos(meta), c[0], c[1], c[2])

    @v_args(meta=True)
    def assign(self, meta: Meta, c: list[A.Expr]) -> A.Stmt:
        return A.Assign(self._pos(meta), c[0], c[1])

    @v_args(meta=True)
    def aug_assign(self, meta: Meta, c: list[object]) -> A.Stmt:
        target, op, value = c
        assert isinstance(op, Token)
        return A.AugAssign(self._pos(meta), target, str(op.value)[:-1], value,  # type: ignore[arg-type]
                           _tok_pos(self.file, op))

    @v_args(meta=True)
    def pass_stmt(self, meta: Meta, c: list[object]) -> A.Stmt:
        return A.Pass(self._pos(meta))

    @v_args(meta=True)
    def break_stmt(self, meta: Meta, c: list[object]) -> A.Stmt:
        return A.Break(self._pos(meta))

    @v_args(meta=True)
    def continue_stmt(self, meta: Meta, c: list[object]) -> A.Stmt:
        return A.Continue(self._pos(meta))

    @v_args(meta=True)
    def return_stmt(self, meta: Meta, c: list[A.Expr | None]) -> A.Stmt:
        return A.Return(self._pos(meta), c[0])

    @v_args(meta=True)
    def assert_stmt(self, meta: Meta, c: list[A.Expr | None]) -> A.Stmt:
        test = c[0]
        assert test is not None
        return A.Assert(self._pos(meta), test, c[1])

    def dotted_name(self, c: list[Token]) -> str:
        return ".".join(str(t.value) for t in c)

    @v_args(meta=True)
    def import_stmt(self, meta: Meta, c: list[object]) -> A.Stmt:
        mod, alias = c
        assert isinstance(mod, str)
        return A.Import(self._pos(meta), mod, str(alias) if alias is not None else None)

    def import_name(self, c: list[Token | None]) -> tuple[str, str | None, A.Pos]:
        name, alias = c
        assert name is not None
        return (str(name.value), str(alias.value) if alias is not None else None, _tok_pos(self.file, name))

    def import_names(self, c: list[object]) -> list[object]:
        return [x for x in c if x is not None]

    @v_args(meta=True)
    def from_stmt(self, meta: Meta, c: list[object]) -> A.Stmt:
        mod, names = c
        assert isinstance(mod, str) and isinstance(names, list)
        return A.ImportFrom(self._pos(meta), mod, tuple(names))

    # -- compound statements
    @v_args(meta=True)
    def if_stmt(self, meta: Meta, c: list[object]) -> A.Stmt:
        test, body, *rest = c
        orelse = rest[-1]
        elifs = rest[:-1]
        tail: tuple[A.Stmt, ...] = tuple(orelse) if isinstance(orelse, list) else ()
        for el in reversed(elifs):
            assert isinstance(el, A.If)
            tail = (A.If(el.pos, el.test, el.body, tail),)
        return A.If(self._pos(meta), test, tuple(body), tail)  # type: ignore[arg-type]

    @v_args(meta=True)
    def elif_clause(self, meta: Meta, c: list[object]) -> A.Stmt:
        return A.If(self._pos(meta), c[0], tuple(c[1]), ())  # type: ignore[arg-type]

    @v_args(meta=True)
    def while_stmt(self, meta: Meta, c: list[object]) -> A.Stmt:
        return A.While(self._pos(meta), c[0], tuple(c[1]))  # type: ignore[arg-type]

    @v_args(meta=True)
    def for_stmt(self, meta: Meta, c: list[object]) -> A.Stmt:
        var, it, body = c
        assert isinstance(var, Token)
        return A.For(self._pos(meta), str(var.value), _tok_pos(self.file, var), it,  # type: ignore[arg-type]
                     tuple(body))  # type: ignore[arg-type]

    @v_args(meta=True)
    def with_stmt(self, meta: Meta, c: list[object]) -> A.Stmt:
        return A.With(self._pos(meta), c[0], tuple(c[1]))  # type: ignore[arg-type]

    @v_args(meta=True)
    def decorator(self, meta: Meta, c: list[str]) -> tuple[str, A.Pos]:
        return (c[0], self._pos(meta))

    def decorated(self, c: list[object]) -> A.Stmt:
        fn = c[-1]
        assert isinstance(fn, A.FunctionDef)
        decos = tuple(d for d in c[:-1] if isinstance(d, tuple))
        return A.FunctionDef(decos[0][1], fn.name, fn.params, fn.returns, fn.body, decos, fn.docstring)

    @v_args(meta=True)
    def param(self, meta: Meta, c: list[object]) -> A.Param:
        name, ann = c
        assert isinstance(name, Token)
        return A.Param(self._pos(meta), str(name.value), ann)  # type: ignore[arg-type]

    def params(self, c: list[object]) -> list[object]:
        return [p for p in c if p is not None]

    @v_args(meta=True)
    def funcdef(self, meta: Meta, c: list[object]) -> A.Stmt:
        name, params, returns, body = c
        assert isinstance(name, Token) and isinstance(body, list)
        doc, stmts = _split_docstring(body)
        return A.FunctionDef(self._pos(meta), str(name.value), tuple(params or ()),  # type: ignore[arg-type]
                             returns, tuple(stmts), (), doc)  # type: ignore[arg-type]

    @v_args(meta=True)
    def classdef(self, meta: Meta, c: list[object]) -> A.Stmt:
        name, args, body = c
        assert isinstance(name, Token) and isinstance(body, list)
        bases: list[A.Expr] = []
        kws: list[A.Keyword] = []
        for a in args or ():  # type: ignore[attr-defined]
            (kws if isinstance(a, A.Keyword) else bases).append(a)
        doc, stmts = _split_docstring(body)
        return A.ClassDef(self._pos(meta), str(name.value), tuple(bases), tuple(kws), tuple(stmts), doc)

    # -- expressions
    @v_args(meta=True)
    def ternary(self, meta: Meta, c: list[A.Expr]) -> A.Expr:
        return A.IfExp(self._pos(meta), c[0], c[1], c[2])

    @v_args(meta=True)
    def bool_or(self, meta: Meta, c: list[A.Expr]) -> A.Expr:
        return A.BoolOp(self._pos(meta), "or", c[0], c[1])

    @v_args(meta=True)
    def bool_and(self, meta: Meta, c: list[A.Expr]) -> A.Expr:
        return A.BoolOp(self._pos(meta), "and", c[0], c[1])

    @v_args(meta=True)
    def bool_not(self, meta: Meta, c: list[A.Expr]) -> A.Expr:
        return A.Not(self._pos(meta), c[0])

    @v_args(meta=True)
    def compare(self, meta: Meta, c: list[object]) -> A.Expr:
        if len(c) > 3:
            op2 = c[3]
            assert isinstance(op2, Token)
            raise DialectError(_tok_pos(self.file, op2), "chained comparisons are not dialect (use 'and')")
        left, op, right = c
        assert isinstance(op, Token)
        return A.Compare(self._pos(meta), str(op.value), left, right,  # type: ignore[arg-type]
                         _tok_pos(self.file, op))

    @v_args(meta=True)
    def _bin(self, meta: Meta, c: list[object]) -> A.Expr:
        left, op, right = c
        assert isinstance(op, Token)
        return A.BinOp(self._pos(meta), str(op.value), left, right,  # type: ignore[arg-type]
                       _tok_pos(self.file, op))

    bin_or = bin_xor = bin_and = bin_shift = bin_add = bin_mul = _bin

    @v_args(meta=True)
    def unary(self, meta: Meta, c: list[object]) -> A.Expr:
        op, operand = c
        assert isinstance(op, Token)
        return A.UnaryOp(self._pos(meta), str(op.value), operand)  # type: ignore[arg-type]

    @v_args(meta=True)
    def call(self, meta: Meta, c: list[object]) -> A.Expr:
        func, args = c
        pos_args: list[A.Expr] = []
        kws: list[A.Keyword] = []
        for a in args or ():  # type: ignore[attr-defined]
            if isinstance(a, A.Keyword):
                kws.append(a)
            elif kws:
                raise DialectError(a.pos, "positional argument after keyword argument")
            else:
                pos_args.append(a)
        return A.Call(self._pos(meta), func, tuple(pos_args), tuple(kws))  # type: ignore[arg-type]

    def arguments(self, c: list[object]) -> list[object]:
        return [a for a in c if a is not None]

    def subscripts(self, c: list[object]) -> list[object]:
        return [a for a in c if a is not None]

    @v_args(meta=True)
    def kwarg(self, meta: Meta, c: list[object]) -> A.Keyword:
        name, value = c
        assert isinstance(name, Token)
        return A.Keyword(self._pos(meta), str(name.value), value)  # type: ignore[arg-type]

    @v_args(meta=True)
    def subscript(self, meta: Meta, c: list[object]) -> A.Expr:
        value, idx = c
        return A.Subscript(self._pos(meta), value, tuple(idx))  # type: ignore[arg-type]

    @v_args(meta=True)
    def getattr(self, meta: Meta, c: list[object]) -> A.Expr:
        value, name = c
        assert isinstance(name, Token)
        return A.Attribute(self._pos(meta), value, str(name.value),  # type: ignore[arg-type]
                           _tok_pos(self.file, name))

    @v_args(meta=True)
    def var(self, meta: Meta, c: list[Token]) -> A.Expr:
        return A.Name(self._pos(meta), str(c[0].value))

    @v_args(meta=True)
    def _number(self, meta: Meta, c: list[Token]) -> A.Expr:
        text = str(c[0].value)
        digits = text.replace("_", "")
        # Every dialect integer is at most 64 bits wide; reject before int() (CPython refuses to convert
        # more than 4 300 decimal digits) so a huge literal is a positioned error, not a traceback.
        value = int(digits, 0) if len(digits) <= 80 else 1 << 64
        if value >= 1 << 64:
            raise DialectError(self._pos(meta), "integer literal does not fit 64 bits")
        return A.IntLit(self._pos(meta), value, text)

    dec_number = hex_number = bin_number = _number

    def string(self, c: list[Token]) -> str:
        try:
            val = pyast.literal_eval(str(c[0].value))
        except (SyntaxError, ValueError) as e:  # a bad escape, such as "\x4"
            raise DialectError(_tok_pos(self.file, c[0]), f"invalid string literal ({e.args[0]})") from None
        assert isinstance(val, str)
        if "\0" in val:
            # A C string ends at its first NUL: str_byte, kprint %s and panic messages would see less of it
            # than CPython does.
            raise DialectError(_tok_pos(self.file, c[0]), "a string literal cannot contain NUL (the C string "
                                                          "would end there)")
        return val

    @v_args(meta=True)
    def strings(self, meta: Meta, c: list[str]) -> A.Expr:
        return A.StrLit(self._pos(meta), "".join(c))

    @v_args(meta=True)
    def true(self, meta: Meta, c: list[object]) -> A.Expr:
        return A.BoolLit(self._pos(meta), True)

    @v_args(meta=True)
    def false(self, meta: Meta, c: list[object]) -> A.Expr:
        return A.BoolLit(self._pos(meta), False)

    @v_args(meta=True)
    def none(self, meta: Meta, c: list[object]) -> A.Expr:
        return A.NoneLit(self._pos(meta))

    @v_args(meta=True)
    def ellipsis(self, meta: Meta, c: list[object]) -> A.Expr:
        return A.Ellipsis_(self._pos(meta))

    @v_args(meta=True)
    def tuple_display(self, meta: Meta, c: list[object]) -> A.Expr:
        return A.TupleExpr(self._pos(meta), tuple(x for x in c if x is not None))  # type: ignore[misc]

    @v_args(meta=True)
    def list_display(self, meta: Meta, c: list[object]) -> A.Expr:
        return A.ListExpr(self._pos(meta), tuple(x for x in c if x is not None))  # type: ignore[misc]


def read_source(data: bytes, file: str) -> str:
    """A dialect file's text: UTF-8 (as CPython reads a source file), or a positioned error at the first
    byte that is not."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise DialectError(A.Pos(file, line, col), "source is not UTF-8 text") from None


def parse_file(path: Path, file: str, module_name: str) -> A.Module:
    return parse_module(read_source(path.read_bytes(), file), file, module_name)


__all__ = ["parse_module", "parse_file", "Tree"]
