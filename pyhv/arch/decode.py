# A guest data abort (ESR_EL2.EC = 0x24) turned into typed MMIO accesses, once, before any handler sees it
# (docs/vm-model.md). With a valid syndrome (ISS.ISV = 1) the access is read from the ISS; otherwise the
# instruction at ELR_EL2 is fetched through the guest's stage 1 (pyhv/core/guestmem.py) and decoded
# (pyhv/arch/decode_insn.py). A pair (LDP/STP) becomes two accesses.
#
# The data-abort ISS fields (ARM DDI 0487, D23.2 ESR_EL2) are declared in pyhv/arch/abort.py. Only aborts
# on IPAs outside guest RAM come here (pyhv/core/guestfault.py classifies them first).
#
# Use: decode_dabt(frame, fault_ipa, d) -> DECODE_OK; mmio_dispatch() each of d.acc[0 .. d.count-1];
# then decode_complete(frame, d) writes loaded values, the base-register writeback and steps ELR.

from typing import Annotated, Final

from pyhv.lang import range, Array, Struct, sysreg_write, u8, u32, u64

from pyhv.arch.abort import (
    ISS_CM, ISS_FNV, ISS_ISV, ISS_S1PTW, ISS_SAS_MASK, ISS_SAS_SHIFT, ISS_SF, ISS_SRT_MASK, ISS_SRT_SHIFT, ISS_SSE,
    ISS_WNR, abort_fault_ipa,
)
from pyhv.arch.decode_insn import LDST_POST, LDST_PRE, LDST_REG, LdStInsn, decode_ldst, ldst_index_value
from pyhv.arch.esr import EC_DABT_LOW, Esr, esr_decode
from pyhv.arch.frame import TrapFrame
from pyhv.core.guestmem import GUESTMEM_OK, GuestWord, guestmem_fetch_insn
from pyhv.core.mmio import A64_INSN_BYTES, XZR, MmioAccess, mmio_load_result

DECODE_OK: Final = u32(0)
DECODE_NOT_DABT: Final = u32(1)         # not a data abort from a lower EL
DECODE_S1PTW: Final = u32(2)            # the fault hit the guest's own stage-1 walk, not an access
DECODE_CACHE_MAINT: Final = u32(3)      # a cache maintenance instruction (DC ...): skip it, no access
DECODE_FETCH_FAILED: Final = u32(4)     # the instruction at ELR could not be read
DECODE_UNSUPPORTED: Final = u32(5)      # not a load/store we emulate (or an AArch32 guest)

SPSR_M_AARCH32: Final = u64(1 << 4)     # SPSR_EL2.M[4]: the interrupted state was AArch32
SPSR_M_MASK: Final = u64(0xF)
SPSR_M_EL1H: Final = u64(0b0101)        # EL1 using SP_EL1
SP_REG: Final = u8(31)                  # register number 31 as a base register: the stack pointer


class DecodedDabt(Struct):
    acc: Annotated[Array[MmioAccess], 2]
    count: u8           # accesses in acc: 1, or 2 for a pair
    writeback: bool     # pre/post-index: set wb_reg to wb_value after the accesses
    wb_reg: u8          # base register (31 = the guest's SP)
    wb_value: u64


def decode_fault_ipa(far: u64, hpfar: u64) -> u64:
    # The faulting IPA of a stage-2 abort: page from HPFAR_EL2.FIPA, offset from FAR_EL2.
    return abort_fault_ipa(far, hpfar)


def _xreg(f: TrapFrame, r: u8) -> u64:
    # A data or index register: 31 is the zero register.
    if r == XZR:
        return u64(0)
    return f.x[r]


def _base_reg(f: TrapFrame, r: u8) -> u64:
    # A base register: 31 is the guest's SP (the vectors save SP_EL1 or SP_EL0 per SPSR_EL2.M).
    if r == SP_REG:
        return f.sp
    return f.x[r]


def _width_mask(width_bytes: u8) -> u64:
    if width_bytes >= 8:
        return ~u64(0)
    return (u64(1) << (u32(width_bytes) * 8)) - 1


def _fill(f: TrapFrame, a: MmioAccess, ipa: u64, width: u8, write: bool, reg: u8) -> None:
    a.ipa = ipa
    a.width_bytes = width
    a.is_write = write
    a.reg = reg
    a.value = u64(0)
    if write:
        a.value = _xreg(f, reg) & _width_mask(width)


def _from_syndrome(f: TrapFrame, iss: u32, fault_ipa: u64, out: DecodedDabt) -> None:
    a = out.acc[0]
    width = u8(1) << u8((iss >> ISS_SAS_SHIFT) & ISS_SAS_MASK)
    _fill(f, a, fault_ipa, width, (iss & ISS_WNR) != 0, u8((iss >> ISS_SRT_SHIFT) & ISS_SRT_MASK))
    a.sign_extend = (iss & ISS_SSE) != 0
    a.sixty_four = (iss & ISS_SF) != 0
    out.count = u8(1)


def _from_insn(f: TrapFrame, iss: u32, fault_ipa: u64, out: DecodedDabt) -> u32:
    if (f.spsr & SPSR_M_AARCH32) != 0:
        return DECODE_UNSUPPORTED
    word = GuestWord()
    if guestmem_fetch_insn(f.elr, word) != GUESTMEM_OK:
        return DECODE_FETCH_FAILED
    ins = LdStInsn()
    if not decode_ldst(u32(word.value), ins):
        return DECODE_UNSUPPORTED
    base = _base_reg(f, ins.rn)
    va = base                           # LDST_POST: the access uses the base as it was
    if ins.mode == LDST_REG:
        va = base + ldst_index_value(_xreg(f, ins.rm), ins.extend, ins.shift)
    elif ins.mode != LDST_POST:
        va = base + u64(ins.imm)
    # FAR holds the VA of the element that faulted; the other element of a pair sits next to it.
    far = va if (iss & ISS_FNV) != 0 else f.far
    step = u64(ins.width_bytes)
    for k in range(u32(ins.count)):
        a = out.acc[k]
        reg = ins.rt if k == 0 else ins.rt2
        _fill(f, a, fault_ipa + (va + u64(k) * step - far), ins.width_bytes, ins.is_write, reg)
        a.sign_extend = ins.sign_extend
        a.sixty_four = ins.sixty_four
    out.count = ins.count
    if ins.mode == LDST_PRE or ins.mode == LDST_POST:
        out.writeback = True
        out.wb_reg = ins.rn
        out.wb_value = base + u64(ins.imm)
    return DECODE_OK


def decode_dabt(f: TrapFrame, fault_ipa: u64, out: DecodedDabt) -> u32:
    # Decode the data abort in `f` (fault_ipa from decode_fault_ipa) into accesses. Returns DECODE_*.
    e = Esr()
    esr_decode(f.esr, e)
    out.count = u8(0)
    out.writeback = False
    if e.ec != EC_DABT_LOW:
        return DECODE_NOT_DABT
    if (e.iss & ISS_S1PTW) != 0:
        return DECODE_S1PTW
    if (e.iss & ISS_CM) != 0:
        return DECODE_CACHE_MAINT
    if (e.iss & ISS_ISV) != 0:
        _from_syndrome(f, e.iss, fault_ipa, out)
        return DECODE_OK
    return _from_insn(f, e.iss, fault_ipa, out)


def _set_guest_sp(f: TrapFrame, v: u64) -> None:
    # The vectors do not restore SP from the frame: write the banked register the guest was using.
    f.sp = v
    if (f.spsr & SPSR_M_MASK) == SPSR_M_EL1H:
        sysreg_write("sp_el1", v)
    else:
        sysreg_write("sp_el0", v)


def decode_complete(f: TrapFrame, d: DecodedDabt) -> None:
    # After every access of `d` was dispatched: loaded values into their registers, the base-register
    # writeback of a pre/post-indexed form, and ELR past the instruction.
    for k in range(u32(d.count)):
        mmio_load_result(f, d.acc[k])
    if d.writeback:
        if d.wb_reg == SP_REG:
            _set_guest_sp(f, d.wb_value)
        else:
            f.x[d.wb_reg] = d.wb_value
    f.elr += A64_INSN_BYTES
