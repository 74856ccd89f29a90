"""hv_main end to end on mock boards: the boot log of docs/boot-log.md, line by line."""

from __future__ import annotations

import re

import pytest

from pyhv.lang import Panic

from .dtbs import rpi4_like_dtb, virt_dtb
from .sim import SYMBOLS, PoweredOff, SimBoard


def test_virt_gicv3_four_cpus_boot_log() -> None:
    sim = SimBoard([0, 1, 2, 3], gic=3)
    log = sim.boot(virt_dtb(ncpus=4, gic=3, gicr_size=0x80000, model="QEMU virt test"))
    lines = log.splitlines()
    assert lines[:6] == [
        "pyhv 0.1.0: EL2 on QEMU virt test",
        "cpus: 4",
        "ram: 128 MiB at 0x40000000",
        "gic: v3, 128 irqs",
        "counter: 62500000 Hz",
        "console: pl011 at 0x9000000",
    ]
    cpu_lines = sorted(l for l in lines if l.startswith("cpu "))
    assert cpu_lines == [f"cpu {i}: mpidr 0x{i:x} timer irq 26 ok" for i in range(4)]
    trap = SYMBOLS["pyhv_trap_selftest"] + 0x40
    assert f"trap: ESR_EL2=0xf2000042 ELR_EL2=0x{trap:x} <pyhv_trap_selftest+0x40>" in lines
    assert lines[-3:] == ["frame check: ok", "all 4 cpus took a timer interrupt",
                          "pyhv: self-test passed, powering off"]
    assert sim.cpu_on_calls == [(i, SYMBOLS["pyhv_secondary_entry"], i) for i in (1, 2, 3)]


def test_virt_gicv2_boot_with_a_non_zero_boot_cpu() -> None:
    # The boot CPU is the DTB's second CPU: it becomes index 0, the others are started by MPIDR.
    sim = SimBoard([0x1, 0x0], gic=2)
    log = sim.boot(virt_dtb(ncpus=2, gic=2, mpidrs=[0x0, 0x1]))
    assert "gic: v2, 96 irqs" in log
    assert "cpu 0: mpidr 0x1 timer irq 26 ok" in log and "cpu 1: mpidr 0x0 timer irq 26 ok" in log
    assert sim.cpu_on_calls == [(0x0, SYMBOLS["pyhv_secondary_entry"], 1)]
    assert log.endswith("all 2 cpus took a timer interrupt\npyhv: self-test passed, powering off\n")


def test_a_clobbered_frame_fails_the_self_test() -> None:
    sim = SimBoard([0], gic=3)
    sim.selftest_clobber = (1 << 3) | (1 << 20)
    log = sim.boot(virt_dtb(ncpus=1, gic=3, gicr_size=0x20000))
    assert "frame check: FAILED mask 0x100008" in log
    assert log.endswith("pyhv: self-test FAILED, powering off\n")


def test_a_cpu_that_never_starts_is_reported_after_the_timeout() -> None:
    sim = SimBoard([0, 1], gic=3)

    def firmware(fid: int, a1: int, a2: int, a3: int) -> int:
        if fid == 0x8400_0008:
            raise PoweredOff()
        return 0                                        # CPU_ON "succeeds", but the CPU never runs
    sim.node.smc_handler = firmware
    log = sim.boot(virt_dtb(ncpus=2, gic=3, gicr_size=0x40000))
    assert "only 1 of 2 cpus took a timer interrupt" in log
    assert log.endswith("pyhv: self-test FAILED, powering off\n")


class PmModel:
    """The BCM2835 PM block as far as the reset goes: a full-reset RSTC write ends the run."""

    def __init__(self) -> None:
        self.writes: list[tuple[int, int]] = []

    def read(self, offset: int, width_bytes: int) -> int:
        return 0

    def write(self, offset: int, width_bytes: int, value: int) -> None:
        self.writes.append((offset, value))
        if offset == 0x1C and value & 0x30 == 0x20:
            raise PoweredOff()                              # QEMU -no-reboot: the reset ends the run


def test_rpi4_like_board_boots_spin_table_cpus_and_resets_via_the_watchdog() -> None:
    # UART, GIC and PM sit behind /soc `ranges` in the tree; the models are at the translated addresses.
    sim = SimBoard([0, 1, 2, 3], gic=2, uart_base=0xFE20_1000, gicd_base=0xFF84_1000, gicc_base=0xFF84_2000)
    pm = PmModel()
    sim.node.mmio.map(0xFE10_0000, 0x1000, pm)
    sim.spin_release_addrs = {0xE0: 1, 0xE8: 2, 0xF0: 3}
    log = sim.boot(rpi4_like_dtb())
    assert log.startswith("pyhv 0.1.0: EL2 on Raspberry Pi 4 Model B\ncpus: 4\nram: 948 MiB at 0x0\n")
    assert "gic: v2, 96 irqs" in log and "console: pl011 at 0xfe201000" in log
    assert sorted(sim.started) == [1, 2, 3]
    assert log.endswith("all 4 cpus took a timer interrupt\npyhv: self-test passed, powering off\n")
    assert pm.writes[-1] == (0x1C, 0x5A00_0020)


def test_hv_main_refuses_to_run_below_el2() -> None:
    sim = SimBoard([0], gic=3)
    sim.node.cpus[0].sysregs["currentel"] = 0x4
    with pytest.raises(Panic, match="EL2"):
        sim.boot(virt_dtb(ncpus=1))


def test_every_cpu_routes_physical_interrupts_to_el2() -> None:
    sim = SimBoard([0, 1], gic=3)
    sim.boot(virt_dtb(ncpus=2, gic=3, gicr_size=0x40000))
    for cpu in sim.node.cpus:
        assert cpu.sysregs["hcr_el2"] & 0b111000 == 0b111000         # FMO | IMO | AMO


def test_cpus_beyond_max_cpus_are_announced_and_left_alone() -> None:
    mpidrs = list(range(10))
    sim = SimBoard(mpidrs, gic=3)
    log = sim.boot(virt_dtb(ncpus=10, gic=3, gicr_size=0x20000 * 10))
    lines = log.splitlines()
    assert lines[1:3] == ["cpus: 10", "warning: the DTB lists 10 cpus; pyhv uses the first 8 (MAX_CPUS)"]
    assert sorted(sim.started) == list(range(1, 8))
    assert "all 8 cpus took a timer interrupt" in lines


def test_a_refused_cpu_on_is_reported_with_the_psci_status() -> None:
    sim = SimBoard([0, 1], gic=3)

    def firmware(fid: int, a1: int, a2: int, a3: int) -> int:
        if fid == 0x8400_0008:
            raise PoweredOff()
        return 2**64 - 2                                # INVALID_PARAMETERS (-2)
    sim.node.smc_handler = firmware
    log = sim.boot(virt_dtb(ncpus=2, gic=3, gicr_size=0x40000))
    assert "cpu 1: PSCI CPU_ON of mpidr 0x1 failed: -2" in log
    assert "only 1 of 2 cpus took a timer interrupt" in log
