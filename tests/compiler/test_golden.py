"""Golden snapshots of the generated C for representative modules. Regenerate with PYHV_UPDATE_GOLDEN=1."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from compiler.api import compile_modules

from compiler_test_util import GOLDEN, GOLDEN_SRC

CASES = ["arith", "state"]
FILES = ["{m}.c", "{m}.h", "pyhv_percpu.h", "asm_offsets.h"]


@pytest.mark.parametrize("module", CASES)
def test_golden_output(module: str, tmp_path: Path) -> None:
    compile_modules(GOLDEN_SRC, [module], tmp_path, max_cpus=4)
    want_dir = GOLDEN / module
    update = os.environ.get("PYHV_UPDATE_GOLDEN") == "1"
    for pattern in FILES:
        name = pattern.format(m=module)
        got = (tmp_path / name).read_text()
        want = want_dir / name
        if update:
            want_dir.mkdir(exist_ok=True)
            want.write_text(got)
            continue
        assert want.exists(), f"missing golden {want}; run with PYHV_UPDATE_GOLDEN=1"
        assert got == want.read_text(), f"{name} differs from {want} (PYHV_UPDATE_GOLDEN=1 to accept)"
