# The guest's EL1 timers as level-sensitive virtual PPIs (ARM DDI 0487 D12.8; issue 13 item 2): the virtual
# timer (CNTV_*_EL0, the guest programs it directly) as PPI 27 and the physical timer (CNTP_*_EL0, trapped
# and emulated by vptimer.py on the hardware EL1 physical timer) as PPI 30.
#
# A timer's interrupt output is ENABLE and ISTATUS and not IMASK. When it rises the CPU raises the physical
# PPI, which HCR_EL2.IMO routes to pyhv. pyhv cannot leave that level-sensitive interrupt enabled while the
# guest runs (it would come straight back), and the host GIC drivers run with EOImode 0 (EOI also
# deactivates), so the LR's hardware link is not used. Instead, on the physical interrupt pyhv raises the
# virtual line and DISABLES THE PHYSICAL PPI AT THE GIC (it never touches the timer's own IMASK, which
# therefore stays the guest's: a guest that masks its timer with IMASK is obeyed). Before every guest entry
# the line is re-sampled from the timer's output: once the guest has disabled or masked the timer, or moved
# CVAL forward, the virtual line drops and the physical PPI is enabled again. A level-sensitive software
# interrupt carries the LR EOI bit (vgic_lr.py), so the guest's EOI exits and the resample runs promptly.

from typing import Annotated, Final

from pyhv.lang import Array, PerCpu, Struct, sysreg_read, u16, u32, u64

from pyhv.arch.gic import GIC_PRIO_DEFAULT, gic_disable_ppi, gic_enable_ppi
from pyhv.vdev.vgic import VGIC_VTIMER_PPI, vgic_inject, vgic_irq
from pyhv.vdev.vptimer import vptimer_level, vptimer_reset

CNTV_CTL_ENABLE: Final = u64(1 << 0)
CNTV_CTL_IMASK: Final = u64(1 << 1)
CNTV_CTL_ISTATUS: Final = u64(1 << 2)
_FIRING: Final = CNTV_CTL_ENABLE | CNTV_CTL_ISTATUS
VTIMER_PHYS_PPI: Final = u32(30)            # EL1 physical timer (non-secure)
VTIMER_VIRT: Final = u32(0)                 # index into VtimerCpu.t
VTIMER_PHYS: Final = u32(1)


class VtimerLine(Struct):
    up: bool                # the virtual line is high and the physical PPI is disabled at the GIC
    fired: u64              # physical PPIs taken


class VtimerCpu(Struct):
    t: Annotated[Array[VtimerLine], 2]


_vt: Final = PerCpu(VtimerCpu)


def _ppi(which: u32) -> u32:
    return VGIC_VTIMER_PPI if which == VTIMER_VIRT else VTIMER_PHYS_PPI


def _level(which: u32) -> bool:
    if which == VTIMER_VIRT:
        return (sysreg_read("cntv_ctl_el0") & (_FIRING | CNTV_CTL_IMASK)) == _FIRING
    return vptimer_level()


def vtimer_init(vcpu: u32) -> None:
    # The vGIC resets PPI 27 hardware-linked; this scheme delivers both timers as software level interrupts.
    vgic_irq(vcpu, VGIC_VTIMER_PPI).hw_intid = u16(0)
    vgic_irq(vcpu, VTIMER_PHYS_PPI).hw_intid = u16(0)
    st = _vt.get()
    st.t[VTIMER_VIRT].up = False
    st.t[VTIMER_PHYS].up = False
    vptimer_reset()


def _fire(vcpu: u32, which: u32) -> None:
    line = _vt.get().t[which]
    line.fired += 1
    if _level(which):
        gic_disable_ppi(_ppi(which))
        line.up = True
        vgic_inject(vcpu, _ppi(which), True)
    # else: the output fell between the physical interrupt and now (the guest moved CVAL): nothing to do


def vtimer_fire(vcpu: u32) -> None:
    # Physical PPI 27 on the CPU running `vcpu`.
    _fire(vcpu, VTIMER_VIRT)


def vtimer_fire_phys(vcpu: u32) -> None:
    # Physical PPI 30 on the CPU running `vcpu`.
    _fire(vcpu, VTIMER_PHYS)


def _resample(vcpu: u32, which: u32) -> None:
    line = _vt.get().t[which]
    if line.up and not _level(which):
        line.up = False
        vgic_inject(vcpu, _ppi(which), False)
        gic_enable_ppi(_ppi(which), GIC_PRIO_DEFAULT)


def vtimer_resample(vcpu: u32) -> None:
    # Before a guest entry: drop a virtual line whose timer output has fallen.
    _resample(vcpu, VTIMER_VIRT)
    _resample(vcpu, VTIMER_PHYS)


def vtimer_line_up(which: u32) -> bool:
    return _vt.get().t[which].up


def vtimer_fired_count() -> u64:
    return _vt.get().t[VTIMER_VIRT].fired


def vtimer_phys_fired_count() -> u64:
    return _vt.get().t[VTIMER_PHYS].fired
