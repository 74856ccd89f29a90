"""PSCI calls through the DTB's conduit, spin-table release, and the BCM2835 watchdog power-off."""

from __future__ import annotations

import pytest

from pyhv.lang import Panic, i32, u64
from pyhv.lang.machine import MockCpu

from pyhv.arch.psci import PSCI_ALREADY_ON, psci_cpu_on, spin_table_release
from pyhv.core.devices import devices_probe_power
from pyhv.core.power import power_off

from .conftest import Board
from .dtbs import rpi4_like_dtb, virt_dtb

SECONDARY_ENTRY = 0x4020_0800
SPIN_ENTRY = 0x4020_0900


class Firmware:
    """Records SMC/HVC calls; CPU_ON answers `status`, SYSTEM_OFF raises PoweredOff."""

    def __init__(self, status: int = 0) -> None:
        self.calls: list[tuple[int, int, int, int]] = []
        self.status = status

    def __call__(self, fid: int, a1: int, a2: int, a3: int) -> int:
        self.calls.append((fid, a1, a2, a3))
        if fid == 0x84000008:
            raise PoweredOff()
        return self.status & (2**64 - 1)


class PoweredOff(Exception):
    pass


@pytest.fixture
def symbols(board: Board) -> None:
    board.node.symbols.update(pyhv_secondary_entry=SECONDARY_ENTRY, pyhv_spin_entry=SPIN_ENTRY)


def test_cpu_on_passes_mpidr_entry_and_cpu_index_over_smc(board: Board, symbols: None) -> None:
    fw = Firmware()
    board.node.smc_handler = fw
    board.load_dtb(virt_dtb(psci_method="smc"))
    devices_probe_power()
    assert psci_cpu_on(u64(0x101), u64(3)) == 0
    assert fw.calls == [(0xC4000003, 0x101, SECONDARY_ENTRY, 3)]


def test_the_hvc_conduit_is_used_when_the_dtb_says_so(board: Board, symbols: None) -> None:
    fw = Firmware(status=-4)
    board.node.hvc_handler = fw
    board.load_dtb(virt_dtb(psci_method="hvc"))
    devices_probe_power()
    assert psci_cpu_on(u64(1), u64(1)) == PSCI_ALREADY_ON
    assert fw.calls[0][0] == 0xC4000003


def test_power_off_uses_psci_system_off(board: Board) -> None:
    fw = Firmware()
    board.node.smc_handler = fw
    board.load_dtb(virt_dtb())
    devices_probe_power()
    with pytest.raises(PoweredOff):
        power_off()
    assert fw.calls == [(0x84000008, 0, 0, 0)]


def test_psci_system_off_that_returns_panics(board: Board) -> None:
    board.node.smc_handler = lambda fid, a1, a2, a3: 0
    board.load_dtb(virt_dtb())
    devices_probe_power()
    with pytest.raises(Panic, match="SYSTEM_OFF returned"):
        power_off()


def test_spin_table_release_writes_the_entry_cleans_and_wakes(board: Board, symbols: None) -> None:
    cpu = board.node.cpus[0]
    cpu.trace = []
    spin_table_release(u64(0xE0))
    assert int.from_bytes(board.node.ram.read(0xE0, 8), "little") == SPIN_ENTRY
    kinds = [(k, op) for k, op, _ in cpu.trace]
    assert kinds.index(("dc", "civac")) < kinds.index(("dsb", "sy")) < kinds.index(("sev", ""))
    assert [v for k, _, v in cpu.trace if k == "dc"] == [0xE0]


def test_spin_table_without_release_address_panics(board: Board, symbols: None) -> None:
    with pytest.raises(Panic, match="cpu-release-addr"):
        spin_table_release(u64(0))


class PmModel:
    def __init__(self) -> None:
        self.regs = {0x1C: 0x0000_0031}
        self.writes: list[tuple[int, int]] = []

    def read(self, offset: int, width_bytes: int) -> int:
        return self.regs.get(offset, 0)

    def write(self, offset: int, width_bytes: int, value: int) -> None:
        self.writes.append((offset, value))
        self.regs[offset] = value


class Parked(Exception):
    pass


def test_without_psci_the_bcm2835_watchdog_resets_the_board(board: Board) -> None:
    pm = PmModel()
    board.node.mmio.map(0xFE10_0000, 0x1000, pm)
    board.load_dtb(rpi4_like_dtb())
    devices_probe_power()

    def park(cpu: MockCpu, kind: str) -> None:
        raise Parked(kind)
    board.machine.wait_hook = park
    with pytest.raises(Parked):
        power_off()
    assert pm.writes == [(0x24, 0x5A00_000A), (0x1C, 0x5A00_0021)]
