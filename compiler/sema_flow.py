"""Stage 2c: flow rules over a checked function body (docs/dialect.md §2, "Every path"):

* every local is assigned on every path before it is read — CPython raises UnboundLocalError where the C
  would read a zeroed, stale or garbage slot (or a NULL struct reference);
* a function that returns a value returns (or panics) on every path — CPython returns None where the C
  returns garbage.

A forward pass over the structured body: the set of locals definitely assigned at each point, the union of
paths meeting at the end of an if/else and at a loop's exits (the state before the loop, and at each
`break`). A `for` loop's body may not run (its variable is not assigned after the loop unless it was before);
`while True` ends only through `break`; a call of a no-return function (panic) ends its path."""
from __future__ import annotations

from collections.abc import Sequence

from compiler import ast as A
from compiler.diagnostics import DialectError
from compiler.sema import FuncInfo, Program
from compiler.sema_types import NORETURN, VoidT

State = frozenset[str]


class FlowChecker:
    def __init__(self, prog: Program, fn: FuncInfo) -> None:
        self.prog = prog
        self.fn = fn
        self.breaks: list[list[State]] = []  # one list per enclosing loop: states at its `break`s

    # ------------------------------------------------------------------ entry
    def check(self) -> None:
        start = frozenset(name for name, _t in self.fn.params)
        end = self.block(self.fn.node.body, start)
        ret = self.fn.ftype.ret
        if end is not None and ret == NORETURN:
            last = self.fn.node.body[-1].pos if self.fn.node.body else self.fn.node.pos
            raise DialectError(last, f"{self.fn.name}() is declared NoReturn but can reach the end of its body")
        if end is not None and not isinstance(ret, VoidT):
            last = self.fn.node.body[-1].pos if self.fn.node.body else self.fn.node.pos
            raise DialectError(last, f"{self.fn.name}() can reach the end of its body without returning "
                                     f"{self.fn.ftype.ret}: return (or panic) on every path")

    # ------------------------------------------------------------------ reads
    def reads(self, e: A.Expr | None, state: State) -> None:
        """Every local read inside e must be definitely assigned (no dialect expression assigns)."""
        todo: list[A.Expr] = [e] if e is not None else []
        while todo:
            x = todo.pop()
            if isinstance(x, A.Name):
                if x.id in self.fn.locals and x.id not in state:
                    raise DialectError(x.pos, f"'{x.id}' may be read before it is assigned (on some path to "
                                              "here it is not: CPython raises UnboundLocalError, the C reads "
                                              "a stale slot)")
            elif isinstance(x, (A.BinOp, A.Compare, A.BoolOp)):
                todo += [x.left, x.right]
            elif isinstance(x, (A.UnaryOp, A.Not)):
                todo.append(x.operand)
            elif isinstance(x, A.IfExp):
                todo += [x.test, x.body, x.orelse]
            elif isinstance(x, A.Attribute):
                todo.append(x.value)
            elif isinstance(x, A.Subscript):
                todo += [x.value, *x.indices]
            elif isinstance(x, A.Call):
                todo += [x.func, *x.args, *(k.value for k in x.kwargs)]
            elif isinstance(x, (A.TupleExpr, A.ListExpr)):
                todo += list(x.elts)

    def target(self, t: A.Expr, state: State) -> State:
        """An assignment target: a name becomes assigned; p.x / a[i] read their parts."""
        if isinstance(t, A.Name):
            return state | {t.id}
        self.reads(t, state)
        return state

    # ------------------------------------------------------------------ statements
    def block(self, body: Sequence[A.Stmt], state: State | None) -> State | None:
        """The state after body (None: no path reaches its end)."""
        for st in body:
            if state is None:
                return None  # unreachable code after return/break/continue: nothing to check
            state = self.stmt(st, state)
        return state

    def stmt(self, st: A.Stmt, state: State) -> State | None:
        if isinstance(st, A.ExprStmt):
            self.reads(st.value, state)
            return None if self.prog.types.get(st.value) == NORETURN else state
        if isinstance(st, (A.Assign, A.AnnAssign)):
            if st.value is None:
                return state  # `x: T` declares without assigning
            self.reads(st.value, state)
            return self.target(st.target, state)
        if isinstance(st, A.AugAssign):
            self.reads(st.target, state)
            self.reads(st.value, state)
            return state
        if isinstance(st, A.Return):
            self.reads(st.value, state)
            return None
        if isinstance(st, A.Assert):
            self.reads(st.test, state)
            self.reads(st.msg, state)
            return None if isinstance(st.test, A.BoolLit) and not st.test.value else state
        if isinstance(st, A.If):
            self.reads(st.test, state)
            a = self.block(st.body, state)
            b = self.block(st.orelse, state)
            if a is None or b is None:
                return b if a is None else a
            return a & b
        if isinstance(st, A.While):
            self.reads(st.test, state)
            forever = isinstance(st.test, A.BoolLit) and st.test.value
            return self.loop(st.body, state, None if forever else state)
        if isinstance(st, A.For):
            self.reads(st.iter, state)
            return self.loop(st.body, state | {st.var}, state)
        if isinstance(st, A.With):
            self.reads(st.context, state)
            return self.block(st.body, state)
        if isinstance(st, A.Break):
            self.breaks[-1].append(state)
            return None
        if isinstance(st, (A.Continue, A.Pass)):
            return None if isinstance(st, A.Continue) else state
        return state

    def loop(self, body: Sequence[A.Stmt], entry: State, normal_exit: State | None) -> State | None:
        """A loop body entered with `entry`; the loop ends normally with `normal_exit` (None: only by
        break). A later iteration starts with at least `entry`, so one pass over the body suffices."""
        self.breaks.append([])
        self.block(body, entry)
        exits = self.breaks.pop()
        if normal_exit is not None:
            exits.append(normal_exit)
        if not exits:
            return None
        out = exits[0]
        for s in exits[1:]:
            out = out & s
        return out
