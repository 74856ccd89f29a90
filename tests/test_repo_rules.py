"""Repository rules from the brief that a test can enforce.

* No hand-written C in the hypervisor image: the only tracked C sources live under tests/ and examples/.
* Assembly only in runtime/asm/.
* Dialect files never silence the type checker.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _tracked() -> list[str]:
    out = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_no_tracked_c_outside_tests_and_examples() -> None:
    offenders = [f for f in _tracked() if f.endswith((".c", ".h"))
                 and not f.startswith(("tests/", "examples/"))]
    assert offenders == []


def test_assembly_only_in_runtime_asm() -> None:
    offenders = [f for f in _tracked() if f.endswith((".S", ".s", ".asm"))
                 and not f.startswith(("runtime/asm/", "tests/", "examples/"))]
    assert offenders == []


def test_dialect_sources_have_no_type_ignore_or_any() -> None:
    offenders = []
    for sub in ("arch", "core", "drivers"):
        for path in sorted((REPO / "pyhv" / sub).rglob("*.py")):
            text = path.read_text()
            if "type: ignore" in text or "import Any" in text or "Any]" in text:
                offenders.append(str(path.relative_to(REPO)))
    assert offenders == []
