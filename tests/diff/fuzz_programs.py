"""Valid-program fuzzer: seeded generation of well-typed dialect modules (scalar functions over every width,
locals, if/elif/else, for/while loops with break/continue, augmented assignments, conversions, shifts,
divisions that may panic, conditional and boolean expressions, calls of earlier helpers that bump Static
state inside expressions, stack arrays), each run under CPython and as host C (UBSan, -O0/-O1/-O2) on the
harness's boundary inputs; the outcomes must be equal and the compiler must accept every program.

    python3 -m tests.diff.fuzz_programs --seeds 0:200          # a long run: prints the figures
    python3 -m tests.diff.fuzz_programs --seeds 7 --show       # print one generated program

The CI test (test_fuzz_programs.py) runs a few seeds. A failing seed is reproduced by its number."""
from __future__ import annotations

import argparse
import importlib.util
import inspect
import random
import sys
import tempfile
import time
import typing
from dataclasses import dataclass, field
from pathlib import Path

from .harness import (
    CorpusFunction, ModuleBuild, _scalar, build_host_library, call_py, edge_inputs, wrappers_c,
)

INTS = ("u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64")
BITS = {t: int(t[1:]) for t in INTS}


def _signed(t: str) -> bool:
    return t[0] == "i"


def _lo_hi(t: str) -> tuple[int, int]:
    b = BITS[t]
    return (-(1 << (b - 1)), (1 << (b - 1)) - 1) if _signed(t) else (0, (1 << b) - 1)


@dataclass
class Fn:
    name: str
    params: list[tuple[str, str]]
    ret: str


@dataclass
class Gen:
    rng: random.Random
    helpers: list[Fn] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)  # definitely assigned locals -> type
    types: dict[str, str] = field(default_factory=dict)  # every local of the function -> type
    arrays: list[str] = field(default_factory=list)
    counter: int = 0
    loops: int = 0
    in_helper: bool = False

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def pick(self, *weights: tuple[float, str]) -> str:
        total = sum(w for w, _ in weights)
        x = self.rng.random() * total
        for w, k in weights:
            x -= w
            if x <= 0:
                return k
        return weights[-1][1]

    # ------------------------------------------------------------------ expressions
    def literal(self, t: str) -> int:
        lo, hi = _lo_hi(t)
        return self.rng.choice([0, 1, 2, 3, 7, 8, 15, 16, 31, 32, 63, 64, 100, 127, 128, 255, 256, 1000,
                                hi, hi - 1, lo, lo + 1, -1, -2, self.rng.randint(lo, hi)]) if True else 0

    def typed_lit(self, t: str) -> str:
        v = self.literal(t)
        lo, hi = _lo_hi(t)
        if not lo <= v <= hi:
            v = self.rng.randint(lo, hi)
        return f"{t}({v})"

    def leaf(self, t: str) -> str:
        names = [n for n, nt in self.env.items() if nt == t]
        if names and self.rng.random() < 0.75:
            return self.rng.choice(names)
        return self.typed_lit(t)

    def expr(self, t: str, depth: int) -> str:
        if t == "bool":
            return self.cond(depth)
        if depth <= 0:
            return self.leaf(t)
        k = self.pick((3, "leaf"), (5, "bin"), (2, "binlit"), (1.5, "shift"), (1, "div"), (1, "unary"),
                      (1.5, "conv"), (1, "ternary"), (1.2, "call"), (0.6, "array"))
        d = depth - 1
        if k == "bin":
            op = self.rng.choice(["+", "-", "*", "&", "|", "^"])
            return f"({self.expr(t, d)} {op} {self.expr(t, d)})"
        if k == "binlit":
            op = self.rng.choice(["+", "-", "*", "&", "|", "^"])
            lo, hi = _lo_hi(t)
            v = min(max(self.literal(t), lo), hi)
            v = v if v >= 0 or _signed(t) else -v
            v = v if v <= hi else hi
            if self.rng.random() < 0.5:
                return f"({self.expr(t, d)} {op} {v})"
            return f"({v} {op} {self.expr(t, d)})"
        if k == "shift":
            op = self.rng.choice(["<<", ">>"])
            if self.rng.random() < 0.5:
                return f"({self.expr(t, d)} {op} {self.rng.randint(0, 70)})"
            ct = self.rng.choice(INTS)
            return f"({self.expr(t, d)} {op} {self.expr(ct, d)})"
        if k == "div":
            if _signed(t):
                fn = self.rng.choice(["sdiv", "srem"])
                return f"{fn}({self.expr(t, d)}, {self.expr(t, d)})"
            op = self.rng.choice(["//", "%"])
            div = self.expr(t, d) if self.rng.random() < 0.3 else f"({self.expr(t, d)} | 1)"
            return f"({self.expr(t, d)} {op} {div})"
        if k == "unary":
            return f"({self.rng.choice(['-', '~', '+'])}{self.expr(t, d)})"
        if k == "conv":
            src = self.rng.choice(INTS + ("bool",))
            return f"{t}({self.expr(src, d)})"
        if k == "ternary":
            return f"({self.expr(t, d)} if {self.cond(d)} else {self.expr(t, d)})"
        if k == "call":
            fs = [f for f in self.helpers if f.ret == t]
            if fs:
                f = self.rng.choice(fs)
                return f"{f.name}({', '.join(self.expr(pt, d) for _, pt in f.params)})"
            return self.leaf(t)
        if k == "array" and self.arrays and t == "u32":
            a = self.rng.choice(self.arrays)
            return f"{a}[{self.expr('u32', d)} & 7]"
        return self.leaf(t)

    def cond(self, depth: int) -> str:
        k = self.pick((5, "cmp"), (1.5, "andor"), (0.8, "not"), (0.5, "var"), (0.3, "lit"))
        d = depth - 1
        if depth <= 0 or k == "cmp":
            t = self.rng.choice(INTS)
            op = self.rng.choice(["==", "!=", "<", "<=", ">", ">="])
            rhs = self.expr(t, max(d, 0)) if self.rng.random() < 0.6 else str(
                min(max(self.literal(t), _lo_hi(t)[0]), _lo_hi(t)[1]))
            return f"({self.expr(t, max(d, 0))} {op} {rhs})"
        if k == "andor":
            return f"({self.cond(d)} {self.rng.choice(['and', 'or'])} {self.cond(d)})"
        if k == "not":
            return f"(not {self.cond(d)})"
        names = [n for n, nt in self.env.items() if nt == "bool"]
        if k == "var" and names:
            return self.rng.choice(names)
        return self.rng.choice(["True", "False"])

    # ------------------------------------------------------------------ statements
    def block(self, ind: str, depth: int, n: int, ret: str) -> list[str]:
        out: list[str] = []
        for _ in range(n):
            out += self.stmt(ind, depth, ret)
        return out

    def scoped(self, ind: str, depth: int, n: int, ret: str) -> list[str]:
        saved = dict(self.env)
        body = self.block(ind, depth, n, ret) or [f"{ind}pass"]
        self.env = saved
        return body

    def stmt(self, ind: str, depth: int, ret: str) -> list[str]:
        k = self.pick((4, "new"), (2.5, "aug"), (1.5, "reassign"), (1.5 if depth else 0, "if"),
                      (1 if depth else 0, "for"), (0.6 if depth else 0, "while"),
                      (0.7 if self.loops else 0, "jump"), (0.5, "ret"), (0.4 if self.arrays else 0, "store"),
                      (0.15, "deep"))
        e = 3
        if k == "deep":
            # Nesting near CPython's own limits (it compiles ~2 900 levels): a long operator chain or a deep
            # chain of conditional expressions, without parentheses (CPython allows only 200 of those).
            t = self.rng.choice(INTS)
            name = self.fresh("v")
            n = self.rng.randint(100, 2500)
            if self.rng.random() < 0.5:
                op = self.rng.choice(["+", "^", "-", "|"])
                body = f" {op} ".join(self.leaf(t) for _ in range(n))
            else:
                parts = [f"{self.leaf(t)} if {self.leaf(t)} < {self.leaf(t)} else" for _ in range(n // 3)]
                body = " ".join(parts) + f" {self.leaf(t)}"
            self.env[name] = t
            self.types[name] = t
            return [f"{ind}{name} = {body}"]
        if k == "new":
            t = self.rng.choice(INTS + ("bool",))
            name = self.fresh("v")
            line = f"{ind}{name} = {self.expr(t, e)}"
            self.env[name] = t
            self.types[name] = t
            return [line]
        ints = [n for n, t in self.env.items() if t != "bool"]
        if k == "aug" and ints:
            name = self.rng.choice(ints)
            t = self.env[name]
            op = self.rng.choice(["+=", "-=", "*=", "&=", "|=", "^=", "<<=", ">>="] +
                                 ([] if _signed(t) else ["//=", "%="]))
            if op in ("<<=", ">>="):
                return [f"{ind}{name} {op} {self.rng.randint(0, 40)}"]
            if op in ("//=", "%="):
                return [f"{ind}{name} {op} ({self.expr(t, 2)} | 1)"]
            return [f"{ind}{name} {op} {self.expr(t, 2)}"]
        if k == "reassign" and ints:
            name = self.rng.choice(ints)
            return [f"{ind}{name} = {self.expr(self.env[name], e)}"]
        if k == "if":
            out = [f"{ind}if {self.cond(2)}:"] + self.scoped(ind + "    ", depth - 1, self.rng.randint(1, 3), ret)
            for _ in range(self.rng.randint(0, 2)):
                out += [f"{ind}elif {self.cond(2)}:"] + self.scoped(ind + "    ", depth - 1, self.rng.randint(1, 2),
                                                                     ret)
            if self.rng.random() < 0.6:
                out += [f"{ind}else:"] + self.scoped(ind + "    ", depth - 1, self.rng.randint(1, 2), ret)
            return out
        if k == "for":
            var = self.fresh("k")
            t = self.rng.choice(["u8", "u16", "u32", "u64"])
            self.types[var] = t
            hi = f"({self.expr(t, 1)} & {self.rng.choice([3, 7, 15])})"
            head = f"{ind}for {var} in range({t}({self.rng.randint(0, 2)}), {hi}):" if self.rng.random() < 0.5 \
                else f"{ind}for {var} in range({hi}):"
            saved = dict(self.env)
            self.env[var] = t
            self.loops += 1
            body = self.block(ind + "    ", depth - 1, self.rng.randint(1, 3), ret) or [f"{ind}    pass"]
            self.loops -= 1
            self.env = saved
            return [head] + body
        if k == "while":
            w = self.fresh("w")
            self.types[w] = "u32"
            self.env[w] = "u32"
            out = [f"{ind}{w} = u32(0)", f"{ind}while {w} < {self.rng.randint(1, 9)}:", f"{ind}    {w} += 1"]
            saved = dict(self.env)
            self.loops += 1
            out += self.block(ind + "    ", depth - 1, self.rng.randint(1, 3), ret)
            self.loops -= 1
            self.env = saved
            return out
        if k == "jump":
            return [f"{ind}if {self.cond(1)}:", f"{ind}    {self.rng.choice(['break', 'continue'])}"]
        if k == "ret":
            return [f"{ind}if {self.cond(1)}:", f"{ind}    return {self.expr(ret, 2)}"]
        if k == "store" and self.arrays:
            a = self.rng.choice(self.arrays)
            return [f"{ind}{a}[{self.expr('u32', 1)} & 7] = {self.expr('u32', 2)}"]
        return [f"{ind}{self.fresh('v')} = {self.typed_lit('u32')}"]

    def function(self, name: str, public: bool) -> tuple[Fn, list[str]]:
        self.env, self.types, self.arrays, self.loops = {}, {}, [], 0
        params = [(f"p{k}", self.rng.choice(INTS + (("bool",) if public else ()))) for k in
                  range(self.rng.randint(1, 3))]
        ret = self.rng.choice(INTS)
        for p, t in params:
            self.env[p] = t
        lines = [f"def {name}({', '.join(f'{p}: {t}' for p, t in params)}) -> {ret}:"]
        if public:
            lines.append("    _st.get().n = u64(0)")
        else:
            lines.append("    _st.get().n += 1")
            self.env["tick"] = "u64"
            lines.append("    tick = _st.get().n")
        if self.rng.random() < 0.4:
            a = self.fresh("buf")
            self.arrays.append(a)
            lines.append(f"    {a} = Array(u32, 8)")
        lines += self.block("    ", 3 if public else 2, self.rng.randint(3, 8 if public else 4), ret)
        tail = f"{self.expr(ret, 3)}"
        if public:
            tail = f"{tail} ^ {ret}(_st.get().n)"
        lines.append(f"    return {tail}")
        return Fn(name, params, ret), lines


def generate(seed: int) -> str:
    g = Gen(random.Random(seed))
    out = [f'"""Generated by tests/diff/fuzz_programs.py, seed {seed}."""',
           "from pyhv.lang import (", "    Array, Static, Struct, i8, i16, i32, i64, range, sdiv, srem, u8, u16, u32, u64,",
           ")", "from typing import Final", "", "", "class State(Struct):", "    n: u64", "", "",
           "_st: Final = Static(State)", ""]
    for k in range(g.rng.randint(1, 3)):
        fn, lines = g.function(f"_h{k}", public=False)
        out += ["", *lines, ""]
        g.helpers.append(fn)
    for k in range(g.rng.randint(2, 4)):
        _fn, lines = g.function(f"f{k}", public=True)
        out += ["", *lines, ""]
    return "\n".join(out).rstrip() + "\n"


# ----------------------------------------------------------------------------------------- running


@dataclass
class SeedResult:
    seed: int
    functions: int = 0
    calls: int = 0
    panics: int = 0
    lines: int = 0
    problem: str | None = None


def _functions(module_name: str, path: Path) -> list[CorpusFunction]:
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = mod
    spec.loader.exec_module(mod)
    out = []
    for name, obj in vars(mod).items():
        if name.startswith("_") or not inspect.isfunction(obj) or obj.__module__ != module_name:
            continue
        hints = typing.get_type_hints(obj)
        result = _scalar(hints.pop("return"))
        params = tuple(_scalar(hints[p]) for p in inspect.signature(obj).parameters)
        out.append(CorpusFunction(module_name, name, params, result, obj))
    return out


def run_seed(seed: int, work: Path, inputs: int = 60) -> SeedResult:
    """Generate, compile, run both worlds; `problem` says what went wrong (None: they agree)."""
    from compiler.api import compile_modules
    from compiler.diagnostics import DialectError

    name = f"fuzz_{seed}"
    src = generate(seed)
    res = SeedResult(seed, lines=src.count("\n"))
    d = work / name
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{name}.py"
    path.write_text(src)
    try:
        fns = _functions(name, path)
    except Exception as e:  # a generator bug: the program must be valid Python
        res.problem = f"CPython cannot load the program: {type(e).__name__}: {e}"
        return res
    b = ModuleBuild(name, fns, d / "out")
    try:
        cr = compile_modules(d, [name], d / "out", max_cpus=1, host=True)
    except DialectError as e:
        res.problem = f"compiler rejected a valid program:\n{e.render()}"
        return res
    except Exception as e:
        import traceback
        res.problem = f"internal compiler error: {type(e).__name__}: {e}\n{traceback.format_exc()}"
        return res
    b.c_files = list(cr.c_files)
    b.include_dirs = sorted({p.parent for p in cr.h_files} | {d / "out"})
    b.wrappers = d / "out" / "diff_wrappers.c"
    b.wrappers.write_text(wrappers_c(fns))
    build_host_library(b)
    if b.error is not None:
        res.problem = b.error
        return res
    res.functions = len(fns)
    for fn in fns:
        for args in edge_inputs(fn, inputs, seed):
            py = call_py(fn, args)
            res.calls += 1
            res.panics += py[0] == "panic"
            for level, c in b.call_c(fn, args).items():
                if c != py:
                    res.problem = f"{fn.name}{args}: C ({level}) gives {c}, CPython gives {py}"
                    return res
    return res


def _seeds(spec: str) -> list[int]:
    if ":" in spec:
        a, b = spec.split(":")
        return list(range(int(a), int(b)))
    return [int(x) for x in spec.split(",")]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m tests.diff.fuzz_programs")
    ap.add_argument("--seeds", default="0:50", help="A:B (half-open range) or a comma list")
    ap.add_argument("--inputs", type=int, default=60, help="argument tuples per function")
    ap.add_argument("--show", action="store_true", help="print the generated programs instead of running")
    args = ap.parse_args(argv)
    seeds = _seeds(args.seeds)
    if args.show:
        for s in seeds:
            print(generate(s))
        return 0
    t0 = time.monotonic()
    total = SeedResult(-1)
    bad: list[SeedResult] = []
    with tempfile.TemporaryDirectory(prefix="pyhv-fuzz-") as tmp:
        for s in seeds:
            r = run_seed(s, Path(tmp), args.inputs)
            total.functions += r.functions
            total.calls += r.calls
            total.panics += r.panics
            total.lines += r.lines
            if r.problem is not None:
                bad.append(r)
                print(f"seed {s}: {r.problem}", flush=True)
    dt = time.monotonic() - t0
    print(f"{len(seeds)} programs ({total.lines} lines, {total.functions} public functions), {total.calls} "
          f"inputs x 3 optimisation levels, {total.panics} panicking inputs; {len(bad)} failing seeds; "
          f"{dt:.0f} s")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
