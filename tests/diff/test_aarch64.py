"""Differential tests on real AArch64 semantics: the same host-mode generated C, cross-compiled with
`aarch64-linux-gnu-gcc -static -O2` (no sanitizer, full optimisation) together with aarch64_driver.c, run
under qemu-aarch64 user mode on deterministic inputs (boundary products plus seeded random values), compared
with CPython. Skipped only when the cross compiler or qemu-aarch64 is missing."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from .harness import (HERE, HARNESS_C, PANIC, DiffBuild, Outcome, call_py, corpus_functions, corpus_modules,
                      edge_inputs, random_inputs)
from .known_mismatches import KNOWN_MISMATCHES

PER_FUNCTION_EDGES = 24
PER_FUNCTION_RANDOM = 8
SEED = 7
CROSS_CFLAGS = ("-std=c11", "-static", "-O2", "-Wall", "-Wextra", "-Werror")


def _qemu() -> str | None:
    return shutil.which("qemu-aarch64") or shutil.which("qemu-aarch64-static")


def _marks(module: str) -> list[pytest.MarkDecorator]:
    """A module known not to build is xfail here too; single known-bad functions are left out of the run."""
    if module not in KNOWN_MISMATCHES:
        return []
    return [pytest.mark.xfail(strict=True, reason=KNOWN_MISMATCHES[module])]


@pytest.mark.parametrize("module", [pytest.param(m, marks=_marks(m)) for m in corpus_modules()])
def test_aarch64_matches_cpython(diff_build: DiffBuild, module: str) -> None:
    qemu = _qemu()
    if qemu is None or shutil.which("aarch64-linux-gnu-gcc") is None:
        pytest.skip("qemu-aarch64 (Debian qemu-user) or aarch64-linux-gnu-gcc not installed")
    b = diff_build.module(module)
    if b.error is not None:
        pytest.fail(b.error, pytrace=False)
    assert b.wrappers is not None
    exe = b.out_dir / "driver.aarch64"
    cmd = ["aarch64-linux-gnu-gcc", *CROSS_CFLAGS, *(f"-I{d}" for d in b.include_dirs), "-o", str(exe),
           *map(str, b.c_files), str(b.wrappers), str(HARNESS_C), str(HERE / "aarch64_driver.c")]
    cc = subprocess.run(cmd, capture_output=True, text=True)
    assert cc.returncode == 0, f"cross gcc rejected the generated C:\n{' '.join(cmd)}\n{cc.stderr}"

    cases = []
    for fn in corpus_functions(module):
        if fn.id in KNOWN_MISMATCHES:
            continue
        for args in edge_inputs(fn, PER_FUNCTION_EDGES, SEED) + random_inputs(fn, PER_FUNCTION_RANDOM, SEED):
            cases.append((fn, args))
    stdin = "".join(f"{fn.name} {' '.join(str(p.to_u64(a)) for p, a in zip(fn.params, args))}\n"
                    for fn, args in cases)
    run = subprocess.run([qemu, str(exe)], input=stdin, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == len(cases)
    mismatches = []
    for (fn, args), line in zip(cases, lines):
        got: Outcome = PANIC if line == "panic" else ("ok", fn.result.from_u64(int(line.split()[1])))
        assert line != "unknown", fn.id
        want = call_py(fn, args)
        if got != want:
            mismatches.append(f"{fn.id}{args}: aarch64 gives {got}, CPython gives {want}")
    assert mismatches == [], f"{len(mismatches)} of {len(cases)} differ:\n" + "\n".join(mismatches[:40])
