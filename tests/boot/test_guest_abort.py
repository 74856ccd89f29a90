"""Issue 13 item 1 on QEMU: a bare-metal guest (assembled with keystone) jumps to an IPA with nothing there,
then loads from it. Its EL1 vector prints the ESR_EL1 / FAR_EL1 / ELR_EL1 it saw on its PL011. The
architecture (ARM DDI 0487, D23.2 ESR_EL1) gives a prefetch abort (EC 0x21 from EL1, IFSC 0x10 synchronous
external abort, FAR = ELR = the address), then a data abort (EC 0x25, DFSC 0x10, FAR = the address). The
same guest first runs on bare QEMU virt (no hypervisor), where it must report the same, proving the test right."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from compiler.build import BuildResult
from pyhv.host.bench_guest import PRINT_HELPERS, assemble
from pyhv.host.boards import load_board
from pyhv.host.payload import write_payload
from pyhv.host.qemu import QEMU, RunOptions, run_qemu, run_target

REPO = Path(__file__).resolve().parents[2]
VIRT = REPO / "targets" / "qemu-virt"
HOLE = 0x0C00_0000              # QEMU virt's empty platform-bus window; no RAM, no device in pyhv's IPA map

pytestmark = pytest.mark.qemu

GUEST = f"""
    ldr x20, =0x09000000
    adr x0, vectors
    msr vbar_el1, x0
    isb
    mov x19, #0
    ldr x9, ={HOLE:#x}
    br x9

report:
    adr x1, s_esr
    bl puts
    mrs x0, esr_el1
    bl puthex
    adr x1, s_far
    bl puts
    mrs x0, far_el1
    bl puthex
    adr x1, s_elr
    bl puts
    mrs x0, elr_el1
    bl puthex
    cbnz x19, finish
    mov x19, #1
    ldr x9, ={HOLE + 0x40:#x}
    ldr w0, [x9]
finish:
    adr x1, s_done
    bl puts
    ldr x0, =0x84000008
    hvc #0
hang:
    b hang

{PRINT_HELPERS}
s_esr:
    .asciz "abort-test: esr="
s_far:
    .asciz "abort-test: far="
s_elr:
    .asciz "abort-test: elr="
s_done:
    .asciz "abort-test: done\\n"

    .balign 2048
vectors:
    b hang
    .balign 0x200
    b report
    .balign 0x200
    b hang
"""


def _reports(output: str) -> list[tuple[int, int, int]]:
    esr = [int(v, 16) for v in re.findall(r"abort-test: esr=([0-9a-f]{16})", output)]
    far = [int(v, 16) for v in re.findall(r"abort-test: far=([0-9a-f]{16})", output)]
    elr = [int(v, 16) for v in re.findall(r"abort-test: elr=([0-9a-f]{16})", output)]
    return list(zip(esr, far, elr))


def _check(output: str) -> None:
    got = _reports(output)
    assert len(got) == 2 and "abort-test: done" in output, output[-3000:]
    (esr0, far0, elr0), (esr1, far1, _) = got
    assert esr0 >> 26 == 0x21 and esr0 & 0x3F == 0x10, f"fetch: ESR_EL1 {esr0:#x}"
    assert far0 == HOLE and elr0 == HOLE
    assert esr1 >> 26 == 0x25 and esr1 & 0x3F == 0x10 and not esr1 & (1 << 6), f"load: ESR_EL1 {esr1:#x}"
    assert far1 == HOLE + 0x40


@pytest.fixture(scope="module")
def guest_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("abort-guest") / "abort.bin"
    path.write_bytes(assemble(GUEST))
    return path


def test_on_bare_qemu_the_guest_sees_a_prefetch_then_a_data_abort(guest_bin: Path) -> None:
    board = load_board(VIRT)
    cmd = [QEMU, "-M", "virt,gic-version=3", "-cpu", board.cpu_model, "-smp", "1", "-m", "256M",
           "-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot", "-net", "none",
           "-kernel", str(guest_bin)]
    result = run_qemu(cmd, 30.0)
    _check(result.output)


def test_on_pyhv_a_fetch_from_a_hole_is_a_prefetch_abort_not_undef(
        built_image: Callable[[str], BuildResult], guest_bin: Path) -> None:
    build = built_image("qemu-virt")
    with tempfile.TemporaryDirectory(prefix="pyhv-abort-") as tmp:
        payload = write_payload(Path(tmp) / "payload.bin", guest_bin, None, "")
        log = Path(tmp) / "pyhv.log"
        extra = ("-serial", f"file:{log}", "-initrd", str(payload))
        result = run_target(VIRT, build.out_dir, RunOptions(gic_version=3, cpus=1, timeout_s=60.0,
                                                            extra_args=extra))
        pyhv_log = log.read_text(errors="replace") if log.exists() else ""
    assert result.ok, result.output[-3000:] + pyhv_log[-2000:]
    _check(result.output)
    assert f"instruction fetch at ipa {HOLE:#x}" in pyhv_log, pyhv_log[-2000:]
    assert "undefined instruction injected" not in pyhv_log
