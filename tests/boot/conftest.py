"""Shared fixtures for the boot tests: each target is built once per session into a temporary directory
(never into build/, so a developer's tree is left alone)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOOLS = ("aarch64-linux-gnu-gcc", "qemu-system-aarch64")


def tools_missing() -> list[str]:
    return [t for t in TOOLS if shutil.which(t) is None]


@pytest.fixture(scope="session")
def build_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if tools_missing():
        pytest.skip("missing tools: " + ", ".join(tools_missing()))
    return tmp_path_factory.mktemp("pyhv-build")
