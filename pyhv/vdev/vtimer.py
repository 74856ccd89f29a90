# The guest's virtual timer (CNTV_*_EL0, ARM DDI 0487 D12.8) delivered as virtual PPI 27.
#
# The guest programs CNTV_CTL/CVAL directly (no trap). When the timer condition is met the CPU raises the
# physical PPI 27, which HCR_EL2.IMO routes to pyhv. pyhv cannot leave that level-sensitive interrupt
# asserted while the guest runs (it would come straight back), and the host GIC drivers run with EOImode 0
# (EOI also deactivates), so the LR's hardware link is not used. Instead (the classic "masked timer"
# scheme): on the physical interrupt pyhv sets CNTV_CTL.IMASK, raises the virtual line 27 (level) and EOIs
# the physical one. Before every guest entry the line is re-sampled: once the guest has reprogrammed the
# timer (ISTATUS clear) or disabled it, the virtual line drops. Linux's handler itself sets IMASK and then
# writes a new CVAL, clearing IMASK again, so our mask is invisible to it. A level-sensitive software
# interrupt carries the LR EOI bit (vgic_lr.py), so the guest's EOI exits and the resample runs promptly.

from typing import Final

from pyhv.lang import PerCpu, Struct, sysreg_read, sysreg_write, u16, u32, u64

from pyhv.vdev.vgic import VGIC_VTIMER_PPI, vgic_inject, vgic_irq

CNTV_CTL_ENABLE: Final = u64(1 << 0)
CNTV_CTL_IMASK: Final = u64(1 << 1)
CNTV_CTL_ISTATUS: Final = u64(1 << 2)
_FIRING: Final = CNTV_CTL_ENABLE | CNTV_CTL_ISTATUS


class VtimerCpu(Struct):
    masked_by_pyhv: bool    # IMASK was set by pyhv and the virtual line is high
    fired: u64              # physical PPI 27 taken on this CPU


_vt: Final = PerCpu(VtimerCpu)


def vtimer_init(vcpu: u32) -> None:
    # The vGIC resets PPI 27 hardware-linked; this scheme delivers it as a software level interrupt.
    vgic_irq(vcpu, VGIC_VTIMER_PPI).hw_intid = u16(0)
    _vt.get().masked_by_pyhv = False


def vtimer_fire(vcpu: u32) -> None:
    # Physical PPI 27 on the CPU running `vcpu`.
    st = _vt.get()
    st.fired += 1
    ctl = sysreg_read("cntv_ctl_el0")
    if (ctl & (_FIRING | CNTV_CTL_IMASK)) == _FIRING:
        sysreg_write("cntv_ctl_el0", ctl | CNTV_CTL_IMASK)
        st.masked_by_pyhv = True
        vgic_inject(vcpu, VGIC_VTIMER_PPI, True)


def vtimer_resample(vcpu: u32) -> None:
    # Before a guest entry: drop the virtual line once the timer no longer fires.
    st = _vt.get()
    if not st.masked_by_pyhv:
        return
    if (sysreg_read("cntv_ctl_el0") & _FIRING) != _FIRING:
        st.masked_by_pyhv = False
        vgic_inject(vcpu, VGIC_VTIMER_PPI, False)


def vtimer_fired_count() -> u64:
    return _vt.get().fired
