"""compiler/stack_depth.py: worst-case stack from gcc -fcallgraph-info=su graphs, on real gcc output."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from compiler.stack_depth import StackError, check_stack

GCC = "aarch64-linux-gnu-gcc"
pytestmark = pytest.mark.skipif(shutil.which(GCC) is None, reason="cross gcc not installed")

_ENTRIES = """
typedef unsigned long u64;
struct F { u64 x[40]; };
void hv_main(u64 dtb);
void hv_secondary_main(u64 cpu);
void arch_trap_sync(struct F *f);
void arch_trap_irq(struct F *f);
void arch_trap_unexpected(struct F *f, u64 kind);
__attribute__((noinline)) static u64 leaf(volatile u64 *p) { volatile u64 buf[BIG]; buf[0] = *p; return buf[0]; }
void hv_main(u64 dtb) { volatile u64 v = dtb; leaf(&v); }
void hv_secondary_main(u64 cpu) { (void)cpu; }
void arch_trap_sync(struct F *f) { volatile u64 v = f->x[0]; leaf(&v); }
void arch_trap_irq(struct F *f) { (void)f; }
void arch_trap_unexpected(struct F *f, u64 kind) { (void)f; (void)kind; }
"""


def _ci(tmp_path: Path, source: str, big: int) -> list[Path]:
    src = tmp_path / "t.c"
    src.write_text(source)
    subprocess.run([GCC, "-O2", "-std=c11", "-ffreestanding", f"-DBIG={big}", "-fstack-usage",
                    "-fcallgraph-info=su", "-c", str(src), "-o", str(tmp_path / "t.o")], check=True)
    return [tmp_path / "t.ci"]


def test_worst_case_is_deepest_thread_plus_frame_plus_deepest_handler(tmp_path: Path) -> None:
    report = check_stack(_ci(tmp_path, _ENTRIES, 100), set(), 288, 16384)
    assert [n.rsplit(":", 1)[-1].split(".")[0] for n in report.thread.path] == ["hv_main", "leaf"]
    assert [n.rsplit(":", 1)[-1].split(".")[0] for n in report.trap.path] == ["arch_trap_sync", "leaf"]
    assert report.thread.bytes >= 800 and report.trap.bytes >= 800
    assert report.worst_bytes == report.thread.bytes + 288 + report.trap.bytes


def test_budget_overflow_fails_and_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(StackError, match=r"hv_main -> leaf"):
        check_stack(_ci(tmp_path, _ENTRIES, 2000), set(), 288, 16384)


def test_unknown_external_call_is_an_error_not_free(tmp_path: Path) -> None:
    src = _ENTRIES.replace("void hv_secondary_main(u64 cpu) { (void)cpu; }",
                           "void mystery(void); void hv_secondary_main(u64 cpu) { (void)cpu; mystery(); }")
    with pytest.raises(StackError, match="mystery"):
        check_stack(_ci(tmp_path, src, 10), set(), 288, 16384)


def test_indirect_call_is_charged_with_the_deepest_address_taken_function(tmp_path: Path) -> None:
    src = _ENTRIES.replace("void arch_trap_irq(struct F *f) { (void)f; }",
                           "void (*volatile hook)(struct F *);\n"
                           "void arch_trap_irq(struct F *f) { hook(f); }")
    with pytest.raises(StackError, match="indirect call"):
        check_stack(_ci(tmp_path, src, 10), set(), 288, 16384)
    report = check_stack(_ci(tmp_path, src, 200), {"arch_trap_sync"}, 288, 16384)
    assert report.trap.bytes >= 1600
