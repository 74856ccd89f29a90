"""The guest's test programs as `pyhv guest build` makes them (pyhv/host/guest.py): one static multi-call
binary from examples/guest/*.c, dispatching on argv[0]. Run here under QEMU's user-mode emulator
(qemu-aarch64, host threads for the guest's), which checks the dispatch and the programs' own logic in
seconds; the full-system runs are tests/boot/test_guest_programs.py."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pyhv.host.guest import GUEST_PROGRAMS, build_test_programs

TOOLS = ("aarch64-linux-gnu-gcc", "qemu-aarch64")


@pytest.fixture(scope="module")
def multicall(tmp_path_factory: pytest.TempPathFactory) -> Path:
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        pytest.skip("missing tools: " + ", ".join(missing))
    work = tmp_path_factory.mktemp("guest-programs")
    exe = build_test_programs(sorted(GUEST_PROGRAMS.glob("*.c")), work)
    for src in GUEST_PROGRAMS.glob("*.c"):
        (work / src.stem).symlink_to(exe.name)
    return work


def _run(work: Path, program: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["qemu-aarch64", str(work / program), *args], capture_output=True, text=True,
                          timeout=120)


def test_every_program_is_in_the_binary_and_an_unknown_name_is_refused(multicall: Path) -> None:
    exe = multicall / "guest-tests"
    assert exe.stat().st_size < 1024 * 1024          # one copy of static glibc, stripped
    (multicall / "no_such_program").symlink_to("guest-tests")
    proc = _run(multicall, "no_such_program")
    assert proc.returncode == 127 and "no program named no_such_program" in proc.stderr


def test_mem_pattern_keeps_its_interface_and_reports_each_pass(multicall: Path) -> None:
    proc = _run(multicall, "mem_pattern", "4")
    assert proc.returncode == 0, proc.stdout
    assert len(re.findall(r"mem-pattern: pass=\d size=4MiB bad=0 write_ms=\d+ verify_ms=\d+", proc.stdout)) == 2
    assert re.search(r"mem-pattern: size=4MiB bad=0 ok passes=2 cpu=-1 ms=\d+", proc.stdout)


def test_litmus_counts_every_iteration_and_sees_no_forbidden_outcome(multicall: Path) -> None:
    proc = _run(multicall, "litmus", "3000", "0,0")          # one CPU: threads take turns, still valid
    assert proc.returncode == 0, proc.stdout
    lines = re.findall(r"litmus: (\S+) iterations=3000 forbidden=0 invalid=0 outcomes=(\S+)", proc.stdout)
    assert len(lines) == 8
    for name, outcomes in lines:
        assert sum(int(o.split(":")[1]) for o in outcomes.split(",")) == 3000, name
    assert "litmus: tests=8 iterations=3000 failed=0 ok" in proc.stdout


def test_clock_migrate_refuses_a_single_cpu(multicall: Path) -> None:
    proc = _run(multicall, "clock_migrate", "10", "50", "0", "0")
    assert proc.returncode == 2 and "FAIL (needs two CPUs" in proc.stdout
