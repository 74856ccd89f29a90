# What a trapped WFI does (the policy is docs/wfi-policy.md). WFE is not trapped (HCR_EL2.TWE = 0).
#
# The vCPU is pinned to this physical CPU, so "idle the vCPU" means "idle the CPU": unless the vGIC already
# holds something deliverable for the vCPU, pyhv sleeps in irq_wait() (WFI at EL2 with interrupts open)
# until any physical interrupt arrives — the vCPU's virtual timer (PPI 27), a maintenance interrupt, or the
# kick SGI another CPU sends after queueing an interrupt for this vCPU (vm.py) — then returns to the guest,
# which re-checks and may WFI again. No polling: an idle vCPU costs nothing. A kick sent between the
# pending check and irq_wait() stays pending at the GIC and ends the wait at once, so none is lost.

from typing import Callable, Final

from pyhv.lang import Ops, OpsSlot, PerCpu, Static, Struct, irq_wait, u32, u64

from pyhv.arch.frame import TrapFrame
from pyhv.vdev.vgic_lr import vgic_vcpu_has_pending

WFX_INSN_BYTES: Final = u64(4)
WFX_ISS_TI_WFE: Final = u32(1)             # ESR ISS bit 0: 0 = WFI, 1 = WFE


class WfxCpu(Struct):
    wfi: u64            # trapped WFIs
    slept: u64          # ... that slept (nothing was pending)
    wfe: u64            # trapped WFEs (a VM across nodes)


class WfeOps(Ops):
    # A trapped WFE with nothing deliverable (a VM across nodes, pyhv/core/vm_cluster.py): sleep briefly.
    sleep: Callable[[], None]


class WfxState(Struct):
    wfe_installed: bool


_wfx: Final = PerCpu(WfxCpu)
_wfe_ops: Final = OpsSlot(WfeOps)
_state: Final = Static(WfxState)


def wfx_set_wfe_ops(ops: WfeOps) -> None:
    _wfe_ops.set(ops)
    _state.get().wfe_installed = True


def wfx_handle(f: TrapFrame, vcpu: u32, iss: u32) -> None:
    st = _wfx.get()
    f.elr += WFX_INSN_BYTES
    if (iss & WFX_ISS_TI_WFE) != 0:
        # Only a VM across nodes traps WFE: a guest spinning on a lock or a flag gives its host CPU away
        # for a moment (under TCG an untrapped WFE is a mere yield, and a spinning vCPU thread starves the
        # threads that serve the cluster). The guest re-checks its condition after it.
        st.wfe += 1
        if not _state.get().wfe_installed or vgic_vcpu_has_pending(vcpu):
            return
        _wfe_ops.get().sleep()
        return
    st.wfi += 1
    if vgic_vcpu_has_pending(vcpu):
        return
    st.slept += 1
    irq_wait()


def wfx_counts(out_wfi: WfxCpu) -> None:
    st = _wfx.get()
    out_wfi.wfi = st.wfi
    out_wfi.slept = st.slept
