# Exceptions pyhv makes the guest take (ARM DDI 0487, D1.10 "Exception entry"; D23.2 ESR_EL1 for the
# syndromes): what the hardware would do on a synchronous exception to EL1, done by hand on the trap frame —
# ESR_EL1/FAR_EL1/ELR_EL1/SPSR_EL1 set, PSTATE = EL1h with D/A/I/F masked, and ELR_EL2 at the right VBAR_EL1
# vector (+0x000 from EL1t, +0x200 from EL1h, +0x400 from EL0 AArch64, +0x600 from EL0 AArch32).
#
#   what the guest did                                  what it takes (docs/vm-model.md, "Injection")
#   data access to an IPA nothing answers               data abort: EC 0x25 from EL1 / 0x24 from EL0,
#                                                       DFSC 0x10 (synchronous external abort), WnR, FAR_EL1
#   instruction fetch from an IPA that is not RAM       prefetch abort: EC 0x21 from EL1 / 0x20 from EL0,
#   (no device is executable)                           IFSC 0x10, FAR_EL1 = the VA fetched
#   an instruction pyhv refuses to emulate              undefined instruction: EC 0x00
#
# The external-abort status is what a bus answers for an address with nothing behind it (and what KVM
# injects); the guest cannot tell it from a real one.

from typing import Final

from pyhv.lang import sysreg_read, sysreg_write, u32, u64

from pyhv.arch.frame import TrapFrame

EC_UNKNOWN: Final = u64(0x00)
EC_IABT_LOWER: Final = u64(0x20)        # instruction abort from a lower EL (the guest was at EL0)
EC_IABT_SAME: Final = u64(0x21)         # instruction abort without a change of EL (the guest was at EL1)
EC_DABT_LOWER: Final = u64(0x24)        # data abort from a lower EL (the guest was at EL0)
EC_DABT_SAME: Final = u64(0x25)         # data abort without a change of EL (the guest was at EL1)
ESR_EC_SHIFT: Final = 26
ESR_IL: Final = u64(1 << 25)            # RES1 for aborts; a 32-bit instruction for EC 0
FSC_SYNC_EXTERNAL: Final = u32(0x10)    # synchronous external abort, not on a translation table walk
FSC_ALIGNMENT: Final = u32(0x21)
ISS_WNR: Final = u64(1 << 6)
ISS_FSC_MASK: Final = u64(0x3F)
SPSR_EL1H_MASKED: Final = u64(0x3C5)
SPSR_M_AARCH32: Final = u64(1 << 4)
VECTOR_CURRENT_SP0: Final = u64(0x000)
VECTOR_CURRENT_SPX: Final = u64(0x200)
VECTOR_LOWER_A64: Final = u64(0x400)
VECTOR_LOWER_A32: Final = u64(0x600)


def _vector_offset(spsr: u64) -> u64:
    if (spsr & SPSR_M_AARCH32) != 0:
        return VECTOR_LOWER_A32
    m = spsr & 0xF
    if m == 5:
        return VECTOR_CURRENT_SPX
    if m == 4:
        return VECTOR_CURRENT_SP0
    return VECTOR_LOWER_A64


def _from_el1(spsr: u64) -> bool:
    return (spsr & SPSR_M_AARCH32) == 0 and (spsr & 0xC) == 0x4


def _enter_el1(f: TrapFrame, esr: u64) -> None:
    sysreg_write("esr_el1", esr)
    sysreg_write("elr_el1", f.elr)
    sysreg_write("spsr_el1", f.spsr)
    f.elr = sysreg_read("vbar_el1") + _vector_offset(f.spsr)
    f.spsr = SPSR_EL1H_MASKED


def inject_data_abort_fsc(f: TrapFrame, va: u64, is_write: bool, fsc: u32) -> None:
    # A data abort with status `fsc` on the access at ELR to `va` (the trap's FAR).
    ec = EC_DABT_SAME if _from_el1(f.spsr) else EC_DABT_LOWER
    iss = (u64(fsc) & ISS_FSC_MASK) | (ISS_WNR if is_write else u64(0))
    sysreg_write("far_el1", va)
    _enter_el1(f, (ec << ESR_EC_SHIFT) | ESR_IL | iss)


def inject_data_abort(f: TrapFrame, va: u64, is_write: bool) -> None:
    # A synchronous external abort on the data access at ELR (the faulting VA is the trap's FAR).
    inject_data_abort_fsc(f, va, is_write, FSC_SYNC_EXTERNAL)


def inject_prefetch_abort(f: TrapFrame, va: u64) -> None:
    # A synchronous external abort on the instruction fetch from `va` (the instruction at ELR).
    ec = EC_IABT_SAME if _from_el1(f.spsr) else EC_IABT_LOWER
    sysreg_write("far_el1", va)
    _enter_el1(f, (ec << ESR_EC_SHIFT) | ESR_IL | u64(FSC_SYNC_EXTERNAL))


def inject_undef(f: TrapFrame) -> None:
    # The instruction at ELR is undefined for the guest.
    _enter_el1(f, (EC_UNKNOWN << ESR_EC_SHIFT) | ESR_IL)
