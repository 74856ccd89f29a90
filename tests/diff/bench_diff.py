"""Benchmark (not a test): speed of the differential corpus under CPython and as host-compiled generated C,
per corpus module. Three figures, in calls per second:

* CPython — the dialect functions as the unit tests and the simulator run them;
* C via ctypes — one ctypes call per dialect call (dominated by ctypes' own overhead of about a microsecond);
* C native — a C loop over the same inputs (diffb_* in the generated wrappers), the real cost of the code.

Inputs are the deterministic random_inputs of the harness, keeping those that do not panic. The library is the
test build (gcc -O1 with UBSan), so native figures are conservative.

    python3 -m tests.diff.bench_diff [--calls N] [module ...]
"""
from __future__ import annotations

import argparse
import ctypes
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .harness import PANIC, DiffBuild, corpus_machine, call_py, corpus_functions, corpus_modules, random_inputs
from .known_mismatches import KNOWN_MISMATCHES

NATIVE_REPEAT = 200


@dataclass
class Tally:
    calls: int = 0
    py_s: float = 0.0
    ctypes_s: float = 0.0
    native_calls: int = 0
    native_s: float = 0.0

    def add(self, o: Tally) -> None:
        self.calls += o.calls
        self.py_s += o.py_s
        self.ctypes_s += o.ctypes_s
        self.native_calls += o.native_calls
        self.native_s += o.native_s


def _bench_module(build: DiffBuild, module: str, calls: int) -> Tally | str:
    b = build.module(module)
    if b.error is not None or b.lib is None:
        return (b.error or "no library").splitlines()[0]
    t = Tally()
    for fn in corpus_functions(module):
        if fn.id in KNOWN_MISMATCHES:
            continue
        inputs = [a for a in random_inputs(fn, calls, seed=1) if call_py(fn, a) != PANIC]
        if not inputs:
            continue
        py_args = [[p.to_py(a) for p, a in zip(fn.params, args)] for args in inputs]
        w = getattr(b.lib, f"diffw_{fn.name}")
        w.argtypes = [p.ctype for p in fn.params] + [ctypes.POINTER(fn.result.ctype)]
        w.restype = ctypes.c_int
        ref = ctypes.byref(fn.result.ctype())
        loop = getattr(b.lib, f"diffb_{fn.name}")
        loop.argtypes = [ctypes.POINTER(ctypes.c_uint64), ctypes.c_uint64, ctypes.POINTER(ctypes.c_uint64)]
        loop.restype = ctypes.c_int
        packed = [p.to_u64(a) for args in inputs for p, a in zip(fn.params, args)] * NATIVE_REPEAT
        arr = (ctypes.c_uint64 * max(len(packed), 1))(*packed)
        acc = ctypes.c_uint64()

        m, node = corpus_machine(module)
        with m.on_cpu(node, 0):  # corpus modules with Static state run on a mock CPU
            t0 = time.perf_counter()
            for pa in py_args:
                fn.py(*pa)
            t1 = time.perf_counter()
        for args in inputs:
            w(*args, ref)
        t2 = time.perf_counter()
        rc = loop(arr, len(inputs) * NATIVE_REPEAT, ctypes.byref(acc))
        t3 = time.perf_counter()
        assert rc == 0, f"{fn.id} panicked in the native loop"
        t.add(Tally(len(inputs), t1 - t0, t2 - t1, len(inputs) * NATIVE_REPEAT, t3 - t2))
    return t


def _row(name: str, t: Tally) -> str:
    py = t.calls / t.py_s
    ct = t.calls / t.ctypes_s
    nat = t.native_calls / t.native_s
    return f"{name:<16} {t.calls:>7} {py:>14,.0f} {ct:>14,.0f} {nat:>16,.0f} {nat / py:>11,.0f}x"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="CPython vs generated C speed of the differential corpus")
    ap.add_argument("--calls", type=int, default=300, help="inputs per corpus function (default 300)")
    ap.add_argument("modules", nargs="*", help="corpus modules (default: all)")
    ns = ap.parse_args(argv)
    modules: list[str] = ns.modules or corpus_modules()
    with tempfile.TemporaryDirectory(prefix="pyhv-bench-diff-") as tmp:
        build = DiffBuild(Path(tmp))
        print(f"{'module':<16} {'calls':>7} {'CPython/s':>14} {'C ctypes/s':>14} {'C native/s':>16} "
              f"{'native/CPy':>12}")
        total = Tally()
        for m in modules:
            r = _bench_module(build, m, ns.calls)
            if isinstance(r, str):
                print(f"{m:<16} not built: {r}")
                continue
            total.add(r)
            print(_row(m, r))
        if total.calls:
            print(_row("total", total))
    return 0


if __name__ == "__main__":
    sys.exit(main())
