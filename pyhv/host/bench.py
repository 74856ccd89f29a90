"""`pyhv bench compile`: how fast the dialect compiler and the image build are, and how big the image is.

Measures, for one target:
  * the dialect -> C stage alone (parse, check, emit) over every module the image contains, repeated and
    reported as the median, with dialect source lines per second;
  * the whole `pyhv build` (dialect -> C, validation, cross gcc, two links, stack check), median of repeats;
  * the image's .text/.data/.bss sizes.
Prints a Markdown table (docs/bench.md quotes it with the command). Timings are wall-clock on whatever machine
runs it; nothing here asserts a speed.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def _median_time(fn: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def bench_compile(target_dir: Path, repeat: int) -> list[str]:
    from compiler.api import compile_modules
    from compiler.build import ENTRY_MODULES, build_target
    from pyhv.host.boards import load_board

    board = load_board(target_dir)
    with tempfile.TemporaryDirectory(prefix="pyhv-bench-") as tmp:
        gen = Path(tmp) / "gen"
        result = compile_modules(REPO_ROOT, ENTRY_MODULES, gen, max_cpus=board.max_cpus)
        assert result.program is not None
        files = [REPO_ROOT / m.ast.file if not Path(m.ast.file).is_absolute() else Path(m.ast.file)
                 for m in result.program.modules]
        lines = sum(len(f.read_text().splitlines()) for f in files)
        c_lines = sum(len(p.read_text().splitlines()) for p in result.files)
        transpile_s = _median_time(
            lambda: compile_modules(REPO_ROOT, ENTRY_MODULES, Path(tmp) / "gen2", max_cpus=board.max_cpus),
            repeat)
        out = Path(tmp) / "out"
        build = build_target(target_dir, out, lambda _msg: None)
        build_s = _median_time(lambda: build_target(target_dir, out, lambda _msg: None), repeat)
        sizes = build.sizes
    return [
        f"| target | {target_dir.name} |",
        "|---|---|",
        f"| dialect modules in the image | {len(files)} ({lines} lines) |",
        f"| generated C | {len(result.files)} files, {c_lines} lines |",
        f"| dialect -> C (parse, check, emit), median of {repeat} | {transpile_s:.2f} s "
        f"({lines / transpile_s:,.0f} dialect lines/s) |",
        f"| whole `pyhv build`, median of {repeat} | {build_s:.2f} s |",
        f"| image text / data+rodata+symtab / bss+stacks | {sizes['text']} / {sizes['data']} / "
        f"{sizes['bss']} bytes |",
    ]


def bench_main(target: str, repeat: int) -> int:
    target_dir = Path(target)
    if not target_dir.is_absolute() and not target_dir.exists():
        target_dir = REPO_ROOT / target
    for line in bench_compile(target_dir.resolve(), repeat):
        print(line)
    return 0
