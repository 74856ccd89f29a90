"""The valid-program fuzzer (fuzz_programs.py) in CI: a few seeded programs must compile and agree between
CPython and host C at -O0/-O1/-O2 with UBSan. Long runs: python3 -m tests.diff.fuzz_programs --seeds 0:200."""
from __future__ import annotations

from pathlib import Path

import pytest

from .fuzz_programs import generate, run_seed

SEEDS = range(8)


@pytest.mark.parametrize("seed", SEEDS)
def test_generated_program_agrees(seed: int, tmp_path: Path) -> None:
    r = run_seed(seed, tmp_path, inputs=30)
    assert r.problem is None, f"seed {seed}: {r.problem}"
    assert r.functions >= 2 and r.calls > 0


def test_generation_is_seeded() -> None:
    assert generate(3) == generate(3) and generate(3) != generate(4)
