"""Stage 2a: declarations. Builds the symbol table of every module (imports, structs, ops types, constants,
storage, function signatures), lays out structs, then runs the body checker (sema_check) and the whole-image
rules: unique public names, no recursion."""
from __future__ import annotations

from dataclasses import dataclass, field

from compiler import ast as A
from compiler.diagnostics import DialectError
from compiler.loader import is_prelude
from compiler.sema_types import (
    BOOL, INT_TYPES, NORETURN, SPINLOCK, STR, VOID, ArrayT, AtomicT, BoolT, FuncT, IntT, LitIntT, ModuleT, OpsT,
    PreludeT, StorageT, StructT, Type, TypeRef, layout_struct,
)

TYPING_NAMES = {"Final", "Annotated", "Callable", "NoReturn"}


@dataclass(eq=False)
class FuncInfo:
    name: str
    module: ModInfo
    node: A.FunctionDef
    cname: str
    static: bool
    asm: bool
    ftype: FuncT = FuncT((), VOID)
    params: list[tuple[str, Type]] = field(default_factory=list)
    locals: dict[str, Type] = field(default_factory=dict)
    local_order: list[str] = field(default_factory=list)
    storage_locals: set[str] = field(default_factory=set)  # locals that own a T() / Array() on the stack
    calls: list[tuple[str, A.Pos]] = field(default_factory=list)  # direct calls (C names)
    indirect: list[tuple[str, A.Pos]] = field(default_factory=list)  # possible targets of ops-field calls


@dataclass(eq=False)
class ConstInfo:
    name: str
    module: ModInfo
    node: A.AnnAssign
    cname: str
    static: bool
    type: Type = VOID
    value: A.Expr | None = None


@dataclass(eq=False)
class StorageInfo:
    name: str
    module: ModInfo
    pos: A.Pos
    type: StorageT
    cname: str
    static: bool


@dataclass(frozen=True)
class ImportRef:
    module: str
    name: str
    pos: A.Pos


Symbol = FuncInfo | ConstInfo | StorageInfo | TypeRef | ModuleT | PreludeT | ImportRef


@dataclass(eq=False)
class ModInfo:
    name: str
    ast: A.Module
    prefix: str
    symbols: dict[str, Symbol] = field(default_factory=dict)
    sym_pos: dict[str, A.Pos] = field(default_factory=dict)
    structs: list[StructT] = field(default_factory=list)
    ops: list[OpsT] = field(default_factory=list)
    consts: list[ConstInfo] = field(default_factory=list)
    storages: list[StorageInfo] = field(default_factory=list)
    funcs: list[FuncInfo] = field(default_factory=list)
    imports: list[str] = field(default_factory=list)  # dialect modules this one uses


@dataclass(eq=False)
class Program:
    modules: list[ModInfo]
    by_name: dict[str, ModInfo]
    types: dict[object, Type] = field(default_factory=dict)  # expr node -> type
    refs: dict[object, Symbol] = field(default_factory=dict)  # Name/Attribute node -> symbol
    folded: dict[object, int] = field(default_factory=dict)  # literal-only expr -> value

    def lookup(self, mod: ModInfo, name: str) -> Symbol | None:
        sym = mod.symbols.get(name)
        seen = 0
        while isinstance(sym, ImportRef) and seen < 50:
            target = self.by_name.get(sym.module)
            if target is None:
                return None
            sym = target.symbols.get(sym.name)
            seen += 1
        return sym

    def call_graph(self) -> dict[str, list[str]]:
        """Direct calls: C function name -> sorted C names it calls."""
        return {f.cname: sorted({c for c, _ in f.calls}) for m in self.modules for f in m.funcs}

    def indirect_graph(self) -> dict[str, list[str]]:
        """Calls through ops fields: C function name -> every function stored in that field of any table
        (an over-approximation: it may contain cycles that never happen at run time)."""
        return {f.cname: sorted({c for c, _ in f.indirect}) for m in self.modules for f in m.funcs}


def _public(name: str) -> bool:
    return not name.startswith("_")


RESERVED_LOCAL_PREFIX = "pyhv_"


def check_local_name(name: str, pos: A.Pos) -> None:
    """Locals and parameters may not use the spellings of the C names the compiler invents: `pyhv_...` (its
    temporaries and runtime helpers) and `__` (hidden loop counters `i__i`/`i__end`, struct storage
    `p__storage`, and the `<module>__NAME` of module-level names a local would shadow in C)."""
    if name.startswith(RESERVED_LOCAL_PREFIX):
        raise DialectError(pos, f"'{name}': local names starting with '{RESERVED_LOCAL_PREFIX}' are reserved "
                                "for compiler temporaries")
    if "__" in name:
        raise DialectError(pos, f"'{name}': local names containing '__' are reserved for names the compiler "
                                "derives")


class Declarer:
    def __init__(self, prog: Program) -> None:
        self.prog = prog

    # ---------------------------------------------------------------- phase 1: names
    def collect(self, mod: ModInfo) -> None:
        for st in mod.ast.body:
            if isinstance(st, A.ImportFrom):
                self._import_from(mod, st)
            elif isinstance(st, A.Import):
                if is_prelude(st.module):
                    raise DialectError(st.pos, f"use 'from {st.module} import ...' for the prelude")
                bind = st.alias or st.module.split(".")[0]
                self._bind(mod, bind, ModuleT(st.module if st.alias else bind), st.pos)
                mod.imports.append(st.module)
            elif isinstance(st, A.ClassDef):
                self._class_shell(mod, st)
            elif isinstance(st, A.FunctionDef):
                self._func_shell(mod, st)
            elif isinstance(st, A.AnnAssign):
                self._module_assign(mod, st)
            elif isinstance(st, A.Assign):
                raise DialectError(st.pos, "plain mutable module globals are not dialect "
                                           "(use NAME: Final = ... or Static/PerCpu storage)")
            elif isinstance(st, A.ExprStmt) and isinstance(st.value, A.StrLit):
                pass
            else:
                raise DialectError(st.pos, "only imports, constants, storage declarations, classes and "
                                           "functions may appear at module level")

    def _bind(self, mod: ModInfo, name: str, sym: Symbol, pos: A.Pos) -> None:
        if name in mod.symbols and not isinstance(sym, ModuleT):
            prev = mod.sym_pos[name]
            raise DialectError(pos, f"'{name}' is already defined at {prev}")
        mod.symbols[name] = sym
        mod.sym_pos[name] = pos

    def _import_from(self, mod: ModInfo, st: A.ImportFrom) -> None:
        for name, alias, pos in st.names:
            bind = alias or name
            if st.module == "typing" or st.module == "collections.abc":
                if name == "Any":
                    raise DialectError(pos, "'Any' is not dialect: every value has a precise type")
                if name not in TYPING_NAMES:
                    raise DialectError(pos, f"typing.{name} is not dialect")
                self._bind(mod, bind, PreludeT(name), pos)
            elif st.module == "__future__":
                continue
            elif is_prelude(st.module):
                self._bind(mod, bind, PreludeT(name), pos)
            elif f"{st.module}.{name}" in self.prog.by_name:
                self._bind(mod, bind, ModuleT(f"{st.module}.{name}"), pos)
                mod.imports.append(f"{st.module}.{name}")
            else:
                if st.module not in self.prog.by_name:
                    raise DialectError(st.pos, f"no dialect module '{st.module}'")
                self._bind(mod, bind, ImportRef(st.module, name, pos), pos)
                if st.module not in mod.imports:
                    mod.imports.append(st.module)

    def _class_shell(self, mod: ModInfo, st: A.ClassDef) -> None:
        if len(st.bases) != 1 or not isinstance(st.bases[0], A.Name):
            raise DialectError(st.pos, "a class must derive from exactly one of Struct or Ops")
        base = self.prog.lookup(mod, st.bases[0].id)
        packed = False
        for kw in st.keywords:
            if kw.name != "packed" or not isinstance(kw.value, A.BoolLit):
                raise DialectError(kw.pos, "the only class keyword is packed=True")
            packed = kw.value.value
        if base == PreludeT("Struct"):
            self._bind(mod, st.name, TypeRef(StructT(st.name, mod.name, st.pos, packed)), st.pos)
        elif base == PreludeT("Ops"):
            if st.keywords:
                raise DialectError(st.keywords[0].pos, "packed=True applies only to Struct classes")
            self._bind(mod, st.name, TypeRef(OpsT(st.name, mod.name, st.pos)), st.pos)
        else:
            raise DialectError(st.bases[0].pos, "a class must derive from Struct or Ops (pyhv.lang)")

    def _func_shell(self, mod: ModInfo, st: A.FunctionDef) -> None:
        asm = False
        for deco, pos in st.decorators:
            if deco != "asm_function" or self.prog.lookup(mod, deco) != PreludeT("asm_function"):
                raise DialectError(pos, f"decorator '{deco}' is not dialect (only @asm_function)")
            asm = True
        static = not _public(st.name) and not asm
        cname = f"{mod.prefix}__{st.name.lstrip('_')}" if static else st.name
        fi = FuncInfo(st.name, mod, st, cname, static, asm)
        self._bind(mod, st.name, fi, st.pos)
        mod.funcs.append(fi)

    def _module_assign(self, mod: ModInfo, st: A.AnnAssign) -> None:
        if not isinstance(st.target, A.Name):
            raise DialectError(st.target.pos, "module-level assignment target must be a plain name")
        ann = st.annotation
        is_final = (isinstance(ann, A.Name) and ann.id == "Final") or (
            isinstance(ann, A.Subscript) and isinstance(ann.value, A.Name) and ann.value.id == "Final")
        if not is_final or st.value is None:
            raise DialectError(st.pos, "plain mutable module globals are not dialect "
                                       "(use NAME: Final = ... or Static/PerCpu storage)")
        name = st.target.id
        v = st.value
        if isinstance(v, A.Call) and isinstance(v.func, A.Name) and v.func.id in ("Static", "PerCpu", "OpsSlot") \
                and self.prog.lookup(mod, v.func.id) == PreludeT(v.func.id):
            if len(v.args) != 1 or v.kwargs:
                raise DialectError(v.pos, f"{v.func.id}(T) takes exactly one class")
            # the class is resolved in phase 2; record a placeholder storage
            static = not _public(name)
            cname = f"{mod.prefix}__{name.lstrip('_')}"
            si = StorageInfo(name, mod, st.pos, StorageT(v.func.id, StructT("?", "", st.pos, False)), cname, static)
            self._bind(mod, name, si, st.pos)
            mod.storages.append(si)
            return
        static = not _public(name)
        cname = f"{mod.prefix}__{name.lstrip('_')}"
        ci = ConstInfo(name, mod, st, cname, static, VOID, v)
        self._bind(mod, name, ci, st.pos)
        mod.consts.append(ci)

    # ---------------------------------------------------------------- phase 2: types
    def resolve_type(self, mod: ModInfo, e: A.Expr, *, in_struct: bool = False) -> Type:
        if isinstance(e, A.NoneLit):
            return VOID
        if isinstance(e, A.Name):
            if e.id in INT_TYPES and self.prog.lookup(mod, e.id) == PreludeT(e.id):
                return INT_TYPES[e.id]
            if e.id == "bool":
                return BOOL
            if e.id == "str":
                return STR
            sym = self.prog.lookup(mod, e.id)
            if sym == PreludeT("NoReturn"):
                return NORETURN
            if sym == PreludeT("SpinLock"):
                if not in_struct:
                    raise DialectError(e.pos, "SpinLock exists only as a struct field")
                return SPINLOCK
            if e.id == "Any":
                raise DialectError(e.pos, "'Any' is not dialect: every value has a precise type")
            if isinstance(sym, TypeRef):
                return sym.t
            raise DialectError(e.pos, f"'{e.id}' is not a dialect type")
        if isinstance(e, A.Attribute):
            t = self._attr_symbol(mod, e)
            if isinstance(t, TypeRef):
                return t.t
            raise DialectError(e.pos, "not a dialect type")
        if isinstance(e, A.Subscript) and isinstance(e.value, A.Name):
            head = self.prog.lookup(mod, e.value.id)
            if head == PreludeT("Annotated"):
                if (len(e.indices) == 2 and isinstance(e.indices[0], A.Subscript)
                        and isinstance(e.indices[0].value, A.Name)
                        and self.prog.lookup(mod, e.indices[0].value.id) == PreludeT("Array")
                        and len(e.indices[0].indices) == 1):
                    n = self._const_int(mod, e.indices[1])
                    if n <= 0:
                        raise DialectError(e.indices[1].pos, "array length must be positive")
                    elem = self.resolve_type(mod, e.indices[0].indices[0], in_struct=True)
                    if isinstance(elem, (AtomicT, type(SPINLOCK), ArrayT)) or elem in (VOID, STR):
                        raise DialectError(e.indices[0].indices[0].pos, f"arrays of {elem} are not dialect")
                    return ArrayT(elem, n)
                raise DialectError(e.pos, "Annotated is only used as Annotated[Array[T], N]")
            if head == PreludeT("Atomic"):
                inner = self.resolve_type(mod, e.indices[0]) if len(e.indices) == 1 else None
                if not in_struct:
                    raise DialectError(e.pos, "Atomic[T] exists only as a struct field")
                if not isinstance(inner, IntT) or inner.name not in ("u32", "u64"):
                    raise DialectError(e.pos, "Atomic[T] needs T = u32 or u64")
                return AtomicT(inner)
            if head == PreludeT("Callable"):
                if len(e.indices) != 2 or not isinstance(e.indices[0], A.ListExpr):
                    raise DialectError(e.pos, "write Callable[[ArgTypes...], Ret]")
                ps = tuple(self.resolve_type(mod, p) for p in e.indices[0].elts)
                return FuncT(ps, self.resolve_type(mod, e.indices[1]))
            if head == PreludeT("Array"):
                raise DialectError(e.pos, "an array type needs a length: Annotated[Array[T], N]")
        raise DialectError(e.pos, "not a dialect type")

    def _attr_symbol(self, mod: ModInfo, e: A.Attribute) -> Symbol | None:
        if isinstance(e.value, A.Name):
            base = self.prog.lookup(mod, e.value.id)
        elif isinstance(e.value, A.Attribute):
            base = self._attr_symbol(mod, e.value)
        else:
            return None
        if isinstance(base, ModuleT):
            full = f"{base.name}.{e.attr}"
            if full in self.prog.by_name:
                return ModuleT(full)
            target = self.prog.by_name.get(base.name)
            if target is None:
                raise DialectError(e.pos, f"no dialect module '{base.name}'")
            sym = self.prog.lookup(target, e.attr)
            if sym is None:
                raise DialectError(e.attr_pos, f"module '{base.name}' has no '{e.attr}'")
            return sym
        return None

    def _const_int(self, mod: ModInfo, e: A.Expr) -> int:
        if isinstance(e, A.IntLit):
            return e.value
        if isinstance(e, A.Name):
            sym = self.prog.lookup(mod, e.id)
            if isinstance(sym, ConstInfo) and sym.value is not None:
                inner = sym.value
                if isinstance(inner, A.Call) and len(inner.args) == 1:
                    inner = inner.args[0]
                if isinstance(inner, A.IntLit):
                    return inner.value
        raise DialectError(e.pos, "expected an integer literal or a Final integer constant")

    def fill_class(self, mod: ModInfo, st: A.ClassDef) -> None:
        ref = mod.symbols[st.name]
        assert isinstance(ref, TypeRef)
        t = ref.t
        for item in st.body:
            if isinstance(item, A.Pass) or (isinstance(item, A.ExprStmt) and isinstance(item.value, A.StrLit)):
                continue
            if not isinstance(item, A.AnnAssign) or not isinstance(item.target, A.Name):
                raise DialectError(item.pos, "a class body holds only annotated fields (name: Type)")
            if item.value is not None:
                raise DialectError(item.value.pos, "fields have no default values (storage starts zeroed)")
            fname = item.target.id
            if "__" in fname:
                raise DialectError(item.target.pos, f"'{fname}': field names containing '__' are reserved (the C "
                                                    "spelling of fields named like C keywords)")
            if isinstance(t, StructT):
                ft = self.resolve_type(mod, item.annotation, in_struct=True)
                if ft in (VOID, STR) or isinstance(ft, (OpsT, FuncT)):
                    raise DialectError(item.annotation.pos, f"a struct field cannot have type {ft}")
                if ft is t:
                    raise DialectError(item.annotation.pos, "a struct cannot contain itself")
                if t.field_type(fname) is not None:
                    raise DialectError(item.target.pos, f"duplicate field '{fname}'")
                t.fields.append((fname, ft, item.pos))
            elif isinstance(t, OpsT):
                ft = self.resolve_type(mod, item.annotation)
                if not isinstance(ft, (FuncT, IntT, BoolT)):
                    raise DialectError(item.annotation.pos, "an Ops field is a Callable[[...], R], a fixed-width "
                                                            "integer or a bool")
                t.fields.append((fname, ft))
        if isinstance(t, StructT):
            if not t.fields:
                # C has no empty struct (GNU C gives it size 0, the prelude's layout 0 bytes too, and two
                # locals of it may share an address): a struct holds at least one field.
                raise DialectError(st.pos, f"struct {t.name} has no fields: a struct needs at least one")
            mod.structs.append(t)
        elif isinstance(t, OpsT):
            mod.ops.append(t)

    def signature(self, fi: FuncInfo) -> None:
        mod = fi.module
        params: list[tuple[str, Type]] = []
        seen: set[str] = set()
        for p in fi.node.params:
            pt = self.resolve_type(mod, p.annotation)
            if pt == VOID or isinstance(pt, ArrayT):
                raise DialectError(p.annotation.pos, f"a parameter cannot have type {pt}")
            if p.name in seen:
                raise DialectError(p.pos, f"duplicate parameter '{p.name}'")
            check_local_name(p.name, p.pos)
            seen.add(p.name)
            params.append((p.name, pt))
        ret = self.resolve_type(mod, fi.node.returns)
        if isinstance(ret, ArrayT):
            raise DialectError(fi.node.returns.pos, "functions cannot return arrays")
        fi.params = params
        fi.ftype = FuncT(tuple(t for _, t in params), ret)

    def storage(self, si: StorageInfo) -> None:
        st = next(s for s in si.module.ast.body if isinstance(s, A.AnnAssign) and s.pos == si.pos)
        assert isinstance(st.value, A.Call)
        arg = st.value.args[0]
        t = self.resolve_type(si.module, arg)
        kind = si.type.kind
        if kind == "OpsSlot":
            if not isinstance(t, OpsT):
                raise DialectError(arg.pos, "OpsSlot(T) needs an Ops class")
        elif not isinstance(t, StructT):
            raise DialectError(arg.pos, f"{kind}(T) needs a Struct class")
        si.type = StorageT(kind, t)


def declare(prog: Program) -> Declarer:
    d = Declarer(prog)
    for m in prog.modules:
        d.collect(m)
    for m in prog.modules:
        for st in m.ast.body:
            if isinstance(st, A.ClassDef):
                d.fill_class(m, st)
        for si in m.storages:
            d.storage(si)
    for m in prog.modules:
        for s in m.structs:
            layout_struct(s)
        for fi in m.funcs:
            d.signature(fi)
    return d


__all__ = ["Program", "ModInfo", "FuncInfo", "ConstInfo", "StorageInfo", "ImportRef", "Symbol", "declare",
           "LitIntT", "Declarer"]
