"""The example module examples/clusterinfo seen from inside the guest (docs/writing-a-module.md): the default
Linux guest on pyhv under QEMU virt (GICv3, 1 vCPU) runs `pyhv.test=clusterinfo`, which reads the device
with busybox `devmem` through /dev/mem, writes one register, and prints what it saw. The test asserts the
guest's own report against the configuration QEMU and pyhv were given."""

from __future__ import annotations

from collections.abc import Callable

import re

import pytest

from compiler.build import BuildResult
from pyhv.host.guest import REPO_ROOT
from pyhv.host.payload import guest_qemu_args
from pyhv.host.qemu import RunOptions, RunResult, run_target
from tests.boot.guest_images import guest_ram_mib

pytestmark = pytest.mark.qemu

TARGET = REPO_ROOT / "targets" / "qemu-virt"
GUEST_DIR = REPO_ROOT / "build" / "guest"      # `pyhv guest build`
RAM_MIB = 512
BOOT_TIMEOUT_S = 40.0


@pytest.fixture(scope="module")
def guest_run(tmp_path_factory: pytest.TempPathFactory, built_image: Callable[[str], BuildResult]) -> RunResult:
    kernel, initrd = GUEST_DIR / "Image", GUEST_DIR / "initramfs.cpio"
    if not (kernel.is_file() and initrd.is_file()):
        pytest.skip("no guest images: run `pyhv guest build` first")
    if "clusterinfo)" not in initrd.read_bytes().decode("latin-1"):
        pytest.skip("the guest initramfs predates pyhv.test=clusterinfo: run `pyhv guest build`")
    build: BuildResult = built_image("qemu-virt")
    out = tmp_path_factory.mktemp("clusterinfo")
    extra = guest_qemu_args(out, kernel, initrd, "console=ttyAMA0 panic=-1 pyhv.test=clusterinfo")
    options = RunOptions(gic_version=3, cpus=1, mem=f"{RAM_MIB}M", timeout_s=BOOT_TIMEOUT_S, extra_args=extra)
    return run_target(TARGET, build.out_dir, options)


def _report(result: RunResult) -> dict[str, str]:
    m = re.search(r"^clusterinfo: (magic=.*)$", result.output, re.MULTILINE)
    assert m is not None, result.output[-3000:]
    return dict(kv.split("=", 1) for kv in m.group(1).split())


def test_the_guest_boots_runs_the_test_and_powers_off(guest_run: RunResult) -> None:
    assert guest_run.ok, guest_run.output[-3000:]
    assert "pyhv-guest: done, powering off" in guest_run.output


def test_the_guest_reads_the_magic_and_the_pyhv_version(guest_run: RunResult) -> None:
    import pyhv
    major, minor, patch = (int(x) for x in pyhv.VERSION.split("."))
    report = _report(guest_run)
    assert int(report["magic"], 16).to_bytes(4, "little") == b"PYHV"
    assert int(report["version"], 16) == major << 16 | minor << 8 | patch


def test_the_guest_reads_the_configuration_it_was_given(guest_run: RunResult) -> None:
    report = _report(guest_run)
    assert int(report["nodes"]) == 1
    assert int(report["vcpus"]) == 1
    assert int(report["ram_mib"]) == guest_ram_mib(guest_run.output, RAM_MIB)
    assert int(report["node_of_vcpu0"]) == 0
    assert "pyhv-guest: nproc=1" in guest_run.lines        # the guest's own view agrees with the device


def test_a_guest_write_is_ignored_and_counted(guest_run: RunResult) -> None:
    assert "clusterinfo: after a write nodes=1 writes_ignored=1" in guest_run.lines
