"""Typing into the guest (issue 13 item 3): text written to QEMU's serial stdin reaches a program in the
Linux guest through the host UART's receive interrupt, pyhv/core/console_rx.py and the emulated PL011's
RX FIFO (pyhv/vdev/vpl011.py), on qemu-virt (GICv3) and on the rpi4 image under QEMU raspi4b (GICv2, UART0).

The guest's /init test `console:N` (pyhv/host/guest.py) reads one line with busybox `read` and echoes it,
then switches the tty to raw mode and reads exactly N bytes with `head -c`, printing their count and MD5.
The test types the line and pastes 4 KiB in one write (printable text with newlines, from a fixed seed)
and compares the guest's count and MD5 with its own of what it sent: a byte lost, duplicated or reordered
anywhere on the way fails it. pyhv's power-off line says how many bytes the vPL011 took and how many host
UART interrupts delivered them (so the interrupt path, not the FR-polling fallback, carried the input)."""

from __future__ import annotations

from collections.abc import Callable

import hashlib
import random
import re
from pathlib import Path

import pytest

from compiler.build import BuildResult
from pyhv.host.payload import guest_qemu_args
from pyhv.host.qemu import RunOptions, run_target

from guest_images import linux_guest

REPO = Path(__file__).resolve().parents[2]
PASTE_BYTES = 4096
LINE = b"hello pyhv, typed on the host\n"
TIMEOUT_S = 150.0

pytestmark = pytest.mark.qemu


def _paste() -> bytes:
    rng = random.Random(13)
    alphabet = bytes(range(0x20, 0x7F)) + b"\n"
    return bytes(rng.choice(alphabet) for _ in range(PASTE_BYTES))


def _type_into_the_guest(target: str, build: BuildResult, tmp_path: Path, cpus: int, gic: int | None,
                         mem: str | None) -> tuple[str, str]:
    guest = linux_guest()
    if guest is None:
        pytest.skip("no guest images: run `pyhv guest build` first")
    kernel, initrd = guest
    extra = guest_qemu_args(tmp_path, kernel, initrd, f"console=ttyAMA0 panic=-1 pyhv.test=console:{PASTE_BYTES}")
    paste = _paste()
    feed = (("pyhv-guest: console: type a line", LINE), (f"pyhv-guest: console: send {PASTE_BYTES} bytes", paste))
    options = RunOptions(gic_version=gic, cpus=cpus, mem=mem, timeout_s=TIMEOUT_S, extra_args=extra, feed=feed)
    result = run_target(REPO / "targets" / target, build.out_dir, options)
    text = result.output
    log = (tmp_path / "pyhv.log").read_text(errors="replace")
    assert result.ok, text[-3000:] + log[-2000:]
    assert "pyhv-guest: console: read '" + LINE.decode().strip() + "'" in result.lines
    got = re.search(r"pyhv-guest: console: got (\d+) bytes md5 ([0-9a-f]{32})", text)
    assert got is not None, text[-3000:]
    assert int(got.group(1)) == PASTE_BYTES
    assert got.group(2) == hashlib.md5(paste).hexdigest()
    return text, log


def _assert_the_host_irq_carried_it(text: str, log: str, intid: int) -> None:
    assert f"irq {intid} -> this cpu" in text               # printed before pyhv's log moves to its UART
    stats = re.search(r"vm: console input (\d+) bytes, (\d+) host uart irqs", log)
    assert stats is not None, log[-2000:]
    assert int(stats.group(1)) == len(LINE) + PASTE_BYTES
    assert int(stats.group(2)) > 0


@pytest.fixture(scope="session")
def virt_build(built_image: Callable[[str], BuildResult]) -> BuildResult:
    return built_image("qemu-virt")


@pytest.fixture(scope="session")
def rpi4_build(built_image: Callable[[str], BuildResult]) -> BuildResult:
    return built_image("rpi4")


def test_typed_text_and_a_4_kib_paste_reach_the_guest_on_virt(virt_build: BuildResult, tmp_path: Path) -> None:
    text, log = _type_into_the_guest("qemu-virt", virt_build, tmp_path, 2, 3, "512M")
    _assert_the_host_irq_carried_it(text, log, 33)            # virt's PL011: SPI 1


def test_typed_text_and_a_4_kib_paste_reach_the_guest_on_rpi4(rpi4_build: BuildResult, tmp_path: Path) -> None:
    text, log = _type_into_the_guest("rpi4", rpi4_build, tmp_path, 4, None, None)
    _assert_the_host_irq_carried_it(text, log, 153)           # BCM2711 UART0: SPI 121
