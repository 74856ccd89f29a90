"""GICv2 and GICv3 drivers against register models: probe from the DTB, init, enable a PPI, ack, EOI."""

from __future__ import annotations

import pytest

from pyhv.lang import Panic, u8, u32, u64

from pyhv.arch.gic import (
    GIC_SPURIOUS, gic_ack, gic_enable_ppi, gic_eoi, gic_init_cpu, gic_init_dist, gic_nr_irqs, gic_typer_nr_irqs,
    gic_version,
)
from pyhv.core.devices import devices_probe_gic
from pyhv.drivers.gicv3 import gicv3_find_redistributor, gicv3_mpidr_affinity

from .conftest import Board
from .dtbs import GICC_BASE, GICD_BASE, GICR_BASE, rpi4_like_dtb, virt_dtb
from .models.gic import Gicv2Model, Gicv3Model


def gicv2_board(board: Board, it_lines: int = 2) -> Gicv2Model:
    model = Gicv2Model(ncpus=4, it_lines=it_lines)
    board.node.mmio.map(GICD_BASE, 0x10000, model.dist)
    board.node.mmio.map(GICC_BASE, 0x10000, model.cpu)
    board.load_dtb(virt_dtb(gic=2))
    devices_probe_gic()
    return model


MPIDRS = [0x0, 0x1, 0x100, 0x1_0000_0101]


def gicv3_board(board: Board) -> Gicv3Model:
    model = Gicv3Model(board.node, MPIDRS)
    board.node.mmio.map(GICD_BASE, 0x10000, model.dist)
    board.node.mmio.map(GICR_BASE, model.redist_size, model.redist)
    for cpu, mpidr in zip(board.node.cpus, MPIDRS):
        cpu.sysregs["mpidr_el1"] = 0x8000_0000 | mpidr
    board.load_dtb(virt_dtb(gic=3, mpidrs=MPIDRS, gicr_size=model.redist_size))
    devices_probe_gic()
    return model


@pytest.mark.parametrize("typer,n", [(0, 32), (2, 96), (0x1F, 1020), (0xE0 | 3, 128)])
def test_nr_irqs_comes_from_itlinesnumber(typer: int, n: int) -> None:
    assert gic_typer_nr_irqs(u32(typer)) == n


def test_probe_picks_the_driver_named_by_the_dtb(board: Board) -> None:
    gicv2_board(board, it_lines=5)
    assert (gic_version(), gic_nr_irqs()) == (2, 192)


def test_gicv2_init_enable_ack_eoi(board: Board) -> None:
    model = gicv2_board(board)
    gic_init_dist()
    gic_init_cpu()
    assert model.gicd_ctlr & 1 and model.gicc[(0, 0x000)] & 1
    assert model.gicc[(0, 0x004)] == 0xF0                      # priority mask open
    assert model.st.prio[(-1, 40)] == 0xA0 and model.targets[40] == 0xFF
    gic_enable_ppi(u32(26), u8(0x80))
    assert model.st.enabled[(0, 26)] and model.st.prio[(0, 26)] == 0x80
    assert not model.st.enabled.get((1, 26), False)             # banked: other CPUs untouched
    assert gic_ack() == GIC_SPURIOUS
    model.raise_irq(0, 26)
    assert gic_ack() == 26
    gic_eoi(u32(26))
    assert model.st.eois == [(0, 26)] and not model.st.active[(0, 26)]


def test_gicv2_rejects_a_non_ppi(board: Board) -> None:
    gicv2_board(board)
    with pytest.raises(Panic, match="outside 16-31"):
        gic_enable_ppi(u32(40), u8(0x80))


def test_gicv2_on_a_bus_with_ranges(board: Board) -> None:
    model = Gicv2Model(ncpus=4)
    board.node.mmio.map(0xFF84_1000, 0x1000, model.dist)
    board.node.mmio.map(0xFF84_2000, 0x2000, model.cpu)
    board.load_dtb(rpi4_like_dtb())
    devices_probe_gic()
    gic_init_dist()
    gic_init_cpu()
    assert gic_version() == 2 and model.gicd_ctlr & 1


def test_gicv3_finds_each_cpus_redistributor_by_affinity(board: Board) -> None:
    gicv3_board(board)
    assert gicv3_mpidr_affinity(u64(0x1_0000_0101)) == 0x0100_0101
    assert gicv3_find_redistributor(u64(0x100)) == GICR_BASE + 2 * 0x20000
    assert gicv3_find_redistributor(u64(0x1_0000_0101)) == GICR_BASE + 3 * 0x20000
    assert gicv3_find_redistributor(u64(0x2)) == 0                   # stops at GICR_TYPER.Last


def test_gicv3_init_enable_ack_eoi_on_a_secondary(board: Board) -> None:
    model = gicv3_board(board)
    gic_init_dist()
    assert model.gicd_ctlr == 0x12                                     # ARE | EnableGrp1
    with board.machine.on_cpu(board.node, 2):
        gic_init_cpu()
        assert model.waker[2] == 0                                     # awake
        assert model.icc[(2, "icc_sre_el2")] & 0x9 == 0x9             # SRE | Enable
        assert model.icc[(2, "icc_pmr_el1")] == 0xF0 and model.icc[(2, "icc_igrpen1_el1")] == 1
        assert model.group0[2] == 0xFFFFFFFF
        gic_enable_ppi(u32(26), u8(0xA0))
        assert model.st.enabled[(2, 26)] and model.st.prio[(2, 26)] == 0xA0
        model.raise_irq(2, 26)
        assert gic_ack() == 26
        gic_eoi(u32(26))
    assert model.st.acks == [(2, 26)] and model.st.eois == [(2, 26)]


def test_gicv3_panics_when_no_redistributor_matches(board: Board) -> None:
    gicv3_board(board)
    board.node.cpus[0].sysregs["mpidr_el1"] = 0x8000_0007
    with pytest.raises(Panic, match="no redistributor"):
        gic_init_cpu()


def test_no_gic_in_the_dtb_panics(board: Board) -> None:
    from pyhv.host.fdt_build import FdtBuilder
    f = FdtBuilder()
    f.begin_node("")
    f.end_node()
    board.load_dtb(f.finish())
    with pytest.raises(Panic, match="no supported interrupt controller"):
        devices_probe_gic()
