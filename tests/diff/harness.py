"""Differential-test harness: the corpus (tests/diff/corpus/*.py) run under CPython and as host-compiled C.

* `corpus_functions(module)` imports a corpus module under CPython and describes each public function
  (dialect signature -> scalar types, read from the annotations the prelude types carry).
* `DiffBuild` compiles one corpus module at a time with `compiler.api.compile_modules(..., host=True)`, writes a
  C wrapper per function (setjmp around the call, so a panic in C comes back as an outcome instead of stopping
  the process), links it with harness.c under UBSan into a shared library and loads it with ctypes. A module
  the compiler rejects, or whose C gcc rejects, is recorded with the full reason instead of raising.
* `call_py` / `call_c` give an `Outcome` for the same integer arguments: `("ok", value)` or `("panic", 0)`.
  The C is built once per optimisation level (`OPT_LEVELS`: results must not depend on the optimiser) and
  `call_c` returns one outcome per level. CPython runs each corpus module on one CPU of its own mock machine,
  so `Static` state and locks persist across calls there exactly as the static storage of the loaded library
  does (corpus functions that use state reset it first).

Values cross the boundary as Python ints in the type's range (signed types as negative ints); `to_u64` and
`from_u64` convert to/from the 64-bit bit patterns used by the AArch64 driver.
"""
from __future__ import annotations

import ctypes
import importlib
import inspect
import subprocess
import sys
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from pyhv.lang.errors import Panic  # noqa: E402
from pyhv.lang.ints import FIXED_TYPES  # noqa: E402
from pyhv.lang.machine import Machine, MockNode  # noqa: E402

HERE = Path(__file__).resolve().parent
CORPUS_DIR = HERE / "corpus"
CORPUS_PACKAGE = "tests.diff.corpus"
HARNESS_C = HERE / "harness.c"
OPT_LEVELS = ("-O0", "-O1", "-O2")
HOST_CFLAGS = ("-std=c11", "-shared", "-fPIC", "-fsanitize=undefined", "-fno-sanitize-recover=all",
               "-Wall", "-Wextra", "-Werror")

CType = type[ctypes.c_uint8] | type[ctypes.c_uint16] | type[ctypes.c_uint32] | type[ctypes.c_uint64] \
    | type[ctypes.c_int8] | type[ctypes.c_int16] | type[ctypes.c_int32] | type[ctypes.c_int64] \
    | type[ctypes.c_bool]

_CTYPES: dict[str, CType] = {
    "u8": ctypes.c_uint8, "u16": ctypes.c_uint16, "u32": ctypes.c_uint32, "u64": ctypes.c_uint64,
    "i8": ctypes.c_int8, "i16": ctypes.c_int16, "i32": ctypes.c_int32, "i64": ctypes.c_int64,
    "bool": ctypes.c_bool,
}

Outcome = tuple[str, int]
PANIC: Outcome = ("panic", 0)


@dataclass(frozen=True)
class Scalar:
    """A dialect scalar type as it crosses the differential boundary."""

    name: str  # "u32", "i8", "bool"
    bits: int
    signed: bool
    py: type  # the prelude class, or bool
    ctype: CType
    c_name: str  # "uint32_t", "_Bool"

    @property
    def min(self) -> int:
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def max(self) -> int:
        if self.name == "bool":
            return 1
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    def to_py(self, v: int) -> object:
        return bool(v) if self.name == "bool" else self.py(v)

    def to_u64(self, v: int) -> int:
        return v & 0xFFFF_FFFF_FFFF_FFFF

    def from_u64(self, raw: int) -> int:
        """The value of this type whose bits are the low `bits` bits of `raw`."""
        r = raw & ((1 << self.bits) - 1)
        if self.signed and r >= 1 << (self.bits - 1):
            r -= 1 << self.bits
        return r


def _scalar(t: object) -> Scalar:
    if t is bool:
        return Scalar("bool", 1, False, bool, ctypes.c_bool, "_Bool")
    for name, cls in FIXED_TYPES.items():
        if t is cls:
            return Scalar(name, cls.BITS, cls.SIGNED, cls, _CTYPES[name], cls.C_TYPE)
    raise TypeError(f"not a scalar dialect type: {t!r}")


@dataclass(frozen=True)
class CorpusFunction:
    module: str  # corpus module stem, e.g. "ints_u8"
    name: str
    params: tuple[Scalar, ...]
    result: Scalar
    py: Callable[..., object]

    @property
    def id(self) -> str:
        return f"{self.module}.{self.name}"


def corpus_modules() -> list[str]:
    return sorted(p.stem for p in CORPUS_DIR.glob("*.py") if not p.stem.startswith("_"))


def corpus_functions(module: str) -> list[CorpusFunction]:
    """The public functions of one corpus module, in source order."""
    mod = importlib.import_module(f"{CORPUS_PACKAGE}.{module}")
    out: list[CorpusFunction] = []
    for name, obj in vars(mod).items():
        if name.startswith("_") or not inspect.isfunction(obj) or obj.__module__ != mod.__name__:
            continue
        hints = typing.get_type_hints(obj)
        result = _scalar(hints.pop("return"))
        params = tuple(_scalar(hints[p]) for p in inspect.signature(obj).parameters)
        out.append(CorpusFunction(module, name, params, result, obj))
    return out


def all_functions() -> list[CorpusFunction]:
    return [f for m in corpus_modules() for f in corpus_functions(m)]


_MACHINES: dict[str, tuple[Machine, MockNode]] = {}


def corpus_machine(module: str) -> tuple[Machine, MockNode]:
    """The mock machine (one node, one CPU) a corpus module runs on under CPython, kept for the session."""
    if module not in _MACHINES:
        m = Machine()
        _MACHINES[module] = (m, m.add_node(cpus=1))
    return _MACHINES[module]


def call_py(fn: CorpusFunction, args: Sequence[int]) -> Outcome:
    """Run the dialect function under CPython. `Panic`, and a failed `assert` in the corpus, are the panic
    outcome; any other exception is an error of the prelude or the harness and propagates."""
    m, node = corpus_machine(fn.module)
    try:
        with m.on_cpu(node, 0):
            r = fn.py(*(p.to_py(a) for p, a in zip(fn.params, args)))
    except Panic:
        return PANIC
    except AssertionError as e:
        # A dialect `assert` that fails is a panic; CPython raises AssertionError for it. Only count it
        # when the failing statement is in the corpus itself, not inside the prelude.
        tb = e.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        if tb is None or not Path(tb.tb_frame.f_code.co_filename).is_relative_to(CORPUS_DIR):
            raise
        return PANIC
    if type(r) is not fn.result.py:
        raise TypeError(f"{fn.id} returned {type(r).__name__} under CPython, declared {fn.result.name}")
    return ("ok", int(typing.cast(typing.SupportsInt, r)))


# ----------------------------------------------------------------------------------------- C side


def wrappers_c(fns: Sequence[CorpusFunction]) -> str:
    """C for one module: a setjmp-guarded wrapper per function, a native benchmark loop per function, and a
    by-name dispatcher on u64 bit patterns (for the AArch64 driver)."""
    lines = [
        "/* Generated by tests/diff/harness.py: call wrappers for the differential tests. */",
        "#include <stdint.h>", "#include <stdbool.h>", "#include <setjmp.h>", "#include <string.h>", "",
        "extern jmp_buf diff_jmp;", "extern volatile int diff_active;", "",
    ]
    for f in fns:
        ps = ", ".join(p.c_name for p in f.params) or "void"
        lines.append(f"extern {f.result.c_name} {f.name}({ps});")
    lines.append("")
    for f in fns:
        params = [f"{p.c_name} a{i}" for i, p in enumerate(f.params)] + [f"{f.result.c_name} *out"]
        args = ", ".join(f"a{i}" for i in range(len(f.params)))
        lines += [
            f"int diffw_{f.name}({', '.join(params)}) {{",
            "    if (setjmp(diff_jmp) != 0) { diff_active = 0; return 1; }",
            "    diff_active = 1;",
            f"    *out = {f.name}({args});",
            "    diff_active = 0;",
            "    return 0;",
            "}", "",
        ]
    for f in fns:
        # Benchmark loop: n calls on packed argument tuples (u64 bit patterns), results folded into *acc.
        args = ", ".join(f"({p.c_name})a[k * {len(f.params)} + {i}]" for i, p in enumerate(f.params))
        lines += [
            f"int diffb_{f.name}(const uint64_t *a, uint64_t n, uint64_t *acc) {{",
            "    if (setjmp(diff_jmp) != 0) { diff_active = 0; return 1; }",
            "    diff_active = 1;",
            "    uint64_t s = 0;",
            f"    for (uint64_t k = 0; k < n; k++) s = s * 31u + (uint64_t){f.name}({args});",
            "    *acc = s;",
            "    diff_active = 0;",
            "    return 0;",
            "}", "",
        ]
    lines.append("int diff_dispatch(const char *name, const uint64_t *a, uint64_t *out) {")
    for f in fns:
        args = ", ".join([f"({p.c_name})a[{i}]" for i, p in enumerate(f.params)] + ["&r"])
        lines += [
            f"    if (strcmp(name, \"{f.name}\") == 0) {{",
            f"        {f.result.c_name} r = 0;",
            f"        int p = diffw_{f.name}({args});",
            "        *out = (uint64_t)r;",
            "        return p;",
            "    }",
        ]
    lines += ["    return -1;", "}", ""]
    return "\n".join(lines)


@dataclass
class ModuleBuild:
    """One corpus module compiled to C; `error` says why not when the compiler or gcc refused it."""

    module: str
    functions: list[CorpusFunction]
    out_dir: Path
    c_files: list[Path] = field(default_factory=list)
    include_dirs: list[Path] = field(default_factory=list)
    wrappers: Path | None = None
    error: str | None = None
    libs: dict[str, ctypes.CDLL] = field(default_factory=dict)  # optimisation level -> library

    @property
    def lib(self) -> ctypes.CDLL | None:
        """The -O2 build (benchmarks)."""
        return self.libs.get(OPT_LEVELS[-1])

    def call_c(self, fn: CorpusFunction, args: Sequence[int]) -> dict[str, Outcome]:
        """The outcome of the call in the build of every optimisation level."""
        assert self.libs, self.error
        outcomes: dict[str, Outcome] = {}
        for level, lib in self.libs.items():
            w = getattr(lib, f"diffw_{fn.name}")
            w.argtypes = [p.ctype for p in fn.params] + [ctypes.POINTER(fn.result.ctype)]
            w.restype = ctypes.c_int
            out = fn.result.ctype()
            outcomes[level] = PANIC if w(*args, ctypes.byref(out)) != 0 else ("ok", int(out.value))
        return outcomes


def compile_module(module: str, out_dir: Path) -> ModuleBuild:
    """Generate host C for one corpus module (no gcc yet)."""
    from compiler.api import compile_modules
    from compiler.diagnostics import DialectError

    b = ModuleBuild(module, corpus_functions(module), out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        res = compile_modules(REPO, [f"{CORPUS_PACKAGE}.{module}"], out_dir, max_cpus=1, host=True)
    except DialectError as e:
        b.error = f"compiler rejected {module}: {e.render()}"
        return b
    except Exception as e:  # a compiler crash is a finding too: keep the traceback text
        import traceback
        b.error = f"compiler crashed on {module}: {type(e).__name__}: {e}\n{traceback.format_exc()}"
        return b
    b.c_files = [Path(p) for p in res.c_files]
    b.include_dirs = sorted({Path(p).parent for p in res.h_files} | {out_dir})
    b.wrappers = out_dir / "diff_wrappers.c"
    b.wrappers.write_text(wrappers_c(b.functions))
    return b


def build_host_library(b: ModuleBuild) -> ModuleBuild:
    """gcc -shared with UBSan at every level of OPT_LEVELS (in parallel), then ctypes.CDLL; a gcc failure
    becomes `b.error` with its output."""
    if b.error is not None:
        return b
    assert b.wrappers is not None
    procs = []
    for level in OPT_LEVELS:
        so = b.out_dir / f"lib{b.module}{level}.so"
        cmd = ["gcc", *HOST_CFLAGS, level, *(f"-I{d}" for d in b.include_dirs), "-o", str(so),
               *map(str, b.c_files), str(b.wrappers), str(HARNESS_C)]
        procs.append((level, so, cmd, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                       text=True)))
    for level, so, cmd, proc in procs:
        _out, err = proc.communicate()
        if proc.returncode != 0 and b.error is None:
            b.error = f"host gcc rejected the generated C of {b.module}:\n{' '.join(cmd)}\n{err}"
        elif proc.returncode == 0:
            b.libs[level] = ctypes.CDLL(str(so))
    if b.error is not None:
        b.libs.clear()
    return b


class DiffBuild:
    """Per-session cache of compiled corpus modules (built lazily, one directory per module)."""

    def __init__(self, work_dir: Path) -> None:
        self.work_dir = work_dir
        self._modules: dict[str, ModuleBuild] = {}

    def module(self, name: str) -> ModuleBuild:
        if name not in self._modules:
            self._modules[name] = build_host_library(compile_module(name, self.work_dir / name))
        return self._modules[name]


# ----------------------------------------------------------------------------------------- inputs


def edge_values(s: Scalar) -> list[int]:
    """Boundary values of a type: 0, ±1, min/max and neighbours, powers of two and their neighbours, and
    every small count up to 70 (shift counts around 8/16/32/64) plus 255/256."""
    if s.name == "bool":
        return [0, 1]
    vals = {0, 1, 2, s.max, s.max - 1, s.min, s.min + 1, 255, 256, *range(0, 71)}
    for k in range(s.bits):
        vals |= {1 << k, (1 << k) - 1, (1 << k) + 1}
    if s.signed:
        vals |= {-v for v in list(vals)}
    return sorted(v for v in vals if s.min <= v <= s.max)


def core_edges(s: Scalar) -> list[int]:
    """A short list of the most telling values (for exhaustive products over several parameters)."""
    if s.name == "bool":
        return [0, 1]
    vals = [0, 1, 2, 3, 7, s.bits - 1, s.bits, s.bits + 1, 255, s.max, s.max - 1, s.min, s.min + 1,
            1 << (s.bits - 1), -1, -2, -s.bits]
    return sorted({v for v in vals if s.min <= v <= s.max})


def edge_inputs(fn: CorpusFunction, limit: int, seed: int) -> list[tuple[int, ...]]:
    """Deterministic argument tuples: the full product of core edge values if it has at most `limit`
    elements, else `limit` tuples drawn from it and from edge_values with a seeded generator."""
    import itertools
    import random

    pools = [core_edges(p) for p in fn.params]
    total = 1
    for p in pools:
        total *= len(p)
    if total <= limit:
        return list(itertools.product(*pools))
    rng = random.Random(f"{seed}:{fn.id}")
    wide = [edge_values(p) for p in fn.params]
    out = []
    for n in range(limit):
        src = pools if n % 2 == 0 else wide
        out.append(tuple(rng.choice(pool) for pool in src))
    return out


def random_inputs(fn: CorpusFunction, count: int, seed: int) -> list[tuple[int, ...]]:
    """Deterministic argument tuples mixing edge values and uniformly random values of each type."""
    import random

    rng = random.Random(f"{seed}:{fn.id}:random")
    out = []
    for _ in range(count):
        args = []
        for p in fn.params:
            args.append(rng.choice(edge_values(p)) if rng.random() < 0.4 else rng.randint(p.min, p.max))
        out.append(tuple(args))
    return out
