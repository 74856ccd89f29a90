"""The guest's EL1 timers as level-sensitive virtual PPIs (pyhv/vdev/vtimer.py): the virtual line follows
the timer's output (ENABLE and ISTATUS and not IMASK), pyhv holds the physical PPI off at the GIC while the
line is up and never writes the guest's CNTV_CTL, so a guest that masks its timer with IMASK is obeyed
(issue 13 item 2: no interrupt storm)."""

from __future__ import annotations

from pyhv.lang import u8, u32, u64

from pyhv.arch.gic import GicOps, gic_set_driver
from pyhv.vdev.vgic import VgicHostOps, vgic_init, vgic_irq, vgic_is_pending, vgic_set_host_ops, vgic_state
from pyhv.vdev.vtimer import (
    CNTV_CTL_ENABLE, CNTV_CTL_IMASK, CNTV_CTL_ISTATUS, VTIMER_PHYS, VTIMER_PHYS_PPI, VTIMER_VIRT, vtimer_fire,
    vtimer_fire_phys, vtimer_init, vtimer_line_up, vtimer_resample,
)

from .conftest import Node

FIRING = int(CNTV_CTL_ENABLE | CNTV_CTL_ISTATUS)
IMASK = int(CNTV_CTL_IMASK)


class FakeGic:
    """The host GIC's per-CPU PPI enables, as the hardware keeps them (the thing vtimer drives)."""

    def __init__(self) -> None:
        self.enabled: set[int] = set()

    def ops(self) -> GicOps:
        def enable(i: u32, p: u8) -> None:
            self.enabled.add(int(i))

        def disable(i: u32) -> None:
            self.enabled.discard(int(i))

        return GicOps(probe=lambda n: True, init_dist=lambda: None, init_cpu=lambda: None, enable_ppi=enable,
                      ack=lambda: u32(1023), eoi=lambda i: None, nr_irqs=lambda: u32(64), version=lambda: u32(3),
                      enable_sgi=enable, send_sgi=lambda m, i: None, enable_spi=enable, disable_ppi=disable)


def _setup(node: Node) -> FakeGic:
    gic = FakeGic()
    gic_set_driver(gic.ops())
    assert int(vgic_init(u32(3), u32(1), u32(32))) == 0
    vgic_set_host_ops(VgicHostOps(kick=lambda v: None))
    vtimer_init(u32(0))
    vgic_irq(u32(0), u32(27)).enabled = True
    vgic_irq(u32(0), u32(30)).enabled = True
    vgic_state().grp_enable = u32(3)
    gic.enabled |= {27, 30}                 # vcpu_run enables both timer PPIs
    return gic


def _pending(ppi: int) -> bool:
    return vgic_is_pending(vgic_irq(u32(0), u32(ppi)))


def test_a_firing_timer_raises_the_virtual_line_and_holds_the_physical_ppi_off(node: Node) -> None:
    gic = _setup(node)
    node.cpu.sysregs["cntv_ctl_el0"] = FIRING
    vtimer_fire(u32(0))
    assert node.cpu.sysregs["cntv_ctl_el0"] == FIRING            # the guest's register is untouched
    irq = vgic_irq(u32(0), u32(27))
    assert int(irq.hw_intid) == 0 and irq.level_sensitive and vgic_is_pending(irq)
    assert 27 not in gic.enabled and vtimer_line_up(VTIMER_VIRT)


def test_the_line_stays_up_until_the_guest_reprograms_the_timer(node: Node) -> None:
    gic = _setup(node)
    node.cpu.sysregs["cntv_ctl_el0"] = FIRING
    vtimer_fire(u32(0))
    vtimer_resample(u32(0))
    assert _pending(27) and 27 not in gic.enabled
    node.cpu.sysregs["cntv_ctl_el0"] = int(CNTV_CTL_ENABLE)    # new CVAL in the future: ISTATUS clear
    vtimer_resample(u32(0))
    assert not _pending(27) and 27 in gic.enabled and not vtimer_line_up(VTIMER_VIRT)


def test_a_guest_that_masks_its_timer_with_imask_gets_no_interrupt_storm(node: Node) -> None:
    # Issue 13 item 2: the handler writes CNTV_CTL = IMASK | ENABLE and leaves CVAL in the past.
    gic = _setup(node)
    node.cpu.sysregs["cntv_ctl_el0"] = FIRING
    vtimer_fire(u32(0))
    node.cpu.sysregs["cntv_ctl_el0"] = FIRING | IMASK            # ISTATUS stays set: the condition holds
    vtimer_resample(u32(0))                                      # the guest's EOI exit
    assert not _pending(27)                                      # nothing more for the guest to take
    assert 27 in gic.enabled                                     # the hardware output is masked: no re-fire
    # unmasking with the condition still met raises the output again: the physical PPI comes back
    node.cpu.sysregs["cntv_ctl_el0"] = FIRING
    vtimer_fire(u32(0))
    assert _pending(27) and 27 not in gic.enabled


def test_disabling_the_timer_drops_the_line(node: Node) -> None:
    gic = _setup(node)
    node.cpu.sysregs["cntv_ctl_el0"] = FIRING
    vtimer_fire(u32(0))
    node.cpu.sysregs["cntv_ctl_el0"] = int(CNTV_CTL_ISTATUS)     # ENABLE clear
    vtimer_resample(u32(0))
    assert not _pending(27) and 27 in gic.enabled


def test_a_physical_interrupt_that_raced_the_guests_mask_is_left_alone(node: Node) -> None:
    gic = _setup(node)
    node.cpu.sysregs["cntv_ctl_el0"] = FIRING | IMASK
    vtimer_fire(u32(0))
    assert not _pending(27) and 27 in gic.enabled
    assert node.cpu.sysregs["cntv_ctl_el0"] == FIRING | IMASK


def test_the_physical_timer_uses_ppi_30_and_its_emulated_output(node: Node) -> None:
    from pyhv.arch.sysreg_trap import SYSREG_KEY_CNTP_CTL, SYSREG_KEY_CNTP_CVAL
    from pyhv.vdev.vptimer import vptimer_write
    gic = _setup(node)
    node.cpu.sysregs["cntpct_el0"] = 5000
    vptimer_write(SYSREG_KEY_CNTP_CVAL, u64(4000))
    vptimer_write(SYSREG_KEY_CNTP_CTL, u64(1))                   # enabled, condition met
    vtimer_fire_phys(u32(0))
    assert int(VTIMER_PHYS_PPI) == 30 and _pending(30) and 30 not in gic.enabled
    assert vtimer_line_up(VTIMER_PHYS) and not _pending(27)
    vptimer_write(SYSREG_KEY_CNTP_CTL, u64(3))                   # the guest masks it
    vtimer_resample(u32(0))
    assert not _pending(30) and 30 in gic.enabled
