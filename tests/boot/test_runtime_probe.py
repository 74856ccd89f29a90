"""runtime/asm on QEMU without the dialect: a small C probe (runtime_probe.c) is linked with the real
entry/vectors/selftest/string assembly, board.h, mmu_tables.S and linker script of each board and booted.
Checks EL2 entry with the MMU and caches on, BSS cleared, TPIDR_EL2 = &pyhv_percpu[i], one stack per CPU,
the frame round trip (and that a damaged frame is detected), secondaries via PSCI and via spin table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from compiler.build import BuildResult, link_image
from pyhv.host.boards import load_board
from pyhv.host.qemu import RunOptions, run_target

REPO = Path(__file__).resolve().parents[2]
PROBE_C = Path(__file__).with_name("runtime_probe.c")
SCTLR_M_C_I_SA = (1 << 0) | (1 << 2) | (1 << 12) | (1 << 3)

pytestmark = pytest.mark.qemu

ASM_OFFSETS = """\
#define TRAPFRAME_X 0
#define TRAPFRAME_SP 248
#define TRAPFRAME_ELR 256
#define TRAPFRAME_SPSR 264
#define TRAPFRAME_ESR 272
#define TRAPFRAME_FAR 280
#define TRAPFRAME_SIZE 288
#define PERCPU_SIZE 64
"""


def _build_probe(root: Path, target: str, corrupt: bool) -> BuildResult:
    inc = root / "inc"
    inc.mkdir(parents=True, exist_ok=True)
    (inc / "asm_offsets.h").write_text(ASM_OFFSETS + ("#define PROBE_CORRUPT 1\n" if corrupt else ""))
    board = load_board(REPO / "targets" / target)
    return link_image(board, REPO / "targets" / target, root / "out", root / "gen", [PROBE_C],
                      lambda _m: None, [inc])


def _run(build: BuildResult, options: RunOptions) -> tuple[str, int]:
    result = run_target(REPO / "targets" / build.board.name, build.out_dir, options)
    assert not result.timed_out, result.output
    return result.output, result.exit_status


def _check(out: str, cpus: int, mask: str = "0x0000000000000000") -> None:
    m = re.search(r"^probe: hv_main dtb=(0x[0-9a-f]+) sctlr=(0x[0-9a-f]+) tpidr_ok=1 bss_zero=1 sp=", out, re.M)
    assert m, out
    assert int(m.group(1), 16) != 0
    assert int(m.group(2), 16) & SCTLR_M_C_I_SA == SCTLR_M_C_I_SA
    assert f"probe: selftest mask={mask}" in out
    assert "probe: string 1" in out
    stacks = re.findall(rf"^probe: secondary 0x0*(\d) tpidr_ok=1 sp=(0x[0-9a-f]+) selftest={mask}$", out, re.M)
    assert sorted(int(c) for c, _ in stacks) == list(range(1, cpus)), out
    assert len({sp for _, sp in stacks}) == cpus - 1            # a distinct stack per CPU
    assert f"probe: all cpus up 0x{cpus:016x}" in out


@pytest.mark.parametrize("gic", [3, 2])
def test_runtime_boots_on_qemu_virt_with_psci_secondaries(tmp_path: Path, gic: int) -> None:
    out, status = _run(_build_probe(tmp_path, "qemu-virt", False),
                       RunOptions(gic_version=gic, cpus=4, mem="1G", timeout_s=20.0))
    _check(out, 4)
    assert status == 0


def test_runtime_boots_on_raspi4b_with_spin_table_secondaries(tmp_path: Path) -> None:
    out, status = _run(_build_probe(tmp_path, "rpi4", False), RunOptions(timeout_s=20.0))
    _check(out, 4)
    assert status == 0


def test_selftest_reports_a_register_the_handler_damaged(tmp_path: Path) -> None:
    out, _ = _run(_build_probe(tmp_path, "qemu-virt", True), RunOptions(cpus=2, mem="512M", timeout_s=20.0))
    _check(out, 2, mask="0x0000000000000020")
