"""`pyhv run --mem 256M --kernel ...` gives the guest 256 MiB (issue 13 item 5): the launcher's -m for it
(pyhv/host/guest_ram.py, from the built ELF) boots a node on which pyhv itself reports 256 MiB of guest RAM."""

from __future__ import annotations

from collections.abc import Callable

from pathlib import Path

import pytest

from compiler.build import BuildResult
from pyhv.host.guest_ram import qemu_mem_for_guest
from pyhv.host.payload import write_payload
from pyhv.host.qemu import RunOptions, run_target

from guest_images import HELLO_GUEST, assemble

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.qemu


@pytest.mark.parametrize("mem, mib", [("256M", 256), ("1G", 1024)])
def test_mem_is_the_guest_ram(built_image: Callable[[str], BuildResult], tmp_path: Path, mem: str, mib: int) -> None:
    build = built_image("qemu-virt")
    qemu_mem, note = qemu_mem_for_guest(mem, build.board, build.elf)
    assert f"the guest has {mib} MiB" in note
    kernel = tmp_path / "hello.bin"
    kernel.write_bytes(assemble(HELLO_GUEST))
    payload = write_payload(tmp_path / "payload.bin", kernel, None, "")
    options = RunOptions(gic_version=3, cpus=1, mem=qemu_mem, timeout_s=30.0,
                         extra_args=("-serial", f"file:{tmp_path / 'pyhv.log'}", "-initrd", str(payload)))
    result = run_target(REPO / "targets" / "qemu-virt", build.out_dir, options)
    assert result.ok, result.output
    assert f"ram: {int(qemu_mem[:-1])} MiB at 0x40000000" in result.lines      # what QEMU gave the node
    assert any(line.startswith(f"vm: 1 vcpus, {mib} MiB ram at ipa 0x40000000") for line in result.lines), \
        result.output
    assert "hello from the guest, psci version 0x10001" in result.lines
