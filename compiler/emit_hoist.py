"""Stage 4a': evaluation order. Python evaluates operands, call arguments, subscripts and assignment parts left
to right (the value of `t[i] = v` before `t` and `i`; the target of `t[i] += v` once, before `v`), and `and`/`or`
/`x if c else y` only as far as needed; C leaves most of that unspecified. Before a statement is emitted, every
sub-expression whose place in that order matters is evaluated into a fresh block-scoped temporary, in Python
order, so the C expression left over is free of side effects except its last call (docs/compiler.md).

A sub-expression must go first into a temporary when a later sibling could observe or disturb it: one of the two
calls a function or an intrinsic (`impure`) and neither is `stable` (literals, locals, constants, addresses of
embedded fields, arithmetic that cannot panic). Temporaries are `pyhv_t<n>_<dialect name>`; dialect locals may
not start with `pyhv_` (sema.check_local_name), so they never collide."""
from __future__ import annotations

from collections.abc import Callable, Sequence

from compiler import ast as A
from compiler.emit_expr import ExprEmitter, c_decl
from compiler.sema import ModInfo, Program
from compiler.sema_types import (
    ArrayT, AtomicT, FuncT, MethodT, OpsT, PreludeT, SpinLockT, StorageT, StructT, TypeRef,
)

# Prelude functions without side effects (struct_at, sdiv and srem may panic: pure, but not stable).
_PURE_PRELUDE = {"bool", "len", "array_len", "sizeof", "addr_of", "struct_at", "sdiv", "srem"}
_STABLE_PRELUDE = {"bool", "len", "array_len", "sizeof", "addr_of"}
_PLACES = (StructT, ArrayT, AtomicT, SpinLockT)  # embedded: naming them computes an address, reads nothing


class StmtPrep(ExprEmitter):
    def __init__(self, prog: Program, mod: ModInfo) -> None:
        super().__init__(prog, mod)
        self.lines: list[str] = []
        self.indent = 1
        self.ntemps = 0

    def out(self, s: str) -> None:
        self.lines.append("    " * self.indent + s)

    def strip(self, s: str) -> str:
        if s.startswith("(") and s.endswith(")"):
            depth = 0
            for i, ch in enumerate(s):
                depth += ch == "("
                depth -= ch == ")"
                if depth == 0 and i != len(s) - 1:
                    return s
            return s[1:-1]
        return s

    # ------------------------------------------------------------------ classification
    def children(self, e: A.Expr) -> list[A.Expr]:
        """The sub-expressions C evaluates for e, in Python's order."""
        if isinstance(e, (A.BinOp, A.Compare, A.BoolOp)):
            return [e.left, e.right]
        if isinstance(e, (A.UnaryOp, A.Not)):
            return [e.operand]
        if isinstance(e, A.IfExp):
            return [e.test, e.body, e.orelse]
        if isinstance(e, A.Attribute):
            return [] if self.is_module_ref(e.value) else [e.value]
        if isinstance(e, A.Subscript):
            return [e.value, e.indices[0]]
        if isinstance(e, A.Call):
            ft = self.prog.types.get(e.func)
            if isinstance(ft, FuncT):
                recv = [e.func.value] if isinstance(e.func, A.Attribute) \
                    and isinstance(self.prog.types.get(e.func.value), OpsT) else []
                return recv + list(e.args)
            if isinstance(ft, MethodT):
                if isinstance(ft.recv, AtomicT) and isinstance(e.func, A.Attribute):
                    return [e.func.value] + list(e.args[:-1])
                return list(e.args)
            if isinstance(ft, PreludeT) and ft.name in ("len", "array_len", "sizeof"):
                return []
            return list(e.args)
        return []

    def pure_call(self, e: A.Call) -> bool:
        ft = self.prog.types.get(e.func)
        if isinstance(ft, TypeRef):
            return True
        if isinstance(ft, PreludeT):
            return ft.name in _PURE_PRELUDE
        return isinstance(ft, MethodT) and isinstance(ft.recv, StorageT) and ft.name == "get"

    def impure(self, e: A.Expr) -> bool:
        """e calls a function or an intrinsic (anything may change, or be observed, while it runs)."""
        if e in self.subst:
            return False
        if isinstance(e, A.Call) and not self.pure_call(e):
            return True
        return any(self.impure(c) for c in self.children(e))

    def stable(self, e: A.Expr) -> bool:
        """e reads no memory, calls nothing and cannot panic: C may evaluate it at any point."""
        if e in self.subst or e in self.prog.folded:
            return True
        if isinstance(e, (A.IntLit, A.BoolLit, A.StrLit, A.NoneLit, A.Name)):
            return True
        t = self.prog.types.get(e)
        if isinstance(e, A.Attribute):
            return self.is_module_ref(e.value) or (isinstance(t, _PLACES) and self.stable(e.value))
        if isinstance(e, A.Subscript):
            return e.indices[0] in self.prog.folded and isinstance(t, _PLACES) and self.stable(e.value)
        if isinstance(e, A.BinOp) and e.op in ("//", "%") \
                and not (e.right in self.prog.folded and self.prog.folded[e.right] != 0):
            return False
        if isinstance(e, A.Call):
            ft = self.prog.types.get(e.func)
            ok = isinstance(ft, TypeRef) or (isinstance(ft, PreludeT) and ft.name in _STABLE_PRELUDE) \
                or (isinstance(ft, MethodT) and isinstance(ft.recv, StorageT) and ft.name == "get"
                    and ft.recv.kind in ("Static", "PerCpu"))
            return ok and all(self.stable(c) for c in self.children(e))
        return all(self.stable(c) for c in self.children(e))

    # ------------------------------------------------------------------ hoisting
    def temp(self, e: A.Expr) -> str:
        self.ntemps += 1
        hint = "v"
        if isinstance(e, A.Call):
            f = e.func
            hint = f.id if isinstance(f, A.Name) else f.attr if isinstance(f, A.Attribute) else "call"
        elif isinstance(e, A.Attribute):
            hint = e.attr
        elif isinstance(e, A.Subscript):
            hint = "elem"
        elif isinstance(e, A.Name):
            hint = e.id
        elif isinstance(e, (A.BoolOp, A.Compare, A.Not)):
            hint = "cond"
        return f"pyhv_t{self.ntemps}_{hint.strip('_') or 'v'}"

    def capture(self, fn: Callable[[], None]) -> list[str]:
        """Lines `fn` emits, one level deeper, taken out of the output (to be placed inside a block)."""
        saved = self.lines
        self.lines = []
        self.indent += 1
        try:
            fn()
            return self.lines
        finally:
            self.lines = saved
            self.indent -= 1

    def needs_prep(self, e: A.Expr) -> bool:
        """Would prep(e) emit anything? (dry run, undone)"""
        subst, n = dict(self.subst), self.ntemps
        lines = self.capture(lambda: self.prep(e))
        self.subst, self.ntemps = subst, n
        return bool(lines)

    def prep(self, e: A.Expr) -> None:
        """Emit the temporaries e needs so that self.ex(e) evaluates in Python's order."""
        if self.stable(e):
            return
        if isinstance(e, A.BoolOp):
            self.prep(e.left)
            right = self.capture(lambda: self.prep(e.right))
            if right:  # the right operand's temporaries run only when Python would evaluate it
                t = self.temp(e)
                self.out(f"bool {t} = {self.strip(self.ex(e.left))};")
                self.out(f"if ({'' if e.op == 'and' else '!'}{t}) {{")
                self.lines += right
                self.out(f"    {t} = {self.strip(self.ex(e.right))};")
                self.out("}")
                self.subst[e] = t
            return
        if isinstance(e, A.IfExp):
            self.prep(e.test)
            body = self.capture(lambda: self.prep(e.body))
            orelse = self.capture(lambda: self.prep(e.orelse))
            if body or orelse:
                t = self.temp(e)
                self.out(f"{c_decl(self.t(e), t)} = 0;")
                self.out(f"if ({self.strip(self.ex(e.test))}) {{")
                self.lines += body
                self.out(f"    {t} = {self.strip(self.ex(e.body))};")
                self.out("} else {")
                self.lines += orelse
                self.out(f"    {t} = {self.strip(self.ex(e.orelse))};")
                self.out("}")
                self.subst[e] = t
            return
        self.order(self.children(e))

    def order(self, cs: Sequence[A.Expr], force: bool = False) -> None:
        """Sub-expressions evaluated left to right: each one that a later one could disturb or observe (or,
        with force, each one that is not stable) is evaluated first into a temporary."""
        for i, c in enumerate(cs):
            if not self.stable(c) and (force or any(not self.stable(d) and (self.impure(c) or self.impure(d))
                                                    for d in cs[i + 1:])):
                self.hoist(c)
            else:
                self.prep(c)

    def hoist(self, e: A.Expr) -> None:
        """Evaluate e now into a temporary (embedded arrays, atomics, locks: the parts of their address)."""
        t = self.prog.types.get(e)
        if isinstance(t, (ArrayT, AtomicT, SpinLockT)):
            self.order(self.children(e), force=True)
            return
        self.prep(e)
        if e in self.subst:
            return
        name = self.temp(e)
        self.out(f"{c_decl(self.t(e), name)} = {self.strip(self.ex(e))};")
        self.subst[e] = name

    def target_parts(self, target: A.Expr) -> list[A.Expr]:
        """What an assignment evaluates of its target before storing (Python: after the value)."""
        if isinstance(target, (A.Attribute, A.Subscript)):
            return self.children(target)
        return []


def assigned_names(stmts: Sequence[A.Stmt]) -> set[str]:
    """Local names a block (re)binds, nested blocks included."""
    out: set[str] = set()
    for st in stmts:
        if isinstance(st, (A.Assign, A.AnnAssign, A.AugAssign)) and isinstance(st.target, A.Name):
            out.add(st.target.id)
        elif isinstance(st, A.For):
            out.add(st.var)
            out |= assigned_names(st.body)
        elif isinstance(st, A.If):
            out |= assigned_names(st.body) | assigned_names(st.orelse)
        elif isinstance(st, (A.While, A.With)):
            out |= assigned_names(st.body)
    return out


def names_in(e: A.Expr) -> set[str]:
    if isinstance(e, A.Name):
        return {e.id}
    if isinstance(e, A.Attribute):
        return names_in(e.value)
    if isinstance(e, A.Subscript):
        return names_in(e.value) | names_in(e.indices[0])
    if isinstance(e, A.Call):
        return {n for a in e.args for n in names_in(a)} | (names_in(e.func) if isinstance(e.func, A.Attribute)
                                                            else set())
    return set()


__all__ = ["StmtPrep", "assigned_names", "names_in"]
