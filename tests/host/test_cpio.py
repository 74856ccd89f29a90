"""The initramfs writer produces archives the real `cpio` tool lists and extracts byte-exactly."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from pyhv.host.cpio import CpioWriter


def _archive() -> bytes:
    w = CpioWriter()
    w.add_dir("bin")
    w.add_file("bin/tool", b"\x7fELF" + bytes(range(256)) * 3, 0o755)
    w.add_symlink("bin/sh", "tool")
    w.add_file("init", b"#!/bin/sh\necho hi\n", 0o755)
    w.add_file("odd", b"abc")
    return w.finish()


def test_cpio_rejects_duplicate_names() -> None:
    w = CpioWriter()
    w.add_file("a", b"")
    with pytest.raises(ValueError, match="duplicate"):
        w.add_file("a", b"x")


@pytest.mark.skipif(shutil.which("cpio") is None, reason="the cpio tool is not installed")
def test_real_cpio_extracts_what_we_wrote(tmp_path: Path) -> None:
    listing = subprocess.run(["cpio", "-it"], input=_archive(), capture_output=True, check=True)
    assert listing.stdout.decode().split() == ["bin", "bin/tool", "bin/sh", "init", "odd"]
    subprocess.run(["cpio", "-id", "--quiet"], input=_archive(), cwd=tmp_path, check=True)
    assert (tmp_path / "bin/tool").read_bytes() == b"\x7fELF" + bytes(range(256)) * 3
    assert (tmp_path / "bin/tool").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "bin/sh").is_symlink() and str((tmp_path / "bin/sh").readlink()) == "tool"
    assert (tmp_path / "odd").read_bytes() == b"abc"
