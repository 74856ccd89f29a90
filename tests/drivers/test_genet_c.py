"""The GENET driver and the NIC selection go through the compiler together with the real image's modules
(unique C names, pycparser re-parse, struct layouts equal to the prelude's), and their C builds with the
AArch64 cross compiler under the image's warnings-as-errors flags. The image's boot flow does not call them
yet (pyhv/cluster/boot.py still calls virtio-net directly), so `pyhv build` alone would not compile them."""

from __future__ import annotations

import importlib
import shutil
import subprocess
from pathlib import Path

import pytest

from compiler.api import compile_modules
from compiler.sema_types import StructT
from compiler.validate import validate
from pyhv.lang.structs import struct_layout

REPO = Path(__file__).resolve().parents[2]
ENTRIES = ["pyhv.core.main", "pyhv.arch.traps", "pyhv.cluster.nic_probe"]
CROSS_FLAGS = ["-std=c11", "-ffreestanding", "-nostdlib", "-Wall", "-Wextra", "-Werror", "-mcpu=cortex-a72",
               "-mgeneral-regs-only", "-O2", "-c"]


def test_genet_and_nic_probe_compile_with_the_image_and_cross_build(tmp_path: Path) -> None:
    gen = tmp_path / "gen"
    res = compile_modules(REPO, ENTRIES, gen, max_cpus=4)
    validate(res, gen)
    assert res.program is not None
    genet_mods = [m for m in res.program.modules if "genet" in m.name or m.name == "pyhv.cluster.nic_probe"]
    assert {m.name for m in genet_mods} == {"pyhv.drivers.genet", "pyhv.drivers.genet_mdio", "pyhv.drivers.genet_regs",
                                            "pyhv.drivers.genet_setup", "pyhv.cluster.nic_probe"}
    for m in genet_mods:
        pymod = importlib.import_module(m.name)
        for s in m.structs:
            assert isinstance(s, StructT)
            lay = struct_layout(getattr(pymod, s.name))
            assert (lay.size, {f.name: f.offset for f in lay.fields}) == (s.size, s.offsets), s.name
    if shutil.which("aarch64-linux-gnu-gcc") is None:
        pytest.skip("no aarch64-linux-gnu-gcc")
    c_files = [Path(c) for c in res.c_files if "genet" in Path(c).name or "nic_probe" in Path(c).name]
    assert len(c_files) >= 3
    for c in c_files:
        r = subprocess.run(["aarch64-linux-gnu-gcc", *CROSS_FLAGS, str(c), "-o", str(tmp_path / (c.stem + ".o"))],
                           capture_output=True, text=True, cwd=c.parent)
        assert r.returncode == 0, r.stderr
