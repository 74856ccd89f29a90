"""Shared helpers for the compiler tests: repo paths and C compiler invocations."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).with_name("golden")
GOLDEN_SRC = GOLDEN / "src"

CROSS_FLAGS = ["-std=c11", "-ffreestanding", "-nostdlib", "-Wall", "-Wextra", "-Werror", "-mcpu=cortex-a72",
               "-mgeneral-regs-only", "-O2", "-c"]
HOST_FLAGS = ["-std=c11", "-ffreestanding", "-Wall", "-Wextra", "-Werror", "-fsyntax-only"]


def run_cc(cc: str, flags: list[str], c_file: Path, out: Path | None = None) -> subprocess.CompletedProcess[str]:
    args = [cc, *flags, str(c_file)]
    if out is not None:
        args += ["-o", str(out)]
    return subprocess.run(args, capture_output=True, text=True, cwd=c_file.parent)


def have(tool: str) -> bool:
    return shutil.which(tool) is not None
