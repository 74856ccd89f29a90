"""Session-wide fixtures shared by every test layer.

`built_image(target)` builds a target's image once per test session into a temporary directory (never into
build/, so a developer's tree is left alone) and hands every QEMU test the same result: the image build is the
slowest step of the suite, and the tests only read the image.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from compiler.build import BuildResult, build_target

REPO = Path(__file__).resolve().parents[1]
BUILD_TOOLS = ("aarch64-linux-gnu-gcc", "qemu-system-aarch64")


@pytest.fixture(scope="session")
def built_image(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], BuildResult]:
    missing = [t for t in BUILD_TOOLS if shutil.which(t) is None]
    cache: dict[str, BuildResult] = {}
    root = tmp_path_factory.mktemp("pyhv-images")

    def build(target: str) -> BuildResult:
        if missing:
            pytest.skip("missing tools: " + ", ".join(missing))
        if target not in cache:
            cache[target] = build_target(REPO / "targets" / target, root / target, lambda _msg: None)
        return cache[target]

    return build
