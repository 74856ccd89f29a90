# A vCPU: entering the guest on this physical CPU and serving every exception the guest takes to EL2
# (docs/vm-model.md, "Trap dispatch"). vCPUs are pinned 1:1 to physical CPUs: the guest's EL1 registers,
# FP state and timers stay live in the CPU, only x0-x30/ELR/SPSR pass through the TrapFrame.
#
#   guest exit ──> vcpu_trap_sync / vcpu_trap_irq (via pyhv/arch/traps.py's guest hooks)
#     vgic_sync_from_lrs ─> decode once, act:
#       data / instruction abort (0x24 / 0x20) ─> guestfault_abort (pyhv/core/guestfault.py): RAM fault ─>
#           GuestMemFaultOps (DSM), retried; else MMIO decode ─> mmio_dispatch | injected data/prefetch abort
#       HVC (0x16) / SMC (0x17) ─> smccc_handle (vPSCI) ─> x0, and resume / vCPU off / halt
#       MSR/MRS (0x18) ─> sysreg_trap_decode ─> vgicv3_sgi_write (ICC_SGI*R_EL1) | vptimer (CNTPCT, CNTP_*)
#                        | RAZ/WI
#       WFI (0x01) ─> wfx_handle (docs/wfi-policy.md)
#       IRQ ─> ack the physical GIC: vtimer 27 / ptimer 30 / maintenance 25 / EL2 timer 26 / kick SGI ─> EOI
#     clock_reload (node CNTVOFF) ─> vtimer_resample ─> vgic_flush_to_lrs ─> eret (vectors.S)
# With HCR_EL2 as pyhv/arch/el2.py sets it (TGE, TID*, TVM, TSW, API/APK-relevant features absent on the
# Cortex-A72, MDCR_EL2.TDE clear) no other synchronous class is routed to EL2: UNDEF, SVC, BRK, debug, PC and
# SP alignment faults are taken at EL1 by the hardware itself. An exception class that still arrives (a
# CPU with features we do not configure, e.g. SVE traps with CPTR_EL2.TZ) gets an undefined-instruction
# exception and a rate-limited warning: a guest never panics pyhv.

from typing import Final

from pyhv.lang import (
    PerCpu, Static, Struct, asm_function, dsb, irq_wait, isb, kprint, range, sysreg_write, tlbi, u32, u64,
)

from pyhv.arch.el2 import SCTLR_EL1_RESET, SPSR_EL1H_MASKED, el2_from_guest, el2_vm_cpu_setup
from pyhv.arch.esr import EC_DABT_LOW, EC_HVC64, EC_IABT_LOW, EC_SMC64, EC_SYS64, EC_WFX, Esr, esr_decode
from pyhv.arch.frame import TrapFrame
from pyhv.arch.gic import (
    GIC_FIRST_SPECIAL, GIC_PRIO_DEFAULT, gic_ack, gic_enable_ppi, gic_enable_sgi, gic_eoi,
)
from pyhv.arch.inject import inject_undef
from pyhv.arch.stage2 import stage2_install
from pyhv.arch.sysreg_trap import (
    SYSREG_KEY_ICC_ASGI1R, SYSREG_KEY_ICC_SGI0R, SYSREG_KEY_ICC_SGI1R, SysregAccess, sysreg_trap_decode,
)
from pyhv.arch.timer import TIMER_HYP_PPI, timer_handle_irq
from pyhv.arch.traps import trap_device_irq
from pyhv.core.guestfault import guestfault_abort
from pyhv.core.clock import clock_cpu_enter, clock_reload
from pyhv.core.ratelimit import RateLimit, ratelimit_allow
from pyhv.core.smccc import smccc_handle
from pyhv.core.vmstate import vm_config, vm_counters, vm_cpu_index, vm_state
from pyhv.core.vpsci import (
    SMCCC_ACTION_HALT, SMCCC_ACTION_VCPU_OFF, SmcccResult, VpsciBoot, vpsci_vcpu_started,
)
from pyhv.core.wfx import wfx_handle
from pyhv.vdev.vgic import VGIC_MAINT_PPI, VGIC_VTIMER_PPI, vgic_state
from pyhv.vdev.vgic_lr import (
    vgic_cpu_init, vgic_flush_to_lrs, vgic_lr_used, vgic_maintenance, vgic_sync_from_lrs,
)
from pyhv.vdev.vgicv3_sysreg import vgicv3_sgi_write
from pyhv.vdev.vptimer import vptimer_handles, vptimer_read, vptimer_rebase, vptimer_write
from pyhv.vdev.vtimer import VTIMER_PHYS_PPI, vtimer_fire, vtimer_fire_phys, vtimer_init, vtimer_resample

A64_INSN_BYTES: Final = u64(4)
VCPU_WARN_BURST: Final = u32(10)        # guest-misbehaviour warnings per second
VCPU_KICK_SGI: Final = u32(8)           # physical SGI one CPU sends another to make its vCPU exit


class VcpuCpu(Struct):
    vcpu: u32               # the vCPU this physical CPU runs
    running: bool           # vcpu_run was called: traps from EL1 are that vCPU's
    exits: u64              # guest exits (synchronous and IRQ)
    hvc: u64                # HVC/SMC calls
    irqs: u64               # physical interrupts taken while running the guest


class VcpuWarn(Struct):
    rl: RateLimit


_cpu: Final = PerCpu(VcpuCpu)
_warn: Final = Static(VcpuWarn)


@asm_function
def pyhv_enter_guest(frame: TrapFrame) -> None:
    # runtime/asm/guest.S: copy the frame onto the EL2 stack, restore it and eret (never returns).
    ...


def vcpu_current() -> u32:
    return _cpu.get().vcpu


def vcpu_is_current(vcpu: u32) -> bool:
    c = _cpu.get()
    return c.running and c.vcpu == vcpu


def vcpu_stats() -> VcpuCpu:
    return _cpu.get()


def _reset_frame(f: TrapFrame, entry: u64, x0: u64) -> None:
    # Linux arm64 booting.rst: x0 = DTB (or the PSCI context id), x1-x3 = 0, EL1h, DAIF masked, MMU off.
    for i in range(u32(31)):
        f.x[i] = u64(0)
    f.x[0] = x0
    f.sp = u64(0)
    f.elr = entry
    f.spsr = SPSR_EL1H_MASKED


def vcpu_run(vcpu: u32, entry: u64, x0: u64) -> None:
    # Turn this physical CPU into vCPU `vcpu` and enter the guest at `entry` (EL1h) with x0. Never returns
    # on hardware; every later guest exception comes back through vcpu_trap_sync / vcpu_trap_irq.
    c = _cpu.get()
    c.vcpu = vcpu
    c.running = True
    vm_counters().entered[vm_cpu_index()] = u64(1)
    cfg = vm_config()
    stage2_install()
    el2_vm_cpu_setup(cfg.vcpus[vcpu].mpidr, clock_cpu_enter(), vm_state().trap_wfe)    # node CNTVOFF (clock.py)
    tlbi("vmalls12e1")
    dsb("nsh")
    isb()
    vgic_cpu_init()
    vtimer_init(vcpu)
    gic_enable_ppi(VGIC_MAINT_PPI, GIC_PRIO_DEFAULT)
    gic_enable_ppi(VGIC_VTIMER_PPI, GIC_PRIO_DEFAULT)
    gic_enable_ppi(VTIMER_PHYS_PPI, GIC_PRIO_DEFAULT)
    gic_enable_ppi(TIMER_HYP_PPI, GIC_PRIO_DEFAULT)
    gic_enable_sgi(VCPU_KICK_SGI, GIC_PRIO_DEFAULT)
    f = TrapFrame()
    _reset_frame(f, entry, x0)
    vgic_flush_to_lrs(vcpu)
    pyhv_enter_guest(f)


def _warn_ok() -> bool:
    return ratelimit_allow(_warn.get().rl, VCPU_WARN_BURST)


# --- synchronous exceptions -------------------------------------------------------------------------------

def _vcpu_off_wait(f: TrapFrame, vcpu: u32) -> None:
    # PSCI CPU_OFF: this CPU waits for the next CPU_ON of its vCPU, then restarts it at the new entry.
    boot = VpsciBoot()
    while not vpsci_vcpu_started(vcpu, boot):
        irq_wait()                      # CPU_ON sends the kick SGI
    _reset_frame(f, boot.entry, boot.context_id)
    sysreg_write("sctlr_el1", SCTLR_EL1_RESET)     # a CPU_ON entry runs with the MMU off
    isb()


def _smccc(f: TrapFrame, vcpu: u32) -> None:
    res = SmcccResult()
    _cpu.get().hvc += 1
    smccc_handle(vm_config(), vcpu, f.x[0], f.x[1], f.x[2], f.x[3], res)
    f.x[0] = res.x0
    if res.action == SMCCC_ACTION_VCPU_OFF:
        _vcpu_off_wait(f, vcpu)
    elif res.action == SMCCC_ACTION_HALT:
        kprint("vcpu %u: the guest asked for power-off/reset, but the VM could not halt\n", vcpu)


def _sysreg(f: TrapFrame, vcpu: u32, iss: u32) -> None:
    a = SysregAccess()
    sysreg_trap_decode(iss, a)
    value = u64(0) if a.rt == 31 else f.x[a.rt]
    f.elr += A64_INSN_BYTES
    if not a.is_read and a.key == SYSREG_KEY_ICC_SGI1R:
        vgicv3_sgi_write(vcpu, value, True)
        return
    if not a.is_read and (a.key == SYSREG_KEY_ICC_ASGI1R or a.key == SYSREG_KEY_ICC_SGI0R):
        vgicv3_sgi_write(vcpu, value, False)
        return
    if vptimer_handles(a.key):          # CNTPCT_EL0, CNTP_*_EL0: the guest's physical counter and timer
        if not a.is_read:
            vptimer_write(a.key, value)
        elif a.rt != 31:
            f.x[a.rt] = vptimer_read(a.key)
        return
    if _warn_ok():
        kprint("vcpu %u: trapped %s of system register key 0x%x: RAZ/WI\n", vcpu,
               "read" if a.is_read else "write", a.key)
    if a.is_read and a.rt != 31:
        f.x[a.rt] = u64(0)


def _sync(vcpu: u32) -> bool:
    # First thing after a guest exit. Skip the sync (and this vCPU's vGIC lock) when no list register
    # was filled at the last flush (lr_used is written only by this CPU). True if the LRs were read back:
    # then they must be rewritten before the next entry.
    if vgic_lr_used(vcpu) == 0:
        return False
    vgic_sync_from_lrs(vcpu)
    return True


def _entry_tail(vcpu: u32, synced: bool) -> None:
    # Last thing before every return to the guest. When the LRs are empty and nothing is queued, the flush
    # is skipped; an interrupt queued concurrently by another CPU comes with a kick, i.e. another exit.
    if clock_reload():                  # the node's CNTVOFF moved (a clock step kicks every CPU)
        vptimer_rebase()
    vtimer_resample(vcpu)
    if synced or vgic_state().vcpus[vcpu].ap_count != 0:
        vgic_flush_to_lrs(vcpu)


def vcpu_trap_sync(f: TrapFrame) -> None:
    # A synchronous exception from the guest (EL1/EL0) on this CPU.
    c = _cpu.get()
    vcpu = c.vcpu
    c.exits += 1
    vm_counters().exits[vm_cpu_index()] += 1
    synced = _sync(vcpu)
    e = Esr()
    esr_decode(f.esr, e)
    if e.ec == EC_DABT_LOW or e.ec == EC_IABT_LOW:
        guestfault_abort(f, vcpu, e)    # RAM faults (DSM) first, then MMIO; never steps ELR on a retry
    elif e.ec == EC_HVC64:
        _smccc(f, vcpu)
    elif e.ec == EC_SMC64:
        f.elr += A64_INSN_BYTES         # a trapped SMC returns to the SMC itself
        _smccc(f, vcpu)
    elif e.ec == EC_SYS64:
        _sysreg(f, vcpu, e.iss)
    elif e.ec == EC_WFX:
        wfx_handle(f, vcpu, e.iss)
    else:
        if _warn_ok():
            kprint("vcpu %u: exception class 0x%x (esr 0x%x) at pc 0x%x: undefined instruction injected\n",
                   vcpu, e.ec, f.esr, f.elr)
        inject_undef(f)
    _entry_tail(vcpu, synced)


# --- interrupts -------------------------------------------------------------------------------------------

def _host_irq(vcpu: u32, intid: u32) -> None:
    if intid == VGIC_VTIMER_PPI:
        vtimer_fire(vcpu)
    elif intid == VTIMER_PHYS_PPI:
        vtimer_fire_phys(vcpu)
    elif intid == VGIC_MAINT_PPI:
        vgic_maintenance(vcpu)
    elif intid == TIMER_HYP_PPI:
        timer_handle_irq()
        trap_device_irq(intid)          # a cluster node's CPU 0 serves the cluster on it (vm_cluster.py)
    elif intid == VCPU_KICK_SGI:
        pass                            # a kick: the exit itself was the point (we flush on the way back)
    elif trap_device_irq(intid):
        pass
    elif _warn_ok():
        kprint("vcpu %u: host irq %u has no handler\n", vcpu, intid)


def vcpu_trap_irq(f: TrapFrame) -> None:
    # A physical IRQ, taken from the guest or from pyhv's own irq_wait() (WFI policy, CPU_ON wait).
    c = _cpu.get()
    guest = c.running and el2_from_guest(f.spsr)
    synced = False
    if guest:
        c.exits += 1
        vm_counters().exits[vm_cpu_index()] += 1
        c.irqs += 1
        synced = _sync(c.vcpu)
    intid = gic_ack()
    if intid < GIC_FIRST_SPECIAL:
        _host_irq(c.vcpu, intid)
        gic_eoi(intid)
    if guest:
        _entry_tail(c.vcpu, synced)
