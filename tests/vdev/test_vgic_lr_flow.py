"""The list-register engine: flush/sync rounds against a model of the virtual CPU interface, driven by
distributor writes a guest would make (GICv3 and GICv2)."""

from __future__ import annotations

import pytest

from pyhv.lang import u32

from pyhv.vdev.vgic import vgic_inject, vgic_irq, vgic_state
from pyhv.vdev.vgic_lr import vgic_flush_to_lrs, vgic_maintenance, vgic_sync_from_lrs, vgic_underflow

from .conftest import Vm
from .helpers import gicd_read, gicd_write, map_gic

SPI_BASE = 40


def _setup_spis(vm: Vm, prios: list[int]) -> None:
    map_gic(vm.version, 4)
    gicd_write(0, 0x000, 0x3)                               # GICD_CTLR: EnableGrp0 | EnableGrp1
    for i, p in enumerate(prios):
        intid = SPI_BASE + i
        word = gicd_read(0, 0x400 + intid // 4 * 4)
        shift = (intid % 4) * 8
        gicd_write(0, 0x400 + intid // 4 * 4, (word & ~(0xFF << shift)) | (p << shift))
        gicd_write(0, 0xC00 + intid // 16 * 4, gicd_read(0, 0xC00 + intid // 16 * 4) | (2 << (intid % 16) * 2))
        if vm.version == 2:
            gicd_write(0, 0x800 + intid // 4 * 4, gicd_read(0, 0x800 + intid // 4 * 4) | (1 << shift))
    gicd_write(0, 0x100 + 4, ((1 << len(prios)) - 1) << (SPI_BASE - 32))   # GICD_ISENABLER1


def _deliver_all(vm: Vm, cpu: int, rounds: int) -> list[int]:
    order: list[int] = []
    for _ in range(rounds):
        vgic_flush_to_lrs(u32(cpu))
        acked = []
        while (intid := vm.guest_ack(cpu)) is not None:
            acked.append(intid)
        for intid in acked:
            vm.guest_eoi(cpu, intid)
        order += acked
        vgic_sync_from_lrs(u32(cpu))
    return order


@pytest.mark.parametrize("version", [2, 3])
def test_more_pending_than_lrs_all_delivered_in_priority_order(version: int) -> None:
    vm = Vm(version, nr_vcpus=4, nr_lrs=4)
    prios = [0xA0, 0x10, 0x80, 0x20, 0x90, 0x30, 0x70, 0x40, 0x60, 0x50]
    with vm.on(0):
        _setup_spis(vm, prios)
        for i in range(len(prios)):
            assert vgic_inject(u32(0), u32(SPI_BASE + i), True)
        vgic_flush_to_lrs(u32(0))
        assert vgic_underflow(u32(0))
        assert vm.hcr(0) & 0b11 == 0b11                       # En | UIE: exit when the LRs drain
        vgic_sync_from_lrs(u32(0))                            # nothing acked yet: all still pending
        order = _deliver_all(vm, 0, rounds=3)
        expected = [SPI_BASE + i for i in sorted(range(len(prios)), key=lambda i: prios[i])]
        assert order == expected
        vgic_flush_to_lrs(u32(0))
        assert not vgic_underflow(u32(0)) and vm.hcr(0) & 0b11 == 0b01
        assert all(vm.lr(0, n) == 0 for n in range(4))


def test_unacked_edge_stays_pending_across_sync(vm3: Vm) -> None:
    _setup_spis(vm3, [0x80])
    vgic_inject(u32(0), u32(SPI_BASE), True)
    vgic_flush_to_lrs(u32(0))
    vgic_sync_from_lrs(u32(0))
    vgic_flush_to_lrs(u32(0))
    assert vm3.guest_ack(0) == SPI_BASE


def test_level_interrupt_is_resampled_after_eoi(vm3: Vm) -> None:
    _setup_spis(vm3, [0x80])
    gicd_write(0, 0xC00 + SPI_BASE // 16 * 4, 0)            # level-sensitive
    vgic_inject(u32(0), u32(SPI_BASE), True)
    vgic_flush_to_lrs(u32(0))
    assert vm3.lr(0, 0) & (1 << 41)                         # EOI maintenance requested
    assert vm3.guest_ack(0) == SPI_BASE
    vm3.guest_eoi(0, SPI_BASE)
    vgic_sync_from_lrs(u32(0))
    vgic_flush_to_lrs(u32(0))                               # line still high: delivered again
    assert vm3.guest_ack(0) == SPI_BASE
    vm3.guest_eoi(0, SPI_BASE)
    vgic_inject(u32(0), u32(SPI_BASE), False)               # device drops the line
    vgic_sync_from_lrs(u32(0))
    vgic_flush_to_lrs(u32(0))
    assert vm3.guest_ack(0) is None
    assert not vgic_irq(u32(0), u32(SPI_BASE)).active


def test_disabled_interrupt_is_not_delivered_until_enabled(vm3: Vm) -> None:
    _setup_spis(vm3, [0x80])
    gicd_write(0, 0x180 + 4, 1 << (SPI_BASE - 32))          # ICENABLER1
    vgic_inject(u32(0), u32(SPI_BASE), True)
    vgic_flush_to_lrs(u32(0))
    assert vm3.guest_ack(0) is None
    assert gicd_read(0, 0x200 + 4) == 1 << (SPI_BASE - 32)  # ISPENDR1 shows it pending
    gicd_write(0, 0x100 + 4, 1 << (SPI_BASE - 32))
    vgic_flush_to_lrs(u32(0))
    assert vm3.guest_ack(0) == SPI_BASE


def test_active_state_readable_while_guest_handles_it(vm3: Vm) -> None:
    _setup_spis(vm3, [0x80])
    vgic_inject(u32(0), u32(SPI_BASE), True)
    vgic_flush_to_lrs(u32(0))
    vm3.guest_ack(0)
    vgic_sync_from_lrs(u32(0))
    assert gicd_read(0, 0x300 + 4) == 1 << (SPI_BASE - 32)  # ISACTIVER1
    assert gicd_read(0, 0x200 + 4) == 0
    vgic_flush_to_lrs(u32(0))                               # an active interrupt keeps its LR
    vm3.guest_eoi(0, SPI_BASE)
    vgic_sync_from_lrs(u32(0))
    assert gicd_read(0, 0x300 + 4) == 0


def test_virtual_timer_is_hw_linked(vm3: Vm) -> None:
    from .helpers import gicr_write
    map_gic(3, 4)
    gicd_write(0, 0x000, 0x2)
    gicr_write(0, 0x10100, 1 << 27)                         # GICR_ISENABLER0 of vCPU 0: PPI 27
    vgic_inject(u32(0), u32(27), True)
    vgic_flush_to_lrs(u32(0))
    lr = vm3.lr(0, 0)
    assert lr & 0xFFFFFFFF == 27
    assert lr & (1 << 61)                                   # HW
    assert (lr >> 32) & 0x1FFF == 27                        # pINTID
    assert (lr >> 62) == 1


def test_maintenance_drops_underflow_enable(vm3: Vm) -> None:
    _setup_spis(vm3, [0x80] * 6)
    for i in range(6):
        vgic_inject(u32(0), u32(SPI_BASE + i), True)
    vgic_flush_to_lrs(u32(0))
    assert vm3.hcr(0) & 0b10
    vgic_maintenance(u32(0))
    assert vm3.hcr(0) & 0b11 == 0b01
    assert vgic_state().vcpus[0].maint_irqs == 1
