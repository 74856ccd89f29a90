"""Session-wide build of the differential corpus (each corpus module compiled and linked once, lazily)."""
from __future__ import annotations

import pytest

from .harness import DiffBuild


@pytest.fixture(scope="session")
def diff_build(tmp_path_factory: pytest.TempPathFactory) -> DiffBuild:
    return DiffBuild(tmp_path_factory.mktemp("diff"))
