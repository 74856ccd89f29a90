"""The guest's virtual timer delivered as a level-sensitive virtual PPI 27 (pyhv/vdev/vtimer.py): masked
by pyhv when it fires, the virtual line dropped once the guest has reprogrammed or disabled the timer."""

from __future__ import annotations

from pyhv.lang import u32, u64

from pyhv.vdev.vgic import VgicHostOps, vgic_init, vgic_irq, vgic_is_pending, vgic_set_host_ops, vgic_state
from pyhv.vdev.vtimer import (
    CNTV_CTL_ENABLE, CNTV_CTL_IMASK, CNTV_CTL_ISTATUS, vtimer_fire, vtimer_init, vtimer_resample,
)

from .conftest import Node

FIRING = int(CNTV_CTL_ENABLE | CNTV_CTL_ISTATUS)


def _setup(node: Node) -> None:
    assert int(vgic_init(u32(3), u32(1), u32(32))) == 0
    vgic_set_host_ops(VgicHostOps(kick=lambda v: None))
    vtimer_init(u32(0))
    vgic_irq(u32(0), u32(27)).enabled = True
    vgic_state().grp_enable = u32(3)


def test_a_firing_timer_is_masked_and_raises_the_virtual_line(node: Node) -> None:
    _setup(node)
    node.cpu.sysregs["cntv_ctl_el0"] = FIRING
    vtimer_fire(u32(0))
    assert node.cpu.sysregs["cntv_ctl_el0"] == FIRING | int(CNTV_CTL_IMASK)
    irq = vgic_irq(u32(0), u32(27))
    assert int(irq.hw_intid) == 0 and irq.level_sensitive and vgic_is_pending(irq)


def test_the_line_stays_up_until_the_guest_reprograms_the_timer(node: Node) -> None:
    _setup(node)
    node.cpu.sysregs["cntv_ctl_el0"] = FIRING
    vtimer_fire(u32(0))
    vtimer_resample(u32(0))
    assert vgic_is_pending(vgic_irq(u32(0), u32(27)))
    node.cpu.sysregs["cntv_ctl_el0"] = int(CNTV_CTL_ENABLE)    # new CVAL in the future: ISTATUS clear
    vtimer_resample(u32(0))
    assert not vgic_is_pending(vgic_irq(u32(0), u32(27)))


def test_a_timer_the_guest_masked_itself_is_left_alone(node: Node) -> None:
    _setup(node)
    node.cpu.sysregs["cntv_ctl_el0"] = FIRING | int(CNTV_CTL_IMASK)
    vtimer_fire(u32(0))
    assert not vgic_is_pending(vgic_irq(u32(0), u32(27)))
    assert u64(node.cpu.sysregs["cntv_ctl_el0"]) == u64(FIRING | int(CNTV_CTL_IMASK))
