"""Stage 2b: the type checker for constants and function bodies, and the dialect rules mypy cannot see
(literal fits its type, unsigned-only // and %, bool conditions, no stack references escaping, reserved
local names, ...). Types land in Program.types, name resolutions in Program.refs."""
from __future__ import annotations

import re

from compiler import ast as A
from compiler.deep import run_deep
from compiler.diagnostics import DialectError
from compiler.sema_calls import CallChecker
from compiler.sema_flow import FlowChecker
from compiler.sema import ConstInfo, Declarer, check_local_name, FuncInfo, ModInfo, Program, declare
from compiler.sema_types import (
    BOOL, INT_TYPES, NORETURN, STR, U8, U32, U64, VOID, ArrayT, AtomicT, BoolT, FuncT, IntT, LitIntT,
    MethodT, ModuleT, OpsT, PreludeT, SpinLockT, StorageT, StrT, StructT, Type, TypeRef, VoidT, same,
)


class Checker(CallChecker):
    def __init__(self, prog: Program, decl: Declarer) -> None:
        self.prog = prog
        self.decl = decl
        self.mod: ModInfo = prog.modules[0]
        self.fn: FuncInfo | None = None
        self.loops = 0
        self.stack_refs: set[str] = set()
        self.len_ok: set[A.Expr] = set()
        self.plain_ints: set[A.Expr] = set()
        self.stack_addrs: set[str] = set()  # locals holding an address inside this frame's stack storage
        # One C storage slot per `name = T()` local: where each is (re)bound, and which locals were assigned
        # a reference derived from which others (for the storage-reuse rule, check_storage_reuse).
        self.alloc_sites: dict[str, list[tuple[A.Pos, bool]]] = {}
        self.ref_from: dict[str, set[str]] = {}

    # ------------------------------------------------------------------ module level
    def check_module(self, mod: ModInfo) -> None:
        self.mod = mod
        for c in mod.consts:
            self.check_const(c)
        for f in mod.funcs:
            if not f.asm:
                self.check_func(f)

    def ensure_const(self, c: ConstInfo) -> None:
        saved = (self.mod, self.fn)
        self.mod = c.module
        self.check_const(c)
        self.mod, self.fn = saved

    def check_const(self, c: ConstInfo) -> None:
        if not isinstance(c.type, VoidT):
            return
        self.fn = None
        ann = c.node.annotation
        want: Type | None = None
        if isinstance(ann, A.Subscript):
            if len(ann.indices) != 1:
                raise self.err(ann.pos, "write Final[T]")
            want = self.decl.resolve_type(self.mod, ann.indices[0])
        v = c.value
        assert v is not None
        if isinstance(v, A.Call) and isinstance(v.func, (A.Name, A.Attribute)) and v.kwargs:
            c.type = self.check_ops_table(v)
            return
        if isinstance(v, A.TupleExpr):
            elems: list[Type] = []
            for el in v.elts:
                if not (isinstance(el, A.Call) and el.kwargs):
                    raise self.err(el.pos, "a constant table holds Ops records: (Row(a=...), Row(a=...), ...)")
                elems.append(self.check_ops_table(el))
            if any(t is not elems[0] for t in elems):
                bad = next(el for el, t in zip(v.elts, elems) if t is not elems[0])
                raise self.err(bad.pos, f"every row of a constant table must be a {elems[0]}")
            c.type = self.record(v, ArrayT(elems[0], len(elems)))
            return
        t = self.expr(v)
        if want is not None:
            t = self.adapt_value(v, t, want, " as a typed constant")
        if isinstance(t, (IntT, LitIntT, BoolT, StrT)):
            c.type = t
            if isinstance(t, LitIntT):
                self.prog.folded[v] = t.value
            return
        raise self.err(v.pos, f"a Final constant must be an integer, bool, string or ops table, not {t}")

    def check_ops_table(self, v: A.Call) -> Type:
        t = self.expr(v.func)
        if not (isinstance(t, TypeRef) and isinstance(t.t, OpsT)):
            raise self.err(v.pos, "keyword arguments are only used to build an Ops table")
        ops = t.t
        if v.args:
            raise self.err(v.args[0].pos, "an Ops table is built with keyword arguments only")
        given = {k.name: k for k in v.kwargs}
        for fname, ftype in ops.fields:
            if fname not in given:
                raise self.err(v.pos, f"ops table {ops.name} is missing '{fname}'")
            k = given.pop(fname)
            kt = self.expr(k.value, ftype)
            if isinstance(ftype, FuncT):
                if not isinstance(kt, FuncT) or kt != ftype:
                    raise self.err(k.value.pos, f"'{fname}' needs a function {ftype}, got {kt}")
            else:
                self.adapt_value(k.value, kt, ftype, f" for field '{fname}'")
        for extra in given.values():
            raise self.err(extra.pos, f"ops table {ops.name} has no field '{extra.name}'")
        return self.record(v, ops)

    # ------------------------------------------------------------------ functions
    def check_func(self, f: FuncInfo) -> None:
        self.fn = f
        self.loops = 0
        self.stack_refs = set()
        self.stack_addrs = set()
        self.alloc_sites = {}
        self.ref_from = {}
        for name, t in f.params:
            f.locals[name] = t
        self.block(f.node.body)
        self.check_storage_reuse()
        FlowChecker(self.prog, f).check()
        self.fn = None

    def check_storage_reuse(self) -> None:
        """`p = T()` reuses p's one stack slot (re-zeroed) each time it runs, where Python makes a new object:
        a second `p = T()`, or one inside a loop, while another local may still refer to the old object (q = p,
        q = p.inner, q = p.items[i], transitively) would change what q sees. Rejected at that `T()`."""
        def reaches(q: str, target: str) -> bool:
            seen, todo = {q}, [q]
            while todo:
                for r in self.ref_from.get(todo.pop(), set()):
                    if r == target:
                        return True
                    if r not in seen:
                        seen.add(r)
                        todo.append(r)
            return False

        for name, sites in self.alloc_sites.items():
            again = sites[1:] + [s for s in sites[:1] if s[1]]
            if not again:
                continue
            aliases = sorted(q for q in self.ref_from if q != name and reaches(q, name))
            if aliases:
                pos, in_loop = again[0]
                how = "inside a loop" if in_loop else "again"
                raise self.err(pos, f"'{name}' is bound to new storage {how} while '{aliases[0]}' may still "
                                    f"refer to the old one (C reuses {name}'s single slot): use another name")

    def block(self, body: tuple[A.Stmt, ...]) -> None:
        for st in body:
            self.stmt(st)

    def declare_local(self, name: str, t: Type, pos: A.Pos) -> None:
        assert self.fn is not None
        if name in self.fn.locals:
            old = self.fn.locals[name]
            if not same(old, t):
                raise self.err(pos, f"'{name}' has type {old}; cannot assign {t}")
            return
        if isinstance(t, (LitIntT, VoidT, FuncT, TypeRef, ModuleT, PreludeT, MethodT, StorageT, AtomicT,
                          SpinLockT)):
            raise self.err(pos, f"a local variable cannot hold {t}")
        check_local_name(name, pos)
        if self.mod.symbols.get(name) is not None:
            raise self.err(pos, f"'{name}' is a module-level name; module state is not assignable "
                                "(use Static/PerCpu storage)")
        self.fn.locals[name] = t
        self.fn.local_order.append(name)

    def is_stack_ref(self, e: A.Expr) -> bool:
        if isinstance(e, A.Name):
            return e.id in self.stack_refs
        if isinstance(e, (A.Attribute, A.Subscript)):
            return self.is_stack_ref(e.value)
        if isinstance(e, A.Call) and isinstance(self.prog.types.get(e.func), TypeRef):
            return True
        return False

    def root_names(self, e: A.Expr) -> set[str]:
        """The locals a reference expression may be derived from (q = p, p.inner, p.items[i], a if c else b)."""
        if isinstance(e, A.Name):
            return {e.id} if self.fn is not None and e.id in self.fn.locals else set()
        if isinstance(e, (A.Attribute, A.Subscript)):
            return self.root_names(e.value)
        if isinstance(e, A.IfExp):
            return self.root_names(e.body) | self.root_names(e.orelse)
        return set()

    def stack_addr(self, e: A.Expr) -> bool:
        """e may hold an address inside this function's stack storage: addr_of(p) of a T()/Array() local
        (or of a part of one), a local holding one, or arithmetic on either. Under CPython the storage
        outlives the frame; in C the address dangles once the function returns."""
        todo = [e]
        while todo:
            x = todo.pop()
            if isinstance(x, A.Name) and x.id in self.stack_addrs:
                return True
            if isinstance(x, A.Call):
                if isinstance(x.func, A.Name) and x.func.id == "addr_of" and x.args \
                        and self.is_stack_ref(x.args[0]):
                    return True
                if isinstance(self.prog.types.get(x.func), TypeRef):  # a conversion u64(...)
                    todo += list(x.args)
            elif isinstance(x, (A.BinOp, A.BoolOp)):
                todo += [x.left, x.right]
            elif isinstance(x, A.UnaryOp):
                todo.append(x.operand)
            elif isinstance(x, A.IfExp):
                todo += [x.body, x.orelse]
        return False

    def no_escape(self, e: A.Expr, how: str) -> None:
        if self.stack_addr(e):
            raise self.err(e.pos, f"the address of this function's stack storage cannot be {how}: it dangles "
                                  "in C once the function returns (CPython keeps the storage alive)")

    def alloc_call(self, v: A.Expr) -> Type | None:
        """T() or Array(T, N) on the right of `name = ...`: stack storage."""
        if not isinstance(v, A.Call):
            return None
        ft = self.expr(v.func)
        if isinstance(ft, TypeRef) and isinstance(ft.t, StructT):
            if v.args or v.kwargs:
                raise self.err(v.pos, f"{ft.t.name}() takes no arguments (storage starts zeroed)")
            self.record(v, ft.t)
            return ft.t
        if ft == PreludeT("Array"):
            if len(v.args) != 2 or v.kwargs:
                raise self.err(v.pos, "write Array(T, N)")
            elem = self.decl.resolve_type(self.mod, v.args[0])
            n = self.decl._const_int(self.mod, v.args[1])
            if n <= 0:
                raise self.err(v.args[1].pos, "array length must be positive")
            return self.record(v, ArrayT(elem, n))
        return None

    def stmt(self, st: A.Stmt) -> None:
        f = self.fn
        assert f is not None
        if isinstance(st, A.ExprStmt):
            v = st.value
            if isinstance(v, A.StrLit):
                return
            if not isinstance(v, A.Call):
                raise self.err(v.pos, "an expression statement must be a call")
            self.expr(v)
        elif isinstance(st, A.Assign):
            self.assign(st.target, st.value, None, st.pos)
        elif isinstance(st, A.AnnAssign):
            if not isinstance(st.target, A.Name):
                raise self.err(st.target.pos, "only a plain name can be annotated")
            t = self.decl.resolve_type(self.mod, st.annotation)
            if st.value is None:
                self.declare_local(st.target.id, t, st.target.pos)
            else:
                self.assign(st.target, st.value, t, st.pos)
        elif isinstance(st, A.AugAssign):
            lt = self.lvalue(st.target)
            self.binop_types(st.op, st.target, lt, st.value, st.op_pos, None)
        elif isinstance(st, A.If):
            self.cond(st.test)
            self.block(st.body)
            self.block(st.orelse)
        elif isinstance(st, A.While):
            self.cond(st.test)
            self.loop(st.body)
        elif isinstance(st, A.For):
            self.for_(st)
        elif isinstance(st, A.With):
            ct = self.expr(st.context)
            if not isinstance(ct, SpinLockT):
                raise self.err(st.context.pos, f"'with' takes a SpinLock field, not {ct}")
            self.block(st.body)
        elif isinstance(st, (A.Break, A.Continue)):
            word = "break" if isinstance(st, A.Break) else "continue"
            if self.loops == 0:
                raise self.err(st.pos, f"'{word}' outside a loop")
        elif isinstance(st, A.Return):
            self.return_(st)
        elif isinstance(st, A.Pass):
            pass
        elif isinstance(st, A.Assert):
            self.cond(st.test)
            if st.msg is not None and not isinstance(st.msg, A.StrLit):
                raise self.err(st.msg.pos, "an assert message must be a string literal")
        elif isinstance(st, A.FunctionDef):
            raise self.err(st.pos, "nested functions are not dialect")
        elif isinstance(st, A.ClassDef):
            raise self.err(st.pos, "classes must be defined at module level")
        elif isinstance(st, (A.Import, A.ImportFrom)):
            raise self.err(st.pos, "imports must be at module level")
        else:
            raise self.err(st.pos, "statement is not dialect")

    def loop(self, body: tuple[A.Stmt, ...]) -> None:
        self.loops += 1
        self.block(body)
        self.loops -= 1

    def for_(self, st: A.For) -> None:
        it = st.iter
        if not (isinstance(it, A.Call) and isinstance(it.func, A.Name) and it.func.id == "range"
                and 1 <= len(it.args) <= 2 and not it.kwargs):
            raise self.err(it.pos, "for loops iterate only over range(n) or range(a, b)")
        if self.prog.lookup(self.mod, "range") != PreludeT("range"):
            raise self.err(it.func.pos, "import range from pyhv.lang: Python's builtin range yields plain ints, "
                                        "so the loop variable would not wrap like the C")
        for a in it.args:
            self.allow_len(a)
        ts = [self.expr(a) for a in it.args]
        known = [t for t in ts if not isinstance(t, LitIntT)]
        if not known:
            raise self.err(it.args[0].pos, "range bounds need a type: write range(u32(n))")
        t = known[0]
        if not isinstance(t, IntT):
            raise self.err(it.args[ts.index(t)].pos, f"range bounds must be fixed-width integers, not {t}")
        for a, at in zip(it.args, ts):
            self.adapt(a, at, t, " (range bounds must have the same type)")
        self.record(it, t)
        self.declare_local(st.var, t, st.var_pos)
        self.loop(st.body)

    def return_(self, st: A.Return) -> None:
        f = self.fn
        assert f is not None
        ret = f.ftype.ret
        if st.value is None or isinstance(st.value, A.NoneLit):
            if ret != VOID:
                raise self.err(st.pos, f"function returns {ret}; 'return' needs a value")
            return
        if isinstance(ret, VoidT):
            raise self.err(st.value.pos, f"function returns {ret}; 'return' takes no value")
        t = self.expr(st.value, ret)
        self.adapt_value(st.value, t, ret, " as a return value")
        self.no_escape(st.value, "returned")
        if isinstance(ret, StructT) and self.is_stack_ref(st.value):
            raise self.err(st.value.pos, "cannot return a reference to stack storage (T() of this function)")

    def cond(self, e: A.Expr) -> None:
        t = self.expr(e)
        if not isinstance(t, BoolT):
            hint = " (write x != 0)" if isinstance(t, (IntT, LitIntT)) else ""
            raise self.err(e.pos, f"condition must be bool, not {t}{hint}")

    def assign(self, target: A.Expr, value: A.Expr, ann: Type | None, pos: A.Pos) -> None:
        f = self.fn
        assert f is not None
        if isinstance(target, A.Name):
            alloc = self.alloc_call(value)
            if alloc is not None:
                if ann is not None and not same(ann, alloc):
                    raise self.err(value.pos, f"expected {ann}, got {alloc}")
                self.declare_local(target.id, alloc, target.pos)
                self.alloc_sites.setdefault(target.id, []).append((value.pos, self.loops > 0))
                f.storage_locals.add(target.id)
                self.stack_refs.add(target.id)
                self.record(target, alloc)
                return
            want = ann if ann is not None else f.locals.get(target.id)
            vt = self.expr(value, want)
            if want is not None:
                vt = self.adapt_value(value, vt, want, f" in local '{target.id}'")
            vt = self.need_typed(value, vt)
            if isinstance(vt, ArrayT):
                raise self.err(value.pos, "arrays are not assignable (copy elements, or struct_copy a struct)")
            self.declare_local(target.id, vt, target.pos)
            self.record(target, vt)
            if self.stack_addr(value):
                self.stack_addrs.add(target.id)
            if isinstance(vt, StructT) and self.is_stack_ref(value):
                self.stack_refs.add(target.id)
            if isinstance(vt, StructT):
                self.ref_from.setdefault(target.id, set()).update(self.root_names(value) - {target.id})
            return
        if ann is not None:
            raise self.err(target.pos, "only a plain name can be annotated")
        lt = self.lvalue(target)
        vt = self.expr(value, lt)
        self.adapt_value(value, vt, lt, " as a stored value")
        self.no_escape(value, "stored in a field or element")

    def lvalue(self, e: A.Expr) -> Type:
        if isinstance(e, A.Name):
            if self.fn is None or e.id not in self.fn.locals:
                if self.mod.symbols.get(e.id) is not None:
                    raise self.err(e.pos, f"'{e.id}' is a module-level name; module state is not assignable")
                raise self.err(e.pos, f"'{e.id}' is not defined")
            t = self.fn.locals[e.id]
            self.record(e, t)
        elif isinstance(e, (A.Attribute, A.Subscript)):
            t = self.expr(e)
        else:
            raise self.err(e.pos, "cannot assign to this expression")
        if isinstance(t, AtomicT):
            raise self.err(e.pos, "an Atomic field is written with .store(v, order)")
        if isinstance(t, (StructT, ArrayT, SpinLockT)) and not isinstance(e, A.Name):
            raise self.err(e.pos, f"cannot assign a {t} field (use struct_copy)")
        if not isinstance(t, (IntT, BoolT, StructT, StrT)):
            raise self.err(e.pos, f"cannot assign to a value of type {t}")
        return t


def check_program(prog: Program, decl: Declarer) -> None:
    ch = Checker(prog, decl)
    for m in prog.modules:
        ch.check_module(m)


__all__ = ["Checker", "check_program"]


def _unique_public_names(prog: Program) -> None:
    seen: dict[str, A.Pos] = {}
    types: dict[str, A.Pos] = {}
    for m in prog.modules:
        classes: list[StructT | OpsT] = [*m.structs, *m.ops]
        for t in classes:
            if t.name in types:
                raise DialectError(t.pos, f"class name '{t.name}' is also defined at {types[t.name]} "
                                          "(struct and ops class names are C type names: unique across the image)")
            types[t.name] = t.pos
        items: list[tuple[str, A.Pos]] = [(f.cname, f.node.pos) for f in m.funcs if not f.static]
        for cname, pos in items:
            if cname in seen:
                raise DialectError(pos, f"public name '{cname}' is also defined at {seen[cname]} "
                                        "(public names must be unique across the image)")
            seen[cname] = pos


def _ops_targets(prog: Program) -> dict[str, list[str]]:
    """'ops:module.Type.field' -> the C names of every function stored in that field of any table."""
    out: dict[str, list[str]] = {}
    for m in prog.modules:
        for c in m.consts:
            rows: list[A.Expr] = []
            if isinstance(c.type, OpsT):
                rows = [c.value] if c.value is not None else []
            elif isinstance(c.type, ArrayT) and isinstance(c.value, A.TupleExpr):
                rows = list(c.value.elts)
            for row in rows:
                ot = prog.types.get(row)
                if not isinstance(row, A.Call) or not isinstance(ot, OpsT):
                    continue
                for kw in row.kwargs:
                    sym = prog.refs.get(kw.value)
                    if isinstance(sym, FuncInfo):
                        key = f"ops:{ot.module}.{ot.name}.{kw.name}"
                        if sym.cname not in out.get(key, []):
                            out.setdefault(key, []).append(sym.cname)
    return out


def resolve_indirect_calls(prog: Program) -> None:
    targets = _ops_targets(prog)
    for m in prog.modules:
        for f in m.funcs:
            calls: list[tuple[str, A.Pos]] = []
            for callee, pos in f.calls:
                if callee.startswith("ops:"):
                    f.indirect.extend((t, pos) for t in targets.get(callee, []))
                else:
                    calls.append((callee, pos))
            f.calls = calls


def _no_recursion(prog: Program) -> None:
    funcs = {f.cname: f for m in prog.modules for f in m.funcs}
    state: dict[str, int] = {}
    stack: list[tuple[str, A.Pos]] = []

    def visit(name: str) -> None:
        state[name] = 1
        for callee, pos in funcs[name].calls:
            if callee not in funcs:
                continue
            stack.append((name, pos))
            if state.get(callee) == 1:
                start = next(i for i, (n, _) in enumerate(stack) if n == callee)
                cycle = [funcs[n].name for n, _ in stack[start:]] + [funcs[callee].name]
                raise DialectError(stack[start][1], "recursion is not dialect: " + " -> ".join(cycle))
            if callee not in state:
                visit(callee)
            stack.pop()
        state[name] = 2

    for name in funcs:
        if name not in state:
            visit(name)


def analyze(modules: list[A.Module]) -> Program:
    """Declarations, body checks and whole-image rules over modules given in dependency order (with room
    for the dialect's deepest nesting: compiler/deep.py)."""
    return run_deep(lambda: _analyze(modules))


def _analyze(modules: list[A.Module]) -> Program:
    shorts = [m.name.split(".")[-1] for m in modules]
    infos = [ModInfo(m.name, m, s if shorts.count(s) == 1 else m.name.replace(".", "_"))
             for m, s in zip(modules, shorts)]
    prog = Program(infos, {mi.name: mi for mi in infos})
    for mi in infos:
        for pos, text in mi.ast.comments:
            if re.match(r"#\s*type:\s*ignore", text):
                raise DialectError(pos, "'# type: ignore' is not allowed in dialect code")
    decl = declare(prog)
    check_program(prog, decl)
    _unique_public_names(prog)
    resolve_indirect_calls(prog)
    _no_recursion(prog)
    return prog
