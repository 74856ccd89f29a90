"""The default Linux guest on the rpi4 image under QEMU raspi4b with 4 vCPUs (issue 3), and the SD card that
carries the guest payload (docs/vm-model.md, "How the guest reaches pyhv").

QEMU loads the payload with -initrd at RAM + 128 MiB (the board record's payload_addr, where config.txt's
`initramfs` line puts it on a real card) and writes /chosen linux,initrd-start/end into the host DTB.
The guest console is UART0 (QEMU's stdout); pyhv's log moves to the mini UART (QEMU's second serial port,
a file here) once the VM is set up. raspi4b's RAM as QEMU describes it is 960 MiB (below the VideoCore
carve-out); pyhv keeps what it prints (a few MiB). Multi-threaded TCG: 4 vCPUs on the 2-core CI machine (docs/wfi-policy.md)."""

from __future__ import annotations

from collections.abc import Callable

import re
import shutil
from pathlib import Path

import pytest

from compiler.build import BuildResult, sdcard_add_payload
from pyhv.host.payload import guest_qemu_args, read_entries
from pyhv.host.qemu import RunOptions, run_target

from guest_images import guest_ram_mib, linux_guest

REPO = Path(__file__).resolve().parents[2]
TARGET = REPO / "targets" / "rpi4"
HOST_RAM_MIB = 960              # QEMU raspi4b's /memory: 0..0x3c000000
CPUS = 4
TIMEOUT_S = 150.0
TESTS = "atomic,mem,timer"

pytestmark = pytest.mark.qemu


@pytest.fixture(scope="session")
def rpi4_build(built_image: Callable[[str], BuildResult]) -> BuildResult:
    return built_image("rpi4")


def test_the_sd_card_carries_the_payload_at_the_board_address(rpi4_build: BuildResult, tmp_path: Path) -> None:
    payload = tmp_path / "payload.bin"
    payload.write_bytes(b"PYHV-not-really-a-payload")
    out = tmp_path / "rpi4"         # a copy: the session's shared build stays as built
    shutil.copytree(rpi4_build.out_dir / "sdcard", out / "sdcard")
    for name in ("pyhv.bin", "host.dtb"):
        shutil.copyfile(rpi4_build.out_dir / name, out / name)
    files = sdcard_add_payload(rpi4_build.board, out, payload)
    card = out / "sdcard"
    assert card / "payload.bin" in files
    assert (card / "payload.bin").read_bytes() == payload.read_bytes()
    config = (card / "config.txt").read_text().splitlines()
    assert "initramfs payload.bin 0x8000000" in config
    assert "device_tree=host.dtb" in config and "kernel_address=0x200000" in config


def test_linux_boots_on_rpi4_with_four_vcpus(rpi4_build: BuildResult, tmp_path: Path) -> None:
    guest = linux_guest()
    if guest is None:
        pytest.skip("no guest images: run `pyhv guest build` first")
    kernel, initrd = guest
    extra = guest_qemu_args(tmp_path, kernel, initrd, f"console=ttyAMA0 panic=-1 pyhv.test={TESTS}")
    assert [e.kind for e in read_entries((tmp_path / "payload.bin").read_bytes())] == [1, 2, 3]
    result = run_target(TARGET, rpi4_build.out_dir, RunOptions(cpus=CPUS, timeout_s=TIMEOUT_S, extra_args=extra))
    text = result.output
    assert result.ok, text[-3000:]                   # exit 0: the watchdog reset after the guest's SYSTEM_OFF
    assert f"pyhv-guest: nproc={CPUS}" in result.lines
    mem = re.search(r"pyhv-guest: MemTotal:\s+(\d+) kB", text)
    assert mem is not None, text[-3000:]
    guest_ram_kib = guest_ram_mib(text, HOST_RAM_MIB) * 1024
    assert guest_ram_kib * 0.85 < int(mem.group(1)) <= guest_ram_kib
    assert re.search(rf"atomic-counter: threads={CPUS} pinned={CPUS} total=(\d+) expected=\1 ok", text)
    assert "mem-pattern: size=32MiB bad=0 ok" in text
    assert "timer-check: early=0 ok" in text
    assert "pyhv-guest: done, powering off" in text
    # pyhv's own log went to the mini UART after the set-up, so it does not mix with the guest's console
    log = (tmp_path / "pyhv.log").read_text(errors="replace")
    assert "pyhv: the guest powered off" in log and "PANIC" not in log
    assert "vm: pyhv log continues on the mini uart at 0xfe215040" in text
    assert "pyhv: the guest powered off" not in text
