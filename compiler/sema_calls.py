"""Stage 2b (calls): direct calls, calls through ops fields, methods of storage/Atomic values, conversions
and every prelude intrinsic or special form (kprint formats are checked against argument types here)."""
from __future__ import annotations

from compiler import ast as A
from compiler import intrinsics_c as I
from compiler.sema import ConstInfo, FuncInfo
from compiler.sema_expr import ATOMIC_METHODS, ORDERS, ExprChecker
from compiler.sema_types import (
    BOOL, INT_TYPES, NORETURN, STR, U8, U32, U64, VOID, ArrayT, AtomicT, BoolT, FuncT, IntT, LitIntT, MethodT,
    OpsT, PreludeT, StorageT, StrT, StructT, Type, TypeRef, VoidT,
)
from pyhv.lang.printfmt import parse_format

LOAD_ORDERS = ("RELAXED", "ACQUIRE", "SEQ_CST")
STORE_ORDERS = ("RELAXED", "RELEASE", "SEQ_CST")


class CallChecker(ExprChecker):
    def call(self, e: A.Call, expected: Type | None) -> Type:
        ft = self.expr(e.func)
        if e.kwargs:
            raise self.err(e.kwargs[0].pos, "keyword arguments are not dialect (only when building an Ops table)")
        if isinstance(ft, FuncT):
            return self.call_func(e, ft)
        if isinstance(ft, TypeRef):
            t = ft.t
            if isinstance(t, IntT):
                if len(e.args) != 1:
                    raise self.err(e.pos, f"{t}(v) takes one argument")
                self.allow_len(e.args[0])
                at = self.expr(e.args[0], t)
                if isinstance(at, LitIntT):
                    if t.min <= at.value <= t.max:
                        self.adapt(e.args[0], at, t)
                    elif not -(1 << 63) <= at.value < (1 << 64):
                        raise self.err(e.args[0].pos, f"integer literal {at.value} does not fit 64 bits")
                    # else: wraps exactly like the C cast (u32(-1) == 0xFFFF_FFFF), as under CPython
                elif not isinstance(at, (IntT, BoolT)):
                    raise self.err(e.args[0].pos, f"{t}() converts integers and bools, not {at}")
                return t
            if isinstance(t, StructT):
                raise self.err(e.pos, f"{t.name}() allocates on the stack: assign it to a local name")
            raise self.err(e.pos, f"{t}(...) builds an ops table and is only allowed in a module constant")
        if isinstance(ft, PreludeT):
            return self.call_prelude(e, ft.name)
        if isinstance(ft, MethodT):
            return self.call_method(e, ft)
        raise self.err(e.func.pos, f"{ft} is not callable")

    def args_against(self, e: A.Call, params: tuple[Type, ...], what: str) -> None:
        if len(e.args) != len(params):
            raise self.err(e.pos, f"{what} takes {len(params)} argument(s), got {len(e.args)}")
        for a, pt in zip(e.args, params):
            at = self.expr(a, pt)
            self.adapt_value(a, at, pt, f" for an argument of {what}")

    def call_func(self, e: A.Call, ft: FuncT) -> Type:
        sym = self.prog.refs.get(e.func)
        if isinstance(sym, FuncInfo):
            what = f"{sym.name}()"
            if self.fn is not None:
                self.fn.calls.append((sym.cname, e.pos))
        elif isinstance(e.func, A.Attribute):
            ops = self.prog.types.get(e.func.value)
            what = f"{ops}.{e.func.attr}"
            if self.fn is not None and isinstance(ops, OpsT):
                self.fn.calls.append((f"ops:{ops.module}.{ops.name}.{e.func.attr}", e.pos))
        else:
            raise self.err(e.func.pos, "functions are called by name (or through an ops table field)")
        self.args_against(e, ft.params, what)
        return ft.ret

    def want_int(self, a: A.Expr, signed: bool | None = None) -> IntT:
        t = self.expr(a)
        t = self.need_typed(a, t)
        if not isinstance(t, IntT) or (signed is not None and t.signed != signed):
            kind = "an integer" if signed is None else ("a signed integer" if signed else "an unsigned integer")
            raise self.err(a.pos, f"expected {kind}, not {t}")
        return t

    def want_struct(self, a: A.Expr) -> StructT:
        t = self.expr(a)
        if not isinstance(t, StructT):
            raise self.err(a.pos, f"expected a struct reference, not {t}")
        return t

    def nargs(self, e: A.Call, n: int, name: str) -> None:
        if len(e.args) != n:
            raise self.err(e.pos, f"{name}() takes {n} argument(s), got {len(e.args)}")

    def call_prelude(self, e: A.Call, name: str) -> Type:
        if name == "bool":
            raise self.err(e.pos, "truth tests of integers are not dialect: write x != 0, not bool(x)")
        if name in ("len", "array_len"):
            if name == "len" and e not in self.len_ok:
                raise self.err(e.pos, "len() is a plain Python int under CPython but u64 in C: convert it where "
                                      "it is used (u64(len(a)), u32(len(a))) or write array_len(a)")
            self.nargs(e, 1, name)
            t = self.expr(e.args[0])
            if not isinstance(t, ArrayT):
                raise self.err(e.args[0].pos, f"{name}() takes an array, not {t}")
            return U64
        if name in ("sdiv", "srem"):
            self.nargs(e, 2, name)
            lt = self.expr(e.args[0])
            rt = self.expr(e.args[1], lt if isinstance(lt, IntT) else None)
            if isinstance(lt, LitIntT):
                lt = self.adapt_value(e.args[0], lt, rt, f" as the dividend of {name}()")
            elif isinstance(rt, LitIntT):
                rt = self.adapt(e.args[1], rt, lt)
            if not isinstance(lt, IntT) or not lt.signed:
                raise self.err(e.args[0].pos, f"{name}() takes signed integers (use // and % on unsigned), "
                                              f"not {lt}")
            self.adapt(e.args[1], rt, lt)
            return lt
        if name == "struct_copy":
            self.nargs(e, 2, name)
            d, s = self.want_struct(e.args[0]), self.want_struct(e.args[1])
            if d is not s:
                raise self.err(e.args[1].pos, f"struct_copy() needs two {d.name} references, got {s.name}")
            return VOID
        if name == "struct_zero":
            self.nargs(e, 1, name)
            self.want_struct(e.args[0])
            return VOID
        if name == "struct_at":
            self.nargs(e, 2, name)
            t = self.expr(e.args[0])
            if not (isinstance(t, TypeRef) and isinstance(t.t, StructT)):
                raise self.err(e.args[0].pos, "struct_at(T, addr) needs a struct class")
            at = self.expr(e.args[1], U64)
            self.adapt(e.args[1], at, U64)
            return t.t
        if name == "addr_of":
            self.nargs(e, 1, name)
            t = self.expr(e.args[0])
            if not isinstance(t, (StructT, ArrayT)):
                raise self.err(e.args[0].pos, f"addr_of() takes a struct or array, not {t}")
            return U64
        if name == "sizeof":
            self.nargs(e, 1, name)
            t = self.expr(e.args[0])
            if not (isinstance(t, TypeRef) and isinstance(t.t, (StructT, IntT))):
                raise self.err(e.args[0].pos, "sizeof() takes a struct class or an integer type")
            return U64
        if name == "kprint":
            return self.kprint(e)
        if name == "panic":
            self.nargs(e, 1, name)
            if not isinstance(e.args[0], A.StrLit):
                raise self.err(e.args[0].pos, "panic() takes a string literal")
            self.expr(e.args[0])
            return NORETURN
        if name == "range":
            raise self.err(e.pos, "range() is only used as the iterable of a for loop")
        if name == "Array":
            raise self.err(e.pos, "Array(T, N) allocates on the stack: assign it to a local name")
        if name in ("Static", "PerCpu", "OpsSlot"):
            raise self.err(e.pos, f"storage is declared at module level: NAME: Final = {name}(T)")
        row = I.lookup(name)
        if row is None or row.lowering != "inline":
            raise self.err(e.func.pos, f"'{name}' is not a callable dialect intrinsic")
        if len(e.args) != len(row.params):
            raise self.err(e.pos, f"{name}() takes {len(row.params)} argument(s), got {len(e.args)}")
        lits: dict[str, str] = {}
        for a, p in zip(e.args, row.params):
            if p.literal:
                if not isinstance(a, A.StrLit):
                    raise self.err(a.pos, f"{name}(): '{p.name}' must be a string literal")
                lits[p.name] = a.value
                self.expr(a)
                continue
            pt: Type = STR if p.type == "str" else INT_TYPES[p.type]
            at = self.expr(a, pt)
            self.adapt_value(a, at, pt, f" for '{p.name}' of {name}()")
        bad = I.validate_literals(row, lits)
        if bad is not None:
            lit_arg = next(a for a, p in zip(e.args, row.params) if p.literal)
            raise self.err(lit_arg.pos, f"invalid operand for {name}(): {bad}")
        return VOID if row.ret is None else INT_TYPES[row.ret]

    def kprint(self, e: A.Call) -> Type:
        if not e.args or not isinstance(e.args[0], A.StrLit):
            raise self.err(e.pos, "kprint() takes a string literal format first")
        self.expr(e.args[0])
        try:
            pieces = parse_format(e.args[0].value)
        except ValueError as ex:
            raise self.err(e.args[0].pos, str(ex)) from None
        convs = [p for p in pieces if p.kind != "text"]
        if len(convs) != len(e.args) - 1:
            raise self.err(e.pos, f"kprint format has {len(convs)} conversion(s) but {len(e.args) - 1} "
                                  "argument(s) were given")
        for p, a in zip(convs, e.args[1:]):
            if p.kind == "u":
                self.want_int(a, signed=False)
            elif p.kind == "d":
                self.want_int(a, signed=True)
            elif p.kind == "x":
                self.want_int(a)
            elif p.kind == "s":
                t = self.expr(a)
                if not isinstance(t, StrT):
                    raise self.err(a.pos, f"%s needs a str, not {t}")
            elif p.kind == "c":
                t = self.expr(a, U8)
                self.adapt(a, t, U8, " for %c")
        return VOID

    def order_arg(self, a: A.Expr, allowed: tuple[str, ...], what: str) -> str:
        t = self.expr(a)
        if not (isinstance(t, PreludeT) and t.name in ORDERS):
            raise self.err(a.pos, f"{what}: the memory order must be one of {', '.join(ORDERS)}")
        if t.name not in allowed:
            raise self.err(a.pos, f"{what} does not take {t.name} (allowed: {', '.join(allowed)})")
        return t.name

    def call_method(self, e: A.Call, m: MethodT) -> Type:
        recv = m.recv
        if isinstance(recv, StorageT):
            if m.name == "get":
                self.nargs(e, 0, "get")
                return recv.inner
            self.nargs(e, 1, "set")
            at = self.expr(e.args[0])
            if at is not recv.inner:
                raise self.err(e.args[0].pos, f"OpsSlot({recv.inner}).set() needs a {recv.inner} table, got {at}")
            return VOID
        assert isinstance(recv, AtomicT)
        t = recv.inner
        n = ATOMIC_METHODS[m.name]
        self.nargs(e, n, m.name)
        for a in e.args[:-1]:
            at = self.expr(a, t)
            self.adapt_value(a, at, t, f" for Atomic[{t}].{m.name}()")
        allowed = LOAD_ORDERS if m.name == "load" else STORE_ORDERS if m.name == "store" else ORDERS
        self.order_arg(e.args[-1], allowed, f"{m.name}()")
        if m.name == "store":
            return VOID
        if m.name == "cas":
            return BOOL
        return t


__all__ = ["CallChecker", "ConstInfo", "U32", "VoidT", "NORETURN"]
