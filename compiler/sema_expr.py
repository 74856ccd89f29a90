"""Stage 2b (expressions): typing of every dialect expression, literal adaptation and folding, calls to
functions, ops fields, methods (Atomic, storage) and prelude intrinsics. Mixed into sema_check.Checker."""
from __future__ import annotations

from compiler import ast as A
from compiler.diagnostics import DialectError

from compiler.sema import ConstInfo, Declarer, FuncInfo, ModInfo, Program, StorageInfo, Symbol
from compiler.sema_types import (
    BOOL, INT_TYPES, NORETURN, STR, U8, U64, VOID, ArrayT, AtomicT, BoolT, FuncT, IntT, LitIntT, MethodT,
    ModuleT, OpsT, PreludeT, SpinLockT, StorageT, StrT, StructT, Type, TypeRef, VoidT, same,
)

ORDERS = ("RELAXED", "ACQUIRE", "RELEASE", "ACQ_REL", "SEQ_CST")
ATOMIC_METHODS = {"load": 1, "store": 2, "fetch_add": 2, "cas": 3, "swap": 2}
ARITH = {"+", "-", "*", "&", "|", "^"}
BUILTINS = {"range", "len", "bool"}


def fits(v: int, t: IntT) -> bool:
    return t.min <= v <= t.max


def fold(op: str, a: int, b: int, pos: A.Pos) -> int:
    if op in ("//", "%"):
        if b == 0:
            raise DialectError(pos, "division by zero")
        if a < 0 or b < 0:
            raise DialectError(pos, f"'{op}' on negative literals: give the operands a type")
        return a // b if op == "//" else a % b
    if op in ("<<", ">>"):
        if b < 0 or b > 64:
            raise DialectError(pos, f"shift count {b} out of range")
        return a << b if op == "<<" else a >> b
    return {"+": a + b, "-": a - b, "*": a * b, "&": a & b, "|": a | b, "^": a ^ b}[op]


class ExprChecker:
    prog: Program
    decl: Declarer
    mod: ModInfo
    fn: FuncInfo | None
    stack_refs: set[str]
    len_ok: set[A.Expr]  # builtin len() calls in a place where its plain Python int cannot leak
    plain_ints: set[A.Expr]  # typed by their context in C, but plain ints under CPython (see plain())

    def allow_len(self, e: A.Expr) -> None:
        """Builtin len(a) is a plain Python int under CPython (u64 in C): it may be converted (u32(len(a))), be
        a range bound, or be compared, where both worlds agree; anywhere else (arithmetic, a local, an
        argument, a return) its int semantics would leak (call_prelude rejects it)."""
        if isinstance(e, A.Call) and isinstance(e.func, A.Name) and e.func.id == "len":
            self.len_ok.add(e)

    def ensure_const(self, c: ConstInfo) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ helpers
    def err(self, pos: A.Pos, msg: str) -> DialectError:
        return DialectError(pos, msg)

    def record(self, e: A.Expr, t: Type) -> Type:
        self.prog.types[e] = t
        return t

    def adapt(self, e: A.Expr, t: Type, target: Type, what: str = "") -> Type:
        """Make expression e (of type t) acceptable where `target` is expected; literals take the type."""
        if isinstance(t, LitIntT):
            if isinstance(target, IntT):
                if not fits(t.value, target):
                    raise self.err(e.pos, f"integer literal {t.value} does not fit {target}")
                self.retype_literal(e, target)
                return target
            raise self.err(e.pos, f"expected {target}{what}, got an integer literal")
        if not same(t, target):
            if isinstance(target, VoidT) and isinstance(t, VoidT):
                return t
            raise self.err(e.pos, f"expected {target}{what}, got {t}")
        return t

    def plain(self, e: A.Expr, t: Type) -> bool:
        """e is a plain Python int under CPython: a literal, a Final literal constant, or an operator or
        conditional expression over those only (the prelude converts such an int only where it meets a
        fixed-width operand)."""
        return isinstance(t, LitIntT) or e in self.plain_ints

    def adapt_value(self, e: A.Expr, t: Type, target: Type, what: str = "") -> Type:
        """adapt() where the value is kept as it is under CPython — stored in a local, field, element or
        atomic, passed as an argument, returned, bound to a typed constant, or chosen by a conditional
        expression next to a typed branch. A plain int there would not wrap like the C (`x: u8 = 255;
        x += 1` is 256 under CPython), or is refused by the prelude at run time: a positioned error."""
        if isinstance(target, IntT) and self.plain(e, t):
            if isinstance(t, LitIntT):
                raise self.err(e.pos, f"integer literal {t.value} is a plain int under CPython{what}, but {target} "
                                      f"in C: write {target}({t.value})")
            raise self.err(e.pos, f"an expression of literals only is a plain int under CPython{what}, but "
                                  f"{target} in C: convert it, {target}(...)")
        return self.adapt(e, t, target, what)

    def retype_literal(self, e: A.Expr, t: IntT) -> None:
        self.prog.types[e] = t
        if isinstance(e, A.BinOp):
            for sub in (e.left, e.right):
                if isinstance(self.prog.types.get(sub), LitIntT) and not (e.op in ("<<", ">>") and sub is e.right):
                    self.retype_literal(sub, t)
        elif isinstance(e, A.UnaryOp):
            self.retype_literal(e.operand, t)
        elif isinstance(e, A.IfExp):
            self.retype_literal(e.body, t)
            self.retype_literal(e.orelse, t)

    def need_typed(self, e: A.Expr, t: Type) -> Type:
        if isinstance(t, LitIntT):
            raise self.err(e.pos, f"integer literal {t.value} needs a type here: write u64({t.value}) or similar")
        return t

    def expr(self, e: A.Expr, expected: Type | None = None) -> Type:
        t = self._expr(e, expected)
        if e not in self.prog.types:
            self.prog.types[e] = t
        return t

    def _expr(self, e: A.Expr, expected: Type | None) -> Type:
        if isinstance(e, A.IntLit):
            self.prog.folded[e] = e.value
            return LitIntT(e.value)
        if isinstance(e, A.BoolLit):
            return BOOL
        if isinstance(e, A.StrLit):
            return STR
        if isinstance(e, A.NoneLit):
            return VOID
        if isinstance(e, A.Name):
            return self.name(e)
        if isinstance(e, A.Attribute):
            return self.attribute(e)
        if isinstance(e, A.Subscript):
            return self.subscript(e)
        if isinstance(e, A.Call):
            return self.call(e, expected)
        if isinstance(e, A.BinOp):
            lt = self.expr(e.left, expected)
            return self.binop_types(e.op, e.left, lt, e.right, e.op_pos, e)
        if isinstance(e, A.UnaryOp):
            return self.unary(e, expected)
        if isinstance(e, A.Compare):
            return self.compare(e)
        if isinstance(e, A.BoolOp):
            for side in (e.left, e.right):
                t = self.expr(side)
                if not isinstance(t, BoolT):
                    raise self.err(side.pos, f"'{e.op}' needs bool operands, not {t}")
            return BOOL
        if isinstance(e, A.Not):
            t = self.expr(e.operand)
            if not isinstance(t, BoolT):
                raise self.err(e.operand.pos, f"'not' needs a bool operand, not {t} (write x == 0)")
            return BOOL
        if isinstance(e, A.IfExp):
            c = self.expr(e.test)
            if not isinstance(c, BoolT):
                raise self.err(e.test.pos, f"condition must be bool, not {c}")
            bt = self.expr(e.body, expected)
            ot = self.expr(e.orelse, expected)
            if self.plain(e.body, bt) and self.plain(e.orelse, ot):
                if isinstance(expected, IntT):
                    self.adapt(e.body, bt, expected)
                    self.adapt(e.orelse, ot, expected)
                    self.plain_ints.add(e)
                    return expected
                raise self.err(e.pos, "both branches are literals: give one a type")
            if self.plain(e.body, bt):
                bt = self.adapt_value(e.body, bt, ot, " as a branch of a conditional expression")
            else:
                ot = self.adapt_value(e.orelse, ot, bt, " as a branch of a conditional expression")
            if isinstance(bt, (StructT, ArrayT)):
                raise self.err(e.pos, "conditional expressions choose between scalar values only")
            return bt
        if isinstance(e, A.ListExpr):
            raise self.err(e.pos, "lists are not dialect (use Annotated[Array[T], N] or Array(T, N))")
        if isinstance(e, A.Ellipsis_):
            raise self.err(e.pos, "'...' is only allowed as the body of an @asm_function")
        raise self.err(e.pos, "expression is not dialect")

    # ------------------------------------------------------------------ names
    def sym_type(self, sym: Symbol | None, e: A.Expr, label: str) -> Type:
        if sym is None:
            raise self.err(e.pos, f"'{label}' is not defined")
        self.prog.refs[e] = sym
        if isinstance(sym, FuncInfo):
            return sym.ftype
        if isinstance(sym, ConstInfo):
            if isinstance(sym.type, VoidT):
                self.ensure_const(sym)
            if isinstance(sym.type, LitIntT):
                self.prog.folded[e] = sym.type.value
            return sym.type
        if isinstance(sym, StorageInfo):
            return sym.type
        if isinstance(sym, (TypeRef, ModuleT)):
            return sym
        if isinstance(sym, PreludeT):
            if sym.name in INT_TYPES:
                return TypeRef(INT_TYPES[sym.name])
            if sym.name == "Any":
                raise self.err(e.pos, "'Any' is not dialect")
            return sym
        raise self.err(e.pos, f"'{label}' is not defined")

    def name(self, e: A.Name) -> Type:
        if self.fn is not None and e.id in self.fn.locals:
            return self.fn.locals[e.id]
        sym = self.prog.lookup(self.mod, e.id)
        if sym is None and e.id in BUILTINS:
            return PreludeT(e.id)
        if sym is None and e.id in ("int", "float", "list", "dict", "set", "tuple", "print", "object"):
            raise self.err(e.pos, f"'{e.id}' is not dialect")
        return self.sym_type(sym, e, e.id)

    def attribute(self, e: A.Attribute) -> Type:
        bt = self.expr(e.value)
        if isinstance(bt, ModuleT):
            full = f"{bt.name}.{e.attr}"
            if full in self.prog.by_name:
                return ModuleT(full)
            target = self.prog.by_name.get(bt.name)
            if target is None:
                raise self.err(e.pos, f"no dialect module '{bt.name}'")
            sym = self.prog.lookup(target, e.attr)
            if sym is None:
                raise self.err(e.attr_pos, f"module '{bt.name}' has no '{e.attr}'")
            return self.sym_type(sym, e, e.attr)
        if isinstance(bt, StructT):
            ft = bt.field_type(e.attr)
            if ft is None:
                raise self.err(e.attr_pos, f"struct {bt.name} has no field '{e.attr}'")
            return ft
        if isinstance(bt, OpsT):
            ot = bt.field_type(e.attr)
            if ot is None:
                raise self.err(e.attr_pos, f"ops {bt.name} has no field '{e.attr}'")
            return ot
        if isinstance(bt, StorageT):
            if e.attr == "get" or (e.attr == "set" and bt.kind == "OpsSlot"):
                return MethodT(bt, e.attr)
            raise self.err(e.attr_pos, f"{bt.kind} has no method '{e.attr}'")
        if isinstance(bt, AtomicT):
            if e.attr in ATOMIC_METHODS:
                return MethodT(bt, e.attr)
            raise self.err(e.attr_pos, f"Atomic has no method '{e.attr}'")
        raise self.err(e.attr_pos, f"{bt} has no attribute '{e.attr}'")

    def subscript(self, e: A.Subscript) -> Type:
        bt = self.expr(e.value)
        if not isinstance(bt, ArrayT):
            raise self.err(e.pos, f"only arrays can be indexed, not {bt}")
        if len(e.indices) != 1:
            raise self.err(e.indices[1].pos, "an array takes one index")
        idx = e.indices[0]
        it = self.expr(idx)
        if isinstance(it, LitIntT):
            if not 0 <= it.value < bt.n:
                raise self.err(idx.pos, f"index {it.value} out of range for {bt}")
            self.adapt(idx, it, U64)
        elif not (isinstance(it, IntT) and not it.signed):
            raise self.err(idx.pos, f"an array index must be an unsigned integer, not {it}")
        return bt.elem

    # ------------------------------------------------------------------ operators
    def binop_types(self, op: str, le: A.Expr, lt: Type, re: A.Expr, op_pos: A.Pos,
                    node: A.BinOp | None) -> Type:
        if op in ("<<", ">>"):
            rt = self.expr(re)
            if isinstance(lt, LitIntT) and isinstance(rt, LitIntT):
                v = fold(op, lt.value, rt.value, op_pos)
                if node is not None:
                    self.prog.folded[node] = v
                return LitIntT(v)
            lt = self.need_typed(le, lt)
            if not isinstance(lt, IntT):
                raise self.err(le.pos, f"'{op}' needs an integer, not {lt}")
            if isinstance(rt, LitIntT):
                if rt.value < 0:
                    raise self.err(re.pos, "negative shift count")
                if rt.value >= 1 << 64:
                    raise self.err(re.pos, f"shift count {rt.value} does not fit 64 bits")
                self.prog.types[re] = U64
            elif not isinstance(rt, IntT):
                raise self.err(re.pos, f"a shift count must be an integer, not {rt}")
            return lt
        rt = self.expr(re, lt if isinstance(lt, IntT) else None)
        if op not in ARITH and op not in ("//", "%"):
            raise self.err(op_pos, f"operator '{op}' is not dialect")
        if isinstance(lt, LitIntT) and isinstance(rt, LitIntT):
            v = fold(op, lt.value, rt.value, op_pos)
            if node is not None:
                self.prog.folded[node] = v
            return LitIntT(v)
        both_plain = self.plain(le, lt) and self.plain(re, rt)
        if isinstance(lt, LitIntT):
            lt = self.adapt(le, lt, rt)
        elif isinstance(rt, LitIntT):
            rt = self.adapt(re, rt, lt)
        if both_plain and node is not None:
            self.plain_ints.add(node)
        if isinstance(lt, BoolT) or isinstance(rt, BoolT):
            raise self.err(op_pos, f"'{op}' on bool is not dialect (use and/or/not)")
        if not isinstance(lt, IntT):
            raise self.err(le.pos, f"'{op}' needs integers, not {lt}")
        if not same(lt, rt):
            raise self.err(op_pos, f"mixed widths: {lt} {op} {rt} (convert one side explicitly)")
        if op in ("//", "%") and lt.signed:
            fn = "sdiv" if op == "//" else "srem"
            raise self.err(op_pos, f"'{op}' is only for unsigned integers; use {fn}() for {lt}")
        return lt

    def unary(self, e: A.UnaryOp, expected: Type | None) -> Type:
        t = self.expr(e.operand, expected)
        if isinstance(t, LitIntT):
            if e.op == "~":
                raise self.err(e.pos, "'~' on a literal needs a type: write ~u32(x)")
            v = -t.value if e.op == "-" else t.value
            self.prog.folded[e] = v
            return LitIntT(v)
        if not isinstance(t, IntT):
            raise self.err(e.pos, f"unary '{e.op}' needs an integer, not {t}")
        if e.operand in self.plain_ints:
            self.plain_ints.add(e)
        return t

    def compare(self, e: A.Compare) -> Type:
        self.allow_len(e.left)
        self.allow_len(e.right)
        lt = self.expr(e.left)
        rt = self.expr(e.right, lt if isinstance(lt, IntT) else None)
        if isinstance(lt, LitIntT) and isinstance(rt, LitIntT):
            raise self.err(e.pos, "comparison of two literals")
        if isinstance(lt, LitIntT):
            lt = self.adapt(e.left, lt, rt)
        elif isinstance(rt, LitIntT):
            rt = self.adapt(e.right, rt, lt)
        if not same(lt, rt):
            raise self.err(e.op_pos, f"mixed types: {lt} {e.op} {rt} (convert one side explicitly)")
        if isinstance(lt, BoolT) and e.op in ("==", "!="):
            return BOOL
        if not isinstance(lt, IntT):
            raise self.err(e.op_pos, f"'{e.op}' is not defined on {lt}")
        return BOOL

    def call(self, e: A.Call, expected: Type | None) -> Type:
        raise NotImplementedError
