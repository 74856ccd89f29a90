"""Guests on pyhv under QEMU virt (docs/vm-model.md, "How the guest reaches pyhv"): a bare-metal guest
first (HVC + emulated PL011), then the default Linux guest on GICv3 (1, 2 vCPUs) and GICv2 (2 vCPUs).
Every assertion reads what the guest printed on its console (the first serial port; pyhv's own log is on
the second) and QEMU's exit status (0 = the guest's PSCI SYSTEM_OFF powered the node off)."""

from __future__ import annotations

from collections.abc import Callable

import re
from pathlib import Path

import pytest

from compiler.build import BuildResult
from pyhv.host.payload import guest_qemu_args, write_payload
from pyhv.host.qemu import RunOptions, RunResult, run_target

from guest_images import BAD_GUEST, HELLO_GUEST, TIMER_GUEST, assemble, guest_ram_mib, linux_guest

REPO = Path(__file__).resolve().parents[2]
RAM = "512M"
RAM_MIB = 512
LINUX_TIMEOUT_S = 150.0
TESTS = "atomic,mem,timer"

pytestmark = pytest.mark.qemu


@pytest.fixture(scope="session")
def virt_build(built_image: Callable[[str], BuildResult]) -> BuildResult:
    return built_image("qemu-virt")


def _run(build: BuildResult, extra: tuple[str, ...], gic: int, cpus: int, timeout_s: float) -> RunResult:
    options = RunOptions(gic_version=gic, cpus=cpus, mem=RAM, timeout_s=timeout_s, extra_args=extra)
    return run_target(REPO / "targets" / "qemu-virt", build.out_dir, options)


def test_a_bare_metal_guest_calls_psci_and_prints_on_its_uart(virt_build: BuildResult, tmp_path: Path) -> None:
    kernel = tmp_path / "hello.bin"
    kernel.write_bytes(assemble(HELLO_GUEST))
    payload = write_payload(tmp_path / "payload.bin", kernel, None, "")
    log = tmp_path / "pyhv.log"
    result = _run(virt_build, ("-serial", f"file:{log}", "-initrd", str(payload)), 3, 1, 30.0)
    assert result.ok, result.output
    assert "hello from the guest, psci version 0x10001" in result.lines
    assert "pyhv: the guest powered off" in log.read_text()


def test_a_misbehaving_guest_gets_answers_and_pyhv_keeps_running(virt_build: BuildResult, tmp_path: Path) -> None:
    kernel = tmp_path / "bad.bin"
    kernel.write_bytes(assemble(BAD_GUEST))
    payload = write_payload(tmp_path / "payload.bin", kernel, None, "")
    log = tmp_path / "pyhv.log"
    result = _run(virt_build, ("-serial", f"file:{log}", "-initrd", str(payload)), 3, 1, 30.0)
    assert result.ok, result.output
    assert "NAPR" in result.lines                       # every answer as the specs say (see BAD_GUEST)
    pyhv_log = log.read_text()
    assert "no device, abort injected" in pyhv_log and "pyhv: the guest powered off" in pyhv_log
    assert "PANIC" not in pyhv_log


def test_a_bare_metal_guest_sees_both_el1_timers_with_their_level_semantics(virt_build: BuildResult,
                                                                           tmp_path: Path) -> None:
    # The trapped physical counter and timer (vptimer) and a guest that masks its timers with IMASK in the
    # handler (issue 13 item 2): each timer interrupts exactly once (see TIMER_GUEST for the letters).
    kernel = tmp_path / "timers.bin"
    kernel.write_bytes(assemble(TIMER_GUEST))
    payload = write_payload(tmp_path / "payload.bin", kernel, None, "")
    log = tmp_path / "pyhv.log"
    result = _run(virt_build, ("-serial", f"file:{log}", "-initrd", str(payload)), 3, 1, 30.0)
    assert result.ok, result.output
    assert "CTIPV" in result.lines, result.output[-2000:]
    assert "RAZ/WI" not in log.read_text()


def _linux(build: BuildResult, tmp_path: Path, gic: int, cpus: int) -> RunResult:
    guest = linux_guest()
    if guest is None:
        pytest.skip("no guest images: run `pyhv guest build` first")
    kernel, initrd = guest
    extra = guest_qemu_args(tmp_path, kernel, initrd, f"console=ttyAMA0 panic=-1 pyhv.test={TESTS}")
    return _run(build, extra, gic, cpus, LINUX_TIMEOUT_S)


def _check_linux(result: RunResult, cpus: int) -> None:
    text = result.output
    assert result.ok, text[-3000:]
    assert f"pyhv-guest: nproc={cpus}" in result.lines
    mem = re.search(r"pyhv-guest: MemTotal:\s+(\d+) kB", text)
    assert mem is not None
    guest_ram_kib = guest_ram_mib(text, RAM_MIB) * 1024
    # MemTotal is the guest RAM minus what the kernel keeps for itself (its image, page tables, ...).
    assert guest_ram_kib * 0.85 < int(mem.group(1)) <= guest_ram_kib
    assert re.search(rf"atomic-counter: threads={cpus} pinned={cpus} total=(\d+) expected=\1 ok", text)
    assert "mem-pattern: size=32MiB bad=0 ok" in text
    assert "timer-check: early=0 ok" in text
    assert "pyhv-guest: done, powering off" in text


def test_linux_boots_on_gicv3_with_one_vcpu(virt_build: BuildResult, tmp_path: Path) -> None:
    _check_linux(_linux(virt_build, tmp_path, 3, 1), 1)


def test_linux_boots_on_gicv3_with_two_vcpus(virt_build: BuildResult, tmp_path: Path) -> None:
    _check_linux(_linux(virt_build, tmp_path, 3, 2), 2)


def test_linux_boots_on_gicv2_with_two_vcpus(virt_build: BuildResult, tmp_path: Path) -> None:
    _check_linux(_linux(virt_build, tmp_path, 2, 2), 2)


def test_linux_boots_on_gicv3_with_four_vcpus(virt_build: BuildResult, tmp_path: Path) -> None:
    # Four vCPUs on QEMU's multi-threaded TCG, more vCPUs than the CI machine's 2 cores: this needs the
    # per-vCPU vGIC locks and the re-kick of listed interrupts (docs/wfi-policy.md).
    _check_linux(_linux(virt_build, tmp_path, 3, 4), 4)
