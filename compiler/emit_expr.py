"""Stage 4a: C expressions. Every typed dialect expression becomes one C expression with the same meaning:
helpers from pyhv_rt.h where plain C could overflow/UB, struct references as pointers, bounds-checked
indexing, intrinsic calls to the generated pyhv_intrinsics.h helpers."""
from __future__ import annotations

from compiler import ast as A
from compiler import intrinsics_c as I
from compiler.sema import ConstInfo, FuncInfo, ModInfo, Program, StorageInfo
from compiler.sema_types import (
    ArrayT, AtomicT, BoolT, FuncT, IntT, LitIntT, MethodT, OpsT, PreludeT, SpinLockT, StorageT, StrT, StructT,
    Type, TypeRef, VoidT,
)


def c_string(s: str) -> str:
    out = []
    for ch in s.encode("utf-8"):
        c = chr(ch)
        if c == "\\" or c == '"':
            out.append("\\" + c)
        elif c in "\n\t\r":
            out.append({"\n": "\\n", "\t": "\\t", "\r": "\\r"}[c])
        elif 32 <= ch < 127 and c != "?":
            out.append(c)
        else:
            out.append(f"\\{ch:03o}")
    # Strings are `const u8 *` in the C: no plain `char` (its signedness is implementation-defined).
    return '((const u8 *)"' + "".join(out) + '")'


def c_type(t: Type) -> str:
    if isinstance(t, IntT):
        return t.name
    if isinstance(t, BoolT):
        return "bool"
    if isinstance(t, StrT):
        return "const u8 *"
    if isinstance(t, StructT):
        return f"struct {t.name} *"
    if isinstance(t, OpsT):
        return f"const struct {t.name} *"
    if isinstance(t, VoidT):
        return "void"
    raise ValueError(f"no C type for {t}")


C_KEYWORDS = {
    "auto", "case", "char", "const", "default", "do", "double", "enum", "extern", "float", "goto", "inline", "int",
    "long", "register", "restrict", "short", "signed", "sizeof", "static", "struct", "switch", "typedef", "union",
    "unsigned", "void", "volatile", "main", "bool", "true", "false",
    "u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64", "asm", "typeof", "_Bool", "_Static_assert", "NULL",
    "_Alignas", "_Alignof", "_Atomic", "_Complex", "_Generic", "_Imaginary", "_Noreturn", "_Thread_local",
    # typedefs of pyhv_rt.h, and the runtime functions lowering calls inside any function (a local of that name
    # would shadow them)
    "uint8_t", "uint16_t", "uint32_t", "uint64_t", "int8_t", "int16_t", "int32_t", "int64_t", "uintptr_t",
    "panic_at", "printk_begin", "printk_end", "printk_str", "printk_char", "printk_udec", "printk_sdec",
    "printk_hex",
}


def cid(name: str) -> str:
    """C identifier for a dialect local/parameter/field name. Names C reserves get a trailing `__`: dialect
    locals, parameters and fields may not contain `__` (sema), so `int__` cannot collide with a dialect `int_`."""
    return name + "__" if name in C_KEYWORDS else name


def c_decl(t: Type, name: str) -> str:
    """Declaration of a variable or parameter: structs are references (pointers), arrays are local storage."""
    if isinstance(t, ArrayT):
        return c_field(t.elem, f"{name}[{t.n}]")
    ct = c_type(t)
    return f"{ct}{name}" if ct.endswith("*") else f"{ct} {name}"


def c_field(t: Type, name: str) -> str:
    """Declaration of a struct field or static storage: structs and arrays are embedded."""
    if isinstance(t, ArrayT):
        return c_field(t.elem, f"{name}[{t.n}]")
    if isinstance(t, StructT):
        return f"struct {t.name} {name}"
    if isinstance(t, AtomicT):
        return f"{t.inner.name} {name}"
    if isinstance(t, SpinLockT):
        return f"struct pyhv_spinlock {name}"
    if isinstance(t, BoolT):
        # Stored as a byte and read as `!= 0` (ExprEmitter.ex): memory can hold any byte there (a wire
        # frame, struct_at), and a _Bool holding 2 is undefined in C; the prelude reads it as True.
        return f"u8 {name}"
    ct = c_type(t)
    return f"{ct}{name}" if ct.endswith("*") else f"{ct} {name}"


def int_literal(v: int, t: IntT) -> str:
    if v == t.min and t.signed:
        return f"(({t.name})(-{t.max}{'LL' if t.bits == 64 else ''} - 1))"
    suffix = ("ULL" if t.bits == 64 else "U") if not t.signed else ("LL" if t.bits == 64 else "")
    if t.signed and v < 0:
        s = f"(-{-v}{suffix})"
    else:
        s = f"{v:#x}{suffix}" if v > 0xFFFF else f"{v}{suffix}"
    return s if t.bits >= 32 else f"(({t.name}){s})"


def plain_literal(v: int) -> str:
    if v == -(1 << 63):
        return "(-0x7fffffffffffffffLL - 1)"  # 9223372036854775808 alone does not fit any signed C type
    if v < 0:
        return f"(-{-v}LL)" if -v > 0x7FFFFFFF else f"(-{-v})"
    if v > 0x7FFFFFFFFFFFFFFF:
        return f"{v:#x}ULL"
    if v > 0x7FFFFFFF:
        return f"{v:#x}LL" if v > 0xFFFF else f"{v}LL"
    return f"{v:#x}" if v > 0xFFFF else str(v)


class ExprEmitter:
    def __init__(self, prog: Program, mod: ModInfo) -> None:
        self.prog = prog
        self.mod = mod
        self.fn: FuncInfo | None = None
        self.used: set[str] = set()
        self.read: set[str] = set()  # locals read as values (gcc -Wunused-but-set-variable otherwise)
        self.only_named: set[str] = set()
        self.subst: dict[A.Expr, str] = {}  # sub-expressions already evaluated into temporaries (emit_hoist)
        self.intrinsics: dict[str, tuple[I.Intrinsic, dict[str, str], A.Pos]] = {}
        self.uses_percpu = False

    def t(self, e: A.Expr) -> Type:
        return self.prog.types[e]

    def where(self, pos: A.Pos) -> str:
        return f"{c_string(pos.file)}, {pos.line}"

    # ------------------------------------------------------------------ references and lvalues
    def struct_lvalue(self, e: A.Expr) -> str:
        """C lvalue of the struct object that e refers to."""
        if e in self.subst:
            return f"(*{self.subst[e]})"
        if isinstance(e, A.Attribute) and not self.is_module_ref(e.value):
            return self.field(e.value, e.attr)
        if isinstance(e, A.Subscript):
            return self.subscript(e)
        return f"(*{self.ex(e)})"

    def field(self, base: A.Expr, name: str) -> str:
        if base in self.subst:
            return f"{self.subst[base]}->{cid(name)}"
        if isinstance(base, (A.Attribute, A.Subscript)) and isinstance(self.t(base), StructT) \
                and not (isinstance(base, A.Attribute) and self.is_module_ref(base.value)):
            return f"{self.struct_lvalue(base)}.{cid(name)}"
        return f"{self.ex(base)}->{cid(name)}"

    def is_module_ref(self, e: A.Expr) -> bool:
        from compiler.sema_types import ModuleT
        return isinstance(self.prog.types.get(e), ModuleT)

    def subscript(self, e: A.Subscript) -> str:
        at = self.t(e.value)
        assert isinstance(at, ArrayT)
        base = self.array_ref(e.value)
        idx = e.indices[0]
        if idx in self.prog.folded:
            return f"{base}[{self.prog.folded[idx]}]"
        return f"{base}[pyhv_index((u64){self.ex(idx)}, {at.n}U, {self.where(e.pos)})]"

    def array_ref(self, e: A.Expr) -> str:
        if isinstance(e, A.Name):
            if self.fn is not None and e.id in self.fn.locals:
                self.used.add(e.id)
                self.read.add(e.id)
                return cid(e.id)
            return self.symbol(e)
        if isinstance(e, A.Attribute):
            if self.is_module_ref(e.value):
                return self.symbol(e)
            return self.field(e.value, e.attr)
        if isinstance(e, A.Subscript):
            return self.subscript(e)
        raise ValueError("array expression")

    def symbol(self, e: A.Expr) -> str:
        sym = self.prog.refs[e]
        t = self.t(e)
        if isinstance(sym, FuncInfo):
            return sym.cname
        if isinstance(sym, ConstInfo):
            if isinstance(sym.type, OpsT):
                return f"(&{sym.cname})"
            if isinstance(t, IntT):
                if isinstance(sym.type, LitIntT):
                    return f"(({t.name}){sym.cname})"
                return sym.cname
            return sym.cname
        if isinstance(sym, StorageInfo):
            return sym.cname
        raise ValueError(f"symbol {sym}")

    # ------------------------------------------------------------------ expressions
    def ex(self, e: A.Expr) -> str:
        if e in self.subst:
            return self.subst[e]
        t = self.prog.types.get(e)
        if e in self.prog.folded and isinstance(t, IntT) and not isinstance(e, A.Name) \
                and not isinstance(e, A.Attribute):
            return int_literal(self.prog.folded[e], t)
        if e in self.prog.folded and isinstance(t, LitIntT) and not isinstance(e, (A.Name, A.Attribute)):
            return plain_literal(self.prog.folded[e])  # operand of a wrapping conversion: u32(-1)
        if isinstance(e, A.IntLit):
            return plain_literal(e.value)
        if isinstance(e, A.BoolLit):
            return "true" if e.value else "false"
        if isinstance(e, A.StrLit):
            return c_string(e.value)
        if isinstance(e, A.Name):
            if self.fn is not None and e.id in self.fn.locals:
                self.used.add(e.id)
                self.read.add(e.id)
                return cid(e.id)
            return self.symbol(e)
        if isinstance(e, A.Attribute):
            if self.is_module_ref(e.value):
                return self.symbol(e)
            if isinstance(t, (StructT,)):
                return f"(&{self.field(e.value, e.attr)})"
            if isinstance(t, BoolT):
                return f"({self.field(e.value, e.attr)} != 0)"
            return self.field(e.value, e.attr)
        if isinstance(e, A.Subscript):
            if isinstance(t, (StructT, OpsT)):
                return f"(&{self.subscript(e)})"
            if isinstance(t, BoolT):
                return f"({self.subscript(e)} != 0)"
            return self.subscript(e)
        if isinstance(e, A.BinOp):
            return self.binop(e.op, e.left, e.right, e.pos)
        if isinstance(e, A.UnaryOp):
            assert isinstance(t, IntT)
            a = self.ex(e.operand)
            if e.op == "+":
                return a
            if e.op == "~":
                if not t.signed and t.bits < 32:
                    # Complement in 32-bit unsigned arithmetic and narrow, inside a helper: `~` on a promoted
                    # u8/u16 is an int with the high bits set, and gcc -Wsign-compare flags comparing it even
                    # through a cast.
                    return f"pyhv_inv_{t.name}({a})"
                return f"(({t.name})~{a})"
            if t.signed or t.bits < 32:
                return f"pyhv_neg_{t.name}({a})"
            return f"(({t.name})(0U - {a}))"
        if isinstance(e, A.Compare):
            return f"({self.ex(e.left)} {e.op} {self.ex(e.right)})"
        if isinstance(e, A.BoolOp):
            return f"({self.ex(e.left)} {'&&' if e.op == 'and' else '||'} {self.ex(e.right)})"
        if isinstance(e, A.Not):
            return f"(!{self.ex(e.operand)})"
        if isinstance(e, A.IfExp):
            return f"({self.ex(e.test)} ? {self.ex(e.body)} : {self.ex(e.orelse)})"
        if isinstance(e, A.Call):
            return self.call(e)
        raise ValueError(f"cannot emit {type(e).__name__}")

    def shift_count(self, e: A.Expr) -> str:
        ct = self.t(e)
        if isinstance(ct, IntT) and ct.signed:
            return f"pyhv_count_signed((i64){self.ex(e)})"
        if e in self.prog.folded:
            return f"{self.prog.folded[e]}U"
        return f"(uint64_t){self.ex(e)}"

    def binop(self, op: str, left: A.Expr, right: A.Expr, pos: A.Pos) -> str:
        t = self.t(left)
        assert isinstance(t, IntT), (op, t)
        a = self.ex(left)
        if op in ("<<", ">>"):
            fn = "shl" if op == "<<" else "shr"
            if not t.signed and right in self.prog.folded and 0 <= self.prog.folded[right] < t.bits \
                    and (t.bits >= 32 or op == ">>"):
                return f"({a} {op} {self.prog.folded[right]})" if t.bits >= 32 else \
                    f"(({t.name})({a} >> {self.prog.folded[right]}))"
            return f"pyhv_{fn}_{t.name}({a}, {self.shift_count(right)})"
        b = self.ex(right)
        if op in ("&", "|", "^"):
            return f"({a} {op} {b})" if t.bits >= 32 else f"(({t.name})({a} {op} {b}))"
        if op in ("//", "%"):
            if right in self.prog.folded and self.prog.folded[right] != 0:
                return f"({a} {'/' if op == '//' else '%'} {b})" if t.bits >= 32 else \
                    f"(({t.name})({a} {'/' if op == '//' else '%'} {b}))"
            return f"pyhv_{'div' if op == '//' else 'rem'}_{t.name}({a}, {b}, {self.where(pos)})"
        name = {"+": "add", "-": "sub", "*": "mul"}[op]
        if t.signed or t.bits < 32:
            return f"pyhv_{name}_{t.name}({a}, {b})"
        return f"({a} {op} {b})"

    def call(self, e: A.Call) -> str:
        ft = self.t(e.func)
        if isinstance(ft, FuncT):
            args = ", ".join(self.ex(a) for a in e.args)
            if isinstance(e.func, A.Attribute) and isinstance(self.prog.types.get(e.func.value), OpsT):
                return f"{self.ex(e.func.value)}->{e.func.attr}({args})"
            return f"{self.ex(e.func)}({args})"
        if isinstance(ft, TypeRef):
            assert isinstance(ft.t, IntT)
            return f"(({ft.t.name}){self.ex(e.args[0])})"
        if isinstance(ft, MethodT):
            return self.method(e, ft)
        assert isinstance(ft, PreludeT), ft
        return self.prelude(e, ft.name)

    def method(self, e: A.Call, m: MethodT) -> str:
        recv = m.recv
        assert isinstance(e.func, A.Attribute)
        obj = e.func.value
        if isinstance(recv, StorageT):
            sym = self.prog.refs.get(obj)
            cname = sym.cname if isinstance(sym, StorageInfo) else self.ex(obj)
            if recv.kind == "Static":
                return f"(&{cname})"
            if recv.kind == "PerCpu":
                self.uses_percpu = True
                return f"(&pyhv_this_cpu()->{cname})"
            if m.name == "get":
                return cname
            return f"({cname} = {self.ex(e.args[0])})"
        assert isinstance(recv, AtomicT)
        ptr = f"&{self.field(obj.value, obj.attr)}" if isinstance(obj, A.Attribute) else f"&{self.ex(obj)}"
        order = e.args[-1]
        assert isinstance(order, (A.Name, A.Attribute))
        o = f"PYHV_{order.id if isinstance(order, A.Name) else order.attr}"
        args = [self.ex(a) for a in e.args[:-1]]
        return f"pyhv_atomic_{m.name}_{recv.inner.name}({', '.join([ptr, *args, o])})"

    def prelude(self, e: A.Call, name: str) -> str:
        args = e.args
        if name == "bool":
            return f"({self.ex(args[0])} != 0)"
        if name in ("len", "array_len"):
            at = self.t(args[0])
            assert isinstance(at, ArrayT)
            root = args[0]
            while isinstance(root, (A.Attribute, A.Subscript)):
                root = root.value
            if isinstance(root, A.Name) and self.fn is not None and root.id in self.fn.locals:
                self.only_named.add(root.id)  # the constant reads nothing: (void)name keeps gcc quiet
            return f"((u64){at.n}U)"
        if name in ("sdiv", "srem"):
            t = self.t(e)
            assert isinstance(t, IntT)
            return f"pyhv_{name}_{t.name}({self.ex(args[0])}, {self.ex(args[1])}, {self.where(e.pos)})"
        if name == "struct_copy":
            st = self.t(args[0])
            assert isinstance(st, StructT)
            return f"pyhv_move({self.ex(args[0])}, {self.ex(args[1])}, sizeof(struct {st.name}))"
        if name == "struct_zero":
            st = self.t(args[0])
            assert isinstance(st, StructT)
            return f"pyhv_zero({self.ex(args[0])}, sizeof(struct {st.name}))"
        if name == "struct_at":
            st = self.t(e)
            assert isinstance(st, StructT)
            return (f"((struct {st.name} *)(uintptr_t)pyhv_aligned({self.ex(args[1])}, "
                    f"_Alignof(struct {st.name}), {self.where(e.pos)}))")
        if name == "addr_of":
            at = self.t(args[0])
            ref = self.array_ref(args[0]) if isinstance(at, ArrayT) else self.ex(args[0])
            return f"((u64)(uintptr_t){ref})"
        if name == "sizeof":
            tr = self.t(args[0])
            assert isinstance(tr, TypeRef)
            inner = tr.t
            return f"((u64)sizeof({'struct ' + inner.name if isinstance(inner, StructT) else str(inner)}))"
        row = I.lookup(name)
        assert row is not None
        lits: dict[str, str] = {}
        vals: list[str] = []
        for a, p in zip(args, row.params):
            if p.literal:
                assert isinstance(a, A.StrLit)
                lits[p.name] = a.value
            else:
                vals.append(self.ex(a))
        helper = I.helper_name(row, lits)
        self.intrinsics.setdefault(helper, (row, lits, e.pos))
        return f"{helper}({', '.join(vals)})"


__all__ = ["ExprEmitter", "c_type", "c_decl", "c_field", "cid", "c_string", "int_literal", "plain_literal"]
