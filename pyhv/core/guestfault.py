# Stage-2 aborts taken from the guest (EC 0x24 data, 0x20 instruction): classified once
# (pyhv/arch/abort.py), then dispatched by address and fault kind (docs/vm-model.md, "Guest faults"):
#
#   IPA inside guest RAM (VmConfig mem regions), translation or permission fault, for a data access, an
#   instruction fetch or the guest's own stage-1 walk (S1PTW)
#       -> GuestMemFaultOps.fault(vcpu, ipa, kind) FIRST (the DSM maps or upgrades the page):
#          handled: return to the guest WITHOUT stepping ELR, so the faulting instruction runs again;
#          not handled: a synchronous external abort is injected (data or prefetch, as the access was)
#   IPA outside RAM
#       instruction fetch -> prefetch abort (no device is executable)
#       stage-1 walk      -> data / prefetch abort (the guest put its tables where nothing is)
#       data access       -> the MMIO decoder (pyhv/arch/decode.py) -> mmio_guest_access (local or forwarded to the owner) -> decode_complete;
#                            no device answers: data abort
#   any IPA: access flag / external / other -> abort injected (the architecture's answer); alignment ->
#   alignment fault injected; TLB conflict -> this CPU's stage-1+2 TLB flushed and the access retried
#
# The single-node VM installs GUESTFAULT_ABSENT_OPS: its RAM is fully mapped at set-up, so a RAM fault is
# pyhv's bug or a guest touching a hole; it answers "not handled" with a rate-limited warning. A guest
# never panics pyhv: every path ends in an emulated access, a retry or an injected exception.

from typing import Callable, Final

from pyhv.lang import Ops, OpsSlot, PerCpu, Static, Struct, dsb, isb, kprint, range, sysreg_read, tlbi, u32, u64

from pyhv.arch.abort import (
    ABORT_ALIGNMENT, ABORT_PERMISSION, ABORT_TLB_CONFLICT,
    ABORT_TRANSLATION, AbortInfo, abort_classify, abort_kind_name, abort_status_name,
)
from pyhv.arch.decode import (
    DECODE_CACHE_MAINT, DECODE_OK, DecodedDabt, decode_complete, decode_dabt,
)
from pyhv.arch.esr import Esr
from pyhv.arch.frame import TrapFrame
from pyhv.arch.inject import (
    FSC_ALIGNMENT, FSC_SYNC_EXTERNAL, inject_data_abort, inject_data_abort_fsc, inject_prefetch_abort,
)
from pyhv.core.mmio import A64_INSN_BYTES, MMIO_HANDLED, mmio_guest_access
from pyhv.core.ratelimit import RateLimit, ratelimit_allow
from pyhv.core.vmconfig import vmconfig_ipa_in_ram
from pyhv.core.vmstate import vm_config

GUESTFAULT_HANDLED: Final = u32(0)          # the page is now mapped as needed: retry the instruction
GUESTFAULT_NOT_HANDLED: Final = u32(1)      # nothing can map it: the guest gets an abort
GUESTFAULT_WARN_BURST: Final = u32(10)      # warnings per second
PAGE_BYTES: Final = u64(4096)


class GuestMemFaultOps(Ops):
    # (vcpu, faulting IPA, ABORT_KIND_* of pyhv/arch/abort.py) -> GUESTFAULT_HANDLED / NOT_HANDLED.
    # Runs in the trap handler of the faulting vCPU's CPU, IRQs masked; may block (a remote page fetch).
    fault: Callable[[u32, u64, u32], u32]


class GuestFaultCpu(Struct):
    ram_faults: u64         # RAM faults handed to the ops slot
    ram_retries: u64        # ... of which handled (instruction retried)
    mmio: u64               # emulated device accesses
    injected: u64           # aborts injected into the guest


class GuestFaultState(Struct):
    installed: bool
    rl: RateLimit


_ops: Final = OpsSlot(GuestMemFaultOps)
_st: Final = Static(GuestFaultState)
_cpu: Final = PerCpu(GuestFaultCpu)


def guestfault_set_ops(ops: GuestMemFaultOps) -> None:
    # The VM set-up (single node: GUESTFAULT_ABSENT_OPS) or the DSM, before any vCPU runs.
    _ops.set(ops)
    _st.get().installed = True


def guestfault_installed() -> bool:
    return _st.get().installed


def guestfault_stats() -> GuestFaultCpu:
    return _cpu.get()


def _warn_ok() -> bool:
    return ratelimit_allow(_st.get().rl, GUESTFAULT_WARN_BURST)


def _absent_fault(vcpu: u32, ipa: u64, kind: u32) -> u32:
    if _warn_ok():
        kprint("vcpu %u: %s fault on guest ram ipa 0x%x, which is always mapped on one node (a hole, or a pyhv "
               "bug): abort injected\n", vcpu, abort_kind_name(kind), ipa)
    return GUESTFAULT_NOT_HANDLED


GUESTFAULT_ABSENT_OPS: Final = GuestMemFaultOps(fault=_absent_fault)


def _fault_ops(vcpu: u32, ipa: u64, kind: u32) -> u32:
    if not _st.get().installed:
        return _absent_fault(vcpu, ipa, kind)
    return _ops.get().fault(vcpu, ipa, kind)


def _inject(f: TrapFrame, a: AbortInfo, fsc: u32) -> None:
    # The abort the architecture gives for this access: prefetch abort for a fetch (also when its stage-1
    # walk failed), data abort otherwise. FAR_EL1 = the VA (ELR for a fetch whose FAR is not valid).
    _cpu.get().injected += 1
    if a.is_fetch:
        inject_prefetch_abort(f, a.va if a.far_valid else f.elr)
    else:
        inject_data_abort_fsc(f, a.va, a.is_write, fsc)


def _mmio(f: TrapFrame, vcpu: u32, a: AbortInfo) -> None:
    d = DecodedDabt()
    err = decode_dabt(f, a.ipa, d)
    if err == DECODE_CACHE_MAINT:
        f.elr += A64_INSN_BYTES         # DC on an emulated device: nothing to maintain
        return
    if err != DECODE_OK:
        if _warn_ok():
            kprint("vcpu %u: data abort at ipa 0x%x pc 0x%x not decodable (%u): abort injected\n", vcpu, a.ipa,
                   f.elr, err)
        _inject(f, a, FSC_SYNC_EXTERNAL)
        return
    c = _cpu.get()
    for k in range(u32(d.count)):
        acc = d.acc[k]
        c.mmio += 1
        if mmio_guest_access(vcpu, acc) != MMIO_HANDLED:
            if _warn_ok():
                kprint("vcpu %u: %s of ipa 0x%x at pc 0x%x: no device, abort injected\n", vcpu,
                       "write" if acc.is_write else "read", acc.ipa, f.elr)
            c.injected += 1
            inject_data_abort(f, f.far, acc.is_write)
            return
    decode_complete(f, d)


def _not_ram(f: TrapFrame, vcpu: u32, a: AbortInfo) -> None:
    if a.is_fetch or a.s1ptw:
        if _warn_ok():
            kprint("vcpu %u: %s at ipa 0x%x (va 0x%x, pc 0x%x): nothing there, abort injected\n", vcpu,
                   "instruction fetch" if a.is_fetch and not a.s1ptw else "stage-1 table walk", a.ipa, a.va,
                   f.elr)
        _inject(f, a, FSC_SYNC_EXTERNAL)
        return
    _mmio(f, vcpu, a)


def guestfault_abort(f: TrapFrame, vcpu: u32, e: Esr) -> None:
    # A data or instruction abort from the guest (e: the decoded ESR_EL2 of f) on this CPU.
    a = AbortInfo()
    abort_classify(e, f.far, sysreg_read("hpfar_el2"), a)
    if a.status == ABORT_TLB_CONFLICT:
        # Two TLB entries for one address: a break-before-make slip of ours. Drop this CPU's stage-1+2
        # entries of the VM and retry (the architecture leaves recovery to the hypervisor).
        if _warn_ok():
            kprint("vcpu %u: stage-2 tlb conflict at ipa 0x%x: tlb flushed, retried\n", vcpu, a.ipa)
        tlbi("vmalls12e1")
        dsb("nsh")
        isb()
        return
    if a.status == ABORT_TRANSLATION or a.status == ABORT_PERMISSION:
        if vmconfig_ipa_in_ram(vm_config(), a.ipa & ~(PAGE_BYTES - 1), PAGE_BYTES):
            c = _cpu.get()
            c.ram_faults += 1
            if _fault_ops(vcpu, a.ipa, a.kind) == GUESTFAULT_HANDLED:
                c.ram_retries += 1
                return                  # ELR unchanged: the faulting instruction runs again
            _inject(f, a, FSC_SYNC_EXTERNAL)
            return
        _not_ram(f, vcpu, a)
        return
    if _warn_ok():
        kprint("vcpu %u: %s %s abort at ipa 0x%x (esr 0x%x, pc 0x%x): abort injected\n", vcpu,
               abort_status_name(a.status), abort_kind_name(a.kind), a.ipa, f.esr, f.elr)
    _inject(f, a, FSC_ALIGNMENT if a.status == ABORT_ALIGNMENT else FSC_SYNC_EXTERNAL)

