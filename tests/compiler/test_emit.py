"""The generated C: it compiles (host gcc and the AArch64 cross compiler, -Wall -Wextra -Werror), re-parses
with pycparser, its struct layouts equal the prelude's, and the real hypervisor image goes through."""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from compiler.api import CompileResult, compile_modules
from compiler.sema_types import StructT
from compiler.validate import check_asm, check_c_file

from compiler_test_util import CROSS_FLAGS, GOLDEN_SRC, HOST_FLAGS, REPO, have, run_cc

SAMPLES = ["arith", "state"]
IMAGE_ENTRIES = ["pyhv.core.main", "pyhv.arch.traps"]


def _compile_all(res: CompileResult, tmp: Path) -> None:
    for c in res.c_files:
        r = run_cc("gcc", HOST_FLAGS, c)
        assert r.returncode == 0, r.stderr
        if have("aarch64-linux-gnu-gcc"):
            r = run_cc("aarch64-linux-gnu-gcc", CROSS_FLAGS, c, tmp / (c.stem + ".o"))
            assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("sample", SAMPLES)
def test_sample_compiles_with_gcc_and_cross_gcc(sample: str, tmp_path: Path) -> None:
    res = compile_modules(GOLDEN_SRC, [sample], tmp_path / "gen", max_cpus=4)
    _compile_all(res, tmp_path)


@pytest.mark.parametrize("sample", SAMPLES)
def test_sample_reparses_with_pycparser(sample: str, tmp_path: Path) -> None:
    res = compile_modules(GOLDEN_SRC, [sample], tmp_path, max_cpus=4)
    check_asm(res.asm_templates)
    for c in res.c_files:
        ast = check_c_file(c, tmp_path)
        assert ast.ext  # something was parsed


def test_struct_layout_matches_prelude(tmp_path: Path) -> None:
    from pyhv.lang.structs import struct_layout
    res = compile_modules(GOLDEN_SRC, ["state"], tmp_path, max_cpus=4)
    assert res.program is not None
    sys.path.insert(0, str(GOLDEN_SRC))
    try:
        mod = importlib.import_module("state")
    finally:
        sys.path.remove(str(GOLDEN_SRC))
    for s in res.program.by_name["state"].structs:
        lay = struct_layout(getattr(mod, s.name))
        assert (lay.size, lay.align) == (s.size, s.align), s.name
        assert {f.name: f.offset for f in lay.fields} == s.offsets, s.name


def test_percpu_and_asm_offsets_generated(tmp_path: Path) -> None:
    compile_modules(GOLDEN_SRC, ["state"], tmp_path, max_cpus=2)
    offsets = (tmp_path / "asm_offsets.h").read_text()
    assert "#define HEADER_SIZE 12" in offsets
    assert "#define PACKET_HDR 1" in offsets
    assert "#define PERCPU_SIZE 32" in offsets
    percpu = (tmp_path / "pyhv_percpu.h").read_text()
    assert "struct CpuLocal state__cpu;" in percpu
    assert "#define PYHV_MAX_CPUS 2" in percpu


def test_call_graph_includes_ops_targets(tmp_path: Path) -> None:
    res = compile_modules(GOLDEN_SRC, ["state"], tmp_path, max_cpus=2)
    assert res.call_graph["state_dev"] == []
    assert res.indirect_calls["state_dev"] == ["state__fake_probe", "state__fake_read"]
    assert any(t.text == "mrs x0, hcr_el2" for t in res.asm_templates)


@pytest.mark.skipif(not (REPO / "pyhv/core/main.py").exists(), reason="hypervisor sources not present")
def test_real_image_compiles_and_validates(tmp_path: Path) -> None:
    from compiler.validate import validate
    res = compile_modules(REPO, IMAGE_ENTRIES, tmp_path / "gen", max_cpus=4)
    validate(res, tmp_path / "gen")
    _compile_all(res, tmp_path)
    assert "hv_main" in res.call_graph


@pytest.mark.skipif(not (REPO / "pyhv/core/main.py").exists(), reason="hypervisor sources not present")
def test_real_image_layouts_match_prelude(tmp_path: Path) -> None:
    from pyhv.lang.structs import struct_layout
    res = compile_modules(REPO, IMAGE_ENTRIES, tmp_path, max_cpus=4)
    assert res.program is not None
    checked = 0
    for m in res.program.modules:
        pymod = importlib.import_module(m.name)
        for s in m.structs:
            assert isinstance(s, StructT)
            lay = struct_layout(getattr(pymod, s.name))
            assert (lay.size, {f.name: f.offset for f in lay.fields}) == (s.size, s.offsets), s.name
            checked += 1
    assert checked > 0
