"""The host FDT writer's blobs decode with the reference tool (dtc) to the tree we meant to write."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from .dtbs import rpi4_like_dtb, virt_dtb

pytestmark = pytest.mark.skipif(shutil.which("dtc") is None, reason="dtc not installed")


def decompile(blob: bytes, tmp_path: Path) -> str:
    path = tmp_path / "t.dtb"
    path.write_bytes(blob)
    out = subprocess.run(["dtc", "-I", "dtb", "-O", "dts", str(path)], capture_output=True, text=True,
                         check=True)
    return out.stdout


def test_virt_tree_decodes_with_dtc(tmp_path: Path) -> None:
    dts = decompile(virt_dtb(ncpus=2, gic=3), tmp_path)
    assert 'compatible = "arm,pl011\\0arm,primecell";' in dts
    assert "reg = <0x00 0x9000000 0x00 0x1000>;" in dts
    assert 'method = "smc";' in dts
    assert "cpu@1 {" in dts and 'enable-method = "psci";' in dts
    assert 'stdout-path = "/pl011@9000000";' in dts


def test_rpi4_tree_round_trips_through_dtc(tmp_path: Path) -> None:
    blob = rpi4_like_dtb()
    dts = decompile(blob, tmp_path)
    assert "ranges = <0x7e000000 0x00 0xfe000000 0x1800000 0x40000000 0x00 0xff800000 0x800000>;" in dts
    assert "cpu-release-addr = <0x00 0xe0>;" in dts
    src = tmp_path / "t.dts"
    src.write_text(dts)
    again = subprocess.run(["dtc", "-I", "dts", "-O", "dtb", str(src)], capture_output=True, check=True).stdout
    assert decompile(again, tmp_path) == dts
