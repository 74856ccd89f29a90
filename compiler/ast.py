"""AST of the pyhv dialect: plain frozen dataclasses, every node carries the Pos of its first token.

Nodes compare by identity (eq=False) so later stages can key side tables (types, resolutions) on them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union


@dataclass(frozen=True)
class Pos:
    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


# ----------------------------------------------------------------------------------------- expressions


@dataclass(frozen=True, eq=False)
class IntLit:
    pos: Pos
    value: int
    text: str


@dataclass(frozen=True, eq=False)
class BoolLit:
    pos: Pos
    value: bool


@dataclass(frozen=True, eq=False)
class NoneLit:
    pos: Pos


@dataclass(frozen=True, eq=False)
class StrLit:
    pos: Pos
    value: str


@dataclass(frozen=True, eq=False)
class Name:
    pos: Pos
    id: str


@dataclass(frozen=True, eq=False)
class Attribute:
    pos: Pos
    value: Expr
    attr: str
    attr_pos: Pos


@dataclass(frozen=True, eq=False)
class Keyword:
    pos: Pos
    name: str
    value: Expr


@dataclass(frozen=True, eq=False)
class Call:
    pos: Pos
    func: Expr
    args: tuple[Expr, ...]
    kwargs: tuple[Keyword, ...]


@dataclass(frozen=True, eq=False)
class Subscript:
    pos: Pos
    value: Expr
    indices: tuple[Expr, ...]


@dataclass(frozen=True, eq=False)
class BinOp:
    """Arithmetic/bitwise/shift operator; op is the Python spelling ('+', '//', '<<', ...)."""

    pos: Pos
    op: str
    left: Expr
    right: Expr
    op_pos: Pos


@dataclass(frozen=True, eq=False)
class UnaryOp:
    pos: Pos
    op: str  # '-', '+', '~'
    operand: Expr


@dataclass(frozen=True, eq=False)
class Compare:
    pos: Pos
    op: str
    left: Expr
    right: Expr
    op_pos: Pos


@dataclass(frozen=True, eq=False)
class BoolOp:
    pos: Pos
    op: str  # 'and' | 'or'
    left: Expr
    right: Expr


@dataclass(frozen=True, eq=False)
class Not:
    pos: Pos
    operand: Expr


@dataclass(frozen=True, eq=False)
class IfExp:
    pos: Pos
    body: Expr
    test: Expr
    orelse: Expr


@dataclass(frozen=True, eq=False)
class TupleExpr:
    """Only legal as the value of a module-level constant table: NAME: Final = (Row(...), ...)."""

    pos: Pos
    elts: tuple[Expr, ...]


@dataclass(frozen=True, eq=False)
class Ellipsis_:
    """`...`: only legal as the body of an @asm_function stub."""

    pos: Pos


@dataclass(frozen=True, eq=False)
class ListExpr:
    """Only legal as the parameter list of Callable[[...], R]."""

    pos: Pos
    elts: tuple[Expr, ...]


Expr = Union[IntLit, BoolLit, NoneLit, StrLit, Name, Attribute, Call, Subscript, BinOp, UnaryOp, Compare,
             BoolOp, Not, IfExp, ListExpr, TupleExpr, Ellipsis_]


# ------------------------------------------------------------------------------------------ statements


@dataclass(frozen=True, eq=False)
class ExprStmt:
    pos: Pos
    value: Expr


@dataclass(frozen=True, eq=False)
class Assign:
    pos: Pos
    target: Expr
    value: Expr


@dataclass(frozen=True, eq=False)
class AnnAssign:
    pos: Pos
    target: Expr
    annotation: Expr
    value: Expr | None


@dataclass(frozen=True, eq=False)
class AugAssign:
    pos: Pos
    target: Expr
    op: str  # binary operator without '='
    value: Expr
    op_pos: Pos


@dataclass(frozen=True, eq=False)
class If:
    pos: Pos
    test: Expr
    body: tuple[Stmt, ...]
    orelse: tuple[Stmt, ...]


@dataclass(frozen=True, eq=False)
class While:
    pos: Pos
    test: Expr
    body: tuple[Stmt, ...]


@dataclass(frozen=True, eq=False)
class For:
    pos: Pos
    var: str
    var_pos: Pos
    iter: Expr
    body: tuple[Stmt, ...]


@dataclass(frozen=True, eq=False)
class With:
    pos: Pos
    context: Expr
    body: tuple[Stmt, ...]


@dataclass(frozen=True, eq=False)
class Break:
    pos: Pos


@dataclass(frozen=True, eq=False)
class Continue:
    pos: Pos


@dataclass(frozen=True, eq=False)
class Pass:
    pos: Pos


@dataclass(frozen=True, eq=False)
class Return:
    pos: Pos
    value: Expr | None


@dataclass(frozen=True, eq=False)
class Assert:
    pos: Pos
    test: Expr
    msg: Expr | None


@dataclass(frozen=True, eq=False)
class Import:
    """import a.b [as c]"""

    pos: Pos
    module: str
    alias: str | None


@dataclass(frozen=True, eq=False)
class ImportFrom:
    """from a.b import x [as y], ..."""

    pos: Pos
    module: str
    names: tuple[tuple[str, str | None, Pos], ...]


@dataclass(frozen=True, eq=False)
class Param:
    pos: Pos
    name: str
    annotation: Expr


@dataclass(frozen=True, eq=False)
class FunctionDef:
    pos: Pos
    name: str
    params: tuple[Param, ...]
    returns: Expr
    body: tuple[Stmt, ...]
    decorators: tuple[tuple[str, Pos], ...]
    docstring: str | None


@dataclass(frozen=True, eq=False)
class ClassDef:
    pos: Pos
    name: str
    bases: tuple[Expr, ...]
    keywords: tuple[Keyword, ...]
    body: tuple[Stmt, ...]
    docstring: str | None


Stmt = Union[ExprStmt, Assign, AnnAssign, AugAssign, If, While, For, With, Break, Continue, Pass, Return,
             Assert, Import, ImportFrom, FunctionDef, ClassDef]


@dataclass(frozen=True, eq=False)
class Module:
    name: str  # dotted module name, e.g. pyhv.core.main
    file: str  # path as shown in diagnostics
    docstring: str | None
    body: tuple[Stmt, ...]
    comments: tuple[tuple[Pos, str], ...]  # every comment, for rules like "no # type: ignore"
