# Exceptions pyhv makes the guest take (ARM DDI 0487, D1.10 "Exception entry"): what the hardware would do
# on a synchronous exception to EL1, done by hand on the trap frame — ESR_EL1/FAR_EL1/ELR_EL1/SPSR_EL1 set,
# PSTATE = EL1h with D/A/I/F masked, and ELR_EL2 at the right VBAR_EL1 vector (+0x000 from EL1t, +0x200
# from EL1h, +0x400 from EL0 AArch64).
# Used when a guest touches an address nothing emulates (an external abort, as a bus would answer) and for
# an instruction pyhv refuses to emulate (undefined instruction).

from typing import Final

from pyhv.lang import sysreg_read, sysreg_write, u64

from pyhv.arch.frame import TrapFrame

EC_DABT_LOWER: Final = u64(0x24)        # data abort from a lower EL (the guest was at EL0)
EC_DABT_SAME: Final = u64(0x25)         # data abort without a change of EL (the guest was at EL1)
EC_UNKNOWN: Final = u64(0x00)
ESR_EC_SHIFT: Final = 26
ESR_IL: Final = u64(1 << 25)
DFSC_SYNC_EXTERNAL: Final = u64(0x10)   # synchronous external abort, not on a translation table walk
ISS_WNR: Final = u64(1 << 6)
SPSR_EL1H_MASKED: Final = u64(0x3C5)
VECTOR_CURRENT_SP0: Final = u64(0x000)
VECTOR_CURRENT_SPX: Final = u64(0x200)
VECTOR_LOWER_A64: Final = u64(0x400)


def _vector_offset(spsr: u64) -> u64:
    m = spsr & 0xF
    if m == 5:
        return VECTOR_CURRENT_SPX
    if m == 4:
        return VECTOR_CURRENT_SP0
    return VECTOR_LOWER_A64


def _enter_el1(f: TrapFrame, esr: u64) -> None:
    sysreg_write("esr_el1", esr)
    sysreg_write("elr_el1", f.elr)
    sysreg_write("spsr_el1", f.spsr)
    f.elr = sysreg_read("vbar_el1") + _vector_offset(f.spsr)
    f.spsr = SPSR_EL1H_MASKED


def inject_data_abort(f: TrapFrame, va: u64, is_write: bool) -> None:
    # A synchronous external abort on the data access at ELR (the faulting VA is the trap's FAR).
    from_el1 = (f.spsr & 0xC) == 0x4
    ec = EC_DABT_SAME if from_el1 else EC_DABT_LOWER
    iss = DFSC_SYNC_EXTERNAL | (ISS_WNR if is_write else u64(0))
    sysreg_write("far_el1", va)
    _enter_el1(f, (ec << ESR_EC_SHIFT) | ESR_IL | iss)


def inject_undef(f: TrapFrame) -> None:
    # The instruction at ELR is undefined for the guest.
    _enter_el1(f, (EC_UNKNOWN << ESR_EC_SHIFT) | ESR_IL)
