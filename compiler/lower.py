"""Stage 3: desugaring of statements whose C form differs from their Python form.

* `for i in range(a, b)` -> LFor: bound evaluated once into `i__end`, then a C for loop;
* `with s.lock:` -> LLocked: pyhv_spin_lock(&lock, file, line); body; pyhv_spin_unlock(...) (emit_c adds the
  unlocks before every return/break/continue that leaves the block);
* `assert c, "m"` / `panic("m")` -> LPanic: panic_at("file.py", line, "m") (pyhv/core/panic.py);
* `kprint(fmt, args)` -> LPrintk: printk_begin(); printk_str("lit"); printk_udec(x); ...; printk_end();
  using pyhv.lang.printfmt.parse_format, the parser the CPython kprint uses too.
Everything else passes through unchanged; emit_c handles both kinds of node."""
from __future__ import annotations

from dataclasses import dataclass

from compiler import ast as A
from compiler.sema import Program
from compiler.sema_types import IntT
from pyhv.lang.printfmt import parse_format


@dataclass(frozen=True, eq=False)
class LFor:
    pos: A.Pos
    var: str
    var_type: IntT
    start: A.Expr | None  # None: 0
    end: A.Expr
    body: tuple[A.Stmt, ...]


@dataclass(frozen=True, eq=False)
class LLocked:
    pos: A.Pos
    lock: A.Expr
    body: tuple[A.Stmt, ...]


@dataclass(frozen=True, eq=False)
class LPanic:
    pos: A.Pos
    cond: A.Expr | None  # panic when this is false; None: unconditional
    msg: str


@dataclass(frozen=True, eq=False)
class PrintkPart:
    func: str  # printk_str / printk_udec / printk_sdec / printk_hex / printk_char
    text: str | None  # literal text for printk_str
    arg: A.Expr | None
    width: int = 0


@dataclass(frozen=True, eq=False)
class LPrintk:
    pos: A.Pos
    parts: tuple[PrintkPart, ...]


LStmt = LFor | LLocked | LPanic | LPrintk


def _is_call_to(e: A.Expr, prog: Program, name: str) -> bool:
    return (isinstance(e, A.Call) and isinstance(e.func, A.Name) and e.func.id == name
            and str(prog.types.get(e.func)) == name)


def lower_stmt(st: A.Stmt, prog: Program, source_line: str) -> A.Stmt | LStmt:
    if isinstance(st, A.For):
        it = st.iter
        assert isinstance(it, A.Call)
        t = prog.types[it]
        assert isinstance(t, IntT)
        start, end = (None, it.args[0]) if len(it.args) == 1 else (it.args[0], it.args[1])
        return LFor(st.pos, st.var, t, start, end, st.body)
    if isinstance(st, A.With):
        return LLocked(st.pos, st.context, st.body)
    if isinstance(st, A.Assert):
        msg = st.msg.value if isinstance(st.msg, A.StrLit) else f"assertion failed: {source_line.strip()}"
        return LPanic(st.pos, st.test, msg)
    if isinstance(st, A.ExprStmt) and isinstance(st.value, A.Call):
        call = st.value
        if _is_call_to(call, prog, "panic"):
            arg = call.args[0]
            assert isinstance(arg, A.StrLit)
            return LPanic(st.pos, None, arg.value)
        if _is_call_to(call, prog, "kprint"):
            return LPrintk(st.pos, tuple(lower_kprint(call)))
    return st


def lower_kprint(call: A.Call) -> list[PrintkPart]:
    fmt = call.args[0]
    assert isinstance(fmt, A.StrLit)
    args = iter(call.args[1:])
    parts: list[PrintkPart] = []
    for p in parse_format(fmt.value):
        if p.kind == "text":
            parts.append(PrintkPart("printk_str", p.text, None))
        elif p.kind == "u":
            parts.append(PrintkPart("printk_udec", None, next(args)))
        elif p.kind == "d":
            parts.append(PrintkPart("printk_sdec", None, next(args)))
        elif p.kind == "x":
            parts.append(PrintkPart("printk_hex", None, next(args), p.width))
        elif p.kind == "s":
            parts.append(PrintkPart("printk_str", None, next(args)))
        elif p.kind == "c":
            parts.append(PrintkPart("printk_char", None, next(args)))
    return parts
