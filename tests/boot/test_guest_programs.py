"""The guest-side test programs of issue 8's must-show list (examples/guest/litmus.c, cpu_report.c,
clock_migrate.c, cpu_hotplug.c, mem_pattern.c), run by the default guest's /init (`pyhv.test=name:args`,
pyhv/host/guest.py) on ONE pyhv node (qemu-virt, GICv3, 2 vCPUs), and once on bare QEMU (no pyhv) to show
the programs themselves are right. Every assertion reads what the guest printed on its console; the
forbidden litmus outcomes are checked from the printed outcome counts, not from the program's own verdict.
The same programs run across nodes once issue 8 lands; there the counts below become the must-show ones
(litmus and clock >= 100 000, hotplug 50)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from compiler.build import BuildResult
from pyhv.host.payload import guest_qemu_args
from pyhv.host.qemu import QEMU, RunOptions, RunResult, run_qemu, run_target

from guest_images import linux_guest

REPO = Path(__file__).resolve().parents[2]

LITMUS_ITERATIONS = 100_000
# A migration costs ~2.4-4 ms of TCG on the loaded 2-core machine (bare QEMU as on pyhv), so the single-node
# run does 5 000 to keep this file near 3 minutes; the cluster must-show asks for 100 000 (the default).
CLOCK_MIGRATIONS = 5_000
# The failure this catches is a ~1 100 s jump (a counter behind another CPU's, wrapped by the clocksource
# arithmetic); a descheduled vCPU thread on a loaded host legitimately stalls the guest (up to 0.64 s seen
# on bare QEMU with the 2-core machine at load 5).
CLOCK_BOUND_MS = 5000
HOTPLUG_CYCLES = 50
MEM_MIB = 64

# Outcome key (digits in the order litmus.c names the registers / final values) that the AArch64 model
# forbids; LB without dependencies forbids nothing.
FORBIDDEN = {
    "MP+dmb.sy": "10",       # r1=y=1, r2=x=0
    "SB+dmb.sy": "00",       # both loads miss the other thread's store
    "LB": None,
    "LB+datas": "11",
    "LB+addrs": "11",
    "CoRR": "10",            # new value, then the old one
    "2+2W+dmb.sy": "11",     # final x=1 and y=1: each thread's first write is coherence-last
    "IRIW+addrs": "1010",    # the readers see the two writes in opposite orders
}

pytestmark = pytest.mark.qemu


@pytest.fixture(scope="module")
def virt_build(built_image: Callable[[str], BuildResult]) -> BuildResult:
    return built_image("qemu-virt")


def _tests(litmus: int, clock: int, hotplug: int) -> str:
    return f"litmus:{litmus},cpus,clock:{clock}:{CLOCK_BOUND_MS},hotplug:{hotplug},mem:{MEM_MIB}:2"


def _guest() -> tuple[Path, Path]:
    guest = linux_guest()
    if guest is None:
        pytest.skip("no guest images: run `pyhv guest build` first")
    return guest


def _check_litmus(text: str, iterations: int, cpus: int) -> None:
    found = re.findall(r"litmus: (\S+) iterations=(\d+) forbidden=(\d+) invalid=(\d+) outcomes=(\S+) "
                       r"cpus=(\S+) pinned=(\w+)", text)
    assert sorted(f[0] for f in found) == sorted(FORBIDDEN), text[-3000:]
    for name, its, forbidden, invalid, outcomes, on_cpus, pinned in found:
        counts = {key: int(n) for key, n in (o.split(":") for o in outcomes.split(","))}
        assert int(its) >= iterations and sum(counts.values()) == int(its), (name, its, outcomes)
        assert int(invalid) == 0 and pinned == "yes", name
        bad = FORBIDDEN[name]
        assert bad is None or counts.get(bad, 0) == 0, f"{name}: forbidden outcome {bad} seen: {outcomes}"
        assert int(forbidden) == 0, name
        assert len(counts) >= 2, f"{name}: only {outcomes}: the threads never interleaved"
        # the threads sat on the first and the last CPU (different nodes on a cluster)
        assert set(on_cpus.split(",")) == {"0", str(cpus - 1)}, (name, on_cpus)
    assert re.search(rf"litmus: tests=8 iterations={iterations} failed=0 ok", text)


def _check_cpu_report(text: str, cpus: int) -> None:
    reports = re.findall(r"cpu_report: cpu=(\d+) sched_getcpu=(\d+) mpidr_aff=(\S+) .*pinned=(\w+)", text)
    assert [int(r[0]) for r in reports] == list(range(cpus)), text[-3000:]
    for cpu, seen, mpidr, pinned in reports:
        assert seen == cpu and pinned == "yes", (cpu, seen, pinned)
    # qemu-virt's MPIDRs are Aff0 = the CPU number (pyhv's FDT copies them)
    assert [int(r[2], 16) for r in reports] == list(range(cpus))
    assert f"cpu_report: cpus={cpus} pinned={cpus} mpidr_distinct=yes ok" in text


def _check_clock(text: str, migrations: int) -> None:
    m = re.search(r"clock_migrate: migrations=(\d+) requested=(\d+) cpus=(\d+) misses=(\d+) decreases=(\d+) "
                  r"max_back_ns=(\d+) max_jump_us=(\d+) bound_ms=(\d+) over_bound=(\d+) counter_decreases=(\d+)",
                  text)
    assert m is not None, text[-3000:]
    moved, requested, _cpus, _misses, decreases, _back, jump_us, _bound, over, counter_back = map(int, m.groups())
    assert requested == migrations and moved >= migrations
    assert decreases == 0 and counter_back == 0, m.group(0)
    assert jump_us < CLOCK_BOUND_MS * 1000 and over == 0, m.group(0)


def _check_hotplug(text: str, cycles: int, cpus: int) -> None:
    m = re.search(r"cpu_hotplug: cycles=(\d+) cpus=(\d+) offlined=(\d+) onlined=(\d+) ran=(\d+) failures=(\d+)",
                  text)
    assert m is not None, text[-3000:]
    assert tuple(map(int, m.groups())) == (cycles, cpus - 1, cycles * (cpus - 1), cycles * (cpus - 1),
                                           cycles * (cpus - 1), 0), m.group(0)
    assert "failed to come online" not in text and "failed to die" not in text
    # Linux's own account of each cycle: CPU 1 killed (PSCI CPU_OFF) and booted again (PSCI CPU_ON)
    assert text.count("psci: CPU1 killed") == cycles
    assert text.count("CPU1: Booted secondary processor") == cycles + 1      # + the boot itself


def _check_all(result: RunResult, cpus: int, litmus: int, clock: int, hotplug: int) -> None:
    text = result.output
    assert result.ok, text[-3000:]
    assert f"pyhv-guest: nproc={cpus}" in result.lines
    _check_litmus(text, litmus, cpus)
    _check_cpu_report(text, cpus)
    _check_clock(text, clock)
    _check_hotplug(text, hotplug, cpus)
    assert re.search(rf"mem-pattern: size={MEM_MIB}MiB bad=0 ok passes=2 ", text)
    assert len(re.findall(rf"mem-pattern: pass=\d size={MEM_MIB}MiB bad=0 ", text)) == 2
    assert not re.search(r"pyhv-guest: (test|insmod) \S+ FAILED", text)
    assert "pyhv-guest: done, powering off" in text


def test_the_guest_programs_pass_on_one_pyhv_node(virt_build: BuildResult, tmp_path: Path) -> None:
    kernel, initrd = _guest()
    tests = _tests(LITMUS_ITERATIONS, CLOCK_MIGRATIONS, HOTPLUG_CYCLES)
    extra = guest_qemu_args(tmp_path, kernel, initrd, f"console=ttyAMA0 panic=-1 pyhv.test={tests}")
    options = RunOptions(gic_version=3, cpus=2, mem="512M", timeout_s=300.0, extra_args=extra)
    result = run_target(REPO / "targets" / "qemu-virt", virt_build.out_dir, options)
    _check_all(result, 2, LITMUS_ITERATIONS, CLOCK_MIGRATIONS, HOTPLUG_CYCLES)
    assert "PANIC" not in (tmp_path / "pyhv.log").read_text()


def test_the_guest_programs_pass_on_bare_qemu(tmp_path: Path) -> None:
    # No pyhv: the guest runs on QEMU's own virt machine at EL1, which shows the programs are right (a
    # failure on pyhv alone is then pyhv's). Smaller counts: this only checks the programs.
    kernel, initrd = _guest()
    litmus, clock, hotplug = 10_000, 1_000, 5
    cmd = [QEMU, "-M", "virt,gic-version=3", "-cpu", "cortex-a72", "-smp", "2", "-m", "512M",
           "-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot", "-net", "none",
           "-kernel", str(kernel), "-initrd", str(initrd),
           "-append", f"console=ttyAMA0 panic=-1 pyhv.test={_tests(litmus, clock, hotplug)}"]
    _check_all(run_qemu(cmd, 180.0), 2, litmus, clock, hotplug)
