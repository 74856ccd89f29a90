# Trapped MSR/MRS from the guest (ESR_EL2.EC = 0x18, ARM DDI 0487 D23.2.x "ISS encoding for an exception
# from MSR, MRS, or System instruction execution"), decoded once into a SysregAccess record.
#
#   ISS: 21-20 Op0 | 19-17 Op2 | 16-14 Op1 | 13-10 CRn | 9-5 Rt | 4-1 CRm | 0 Direction (1 = read)
#
# With HCR_EL2 and CNTHCTL_EL2 as el2.py sets them, the system registers that trap are the GICv3 SGI
# generators (ICC_SGI1R_EL1, ICC_ASGI1R_EL1, ICC_SGI0R_EL1: HCR_EL2.IMO/FMO), the physical counter
# (CNTPCT_EL0: EL1PCTEN = 0) and the EL1 physical timer (CNTP_CTL/CVAL/TVAL_EL0: EL1PCEN = 0), emulated by
# pyhv/vdev/vptimer.py. Anything else that traps is answered read-as-zero / write-ignored with a
# rate-limited warning, never a panic.

from typing import Final

from pyhv.lang import Struct, u8, u32, u64

SYSREG_READ: Final = u32(1)             # Direction bit
SYSREG_KEY_ICC_SGI1R: Final = u32(0x30_0CB5)      # S3_0_C12_C11_5
SYSREG_KEY_ICC_ASGI1R: Final = u32(0x31_0CB6)     # S3_1_C12_C11_6
SYSREG_KEY_ICC_SGI0R: Final = u32(0x32_0CB7)      # S3_2_C12_C11_7
SYSREG_KEY_CNTPCT: Final = u32(0x33_0E01)         # S3_3_C14_C0_1  CNTPCT_EL0
SYSREG_KEY_CNTP_TVAL: Final = u32(0x33_0E20)      # S3_3_C14_C2_0  CNTP_TVAL_EL0
SYSREG_KEY_CNTP_CTL: Final = u32(0x33_0E21)       # S3_3_C14_C2_1  CNTP_CTL_EL0
SYSREG_KEY_CNTP_CVAL: Final = u32(0x33_0E22)      # S3_3_C14_C2_2  CNTP_CVAL_EL0


class SysregAccess(Struct):
    key: u32            # op0 << 20 | op1 << 16 | CRn << 8 | CRm << 4 | op2  (see sysreg_key)
    rt: u8              # general register (31 = xzr)
    is_read: bool


def sysreg_key(op0: u32, op1: u32, crn: u32, crm: u32, op2: u32) -> u32:
    # One number per system register, in the order the assembler writes S<op0>_<op1>_C<n>_C<m>_<op2>.
    return (op0 << 20) | (op1 << 16) | (crn << 8) | (crm << 4) | op2


def sysreg_trap_decode(iss: u32, out: SysregAccess) -> None:
    op0 = (iss >> 20) & 3
    op2 = (iss >> 17) & 7
    op1 = (iss >> 14) & 7
    crn = (iss >> 10) & 0xF
    rt = (iss >> 5) & 0x1F
    crm = (iss >> 1) & 0xF
    out.key = sysreg_key(op0, op1, crn, crm, op2)
    out.rt = u8(rt)
    out.is_read = (iss & SYSREG_READ) != 0


def sysreg_value_of(x: u64, rt: u8) -> u64:
    # The value a guest MSR writes: register rt, or zero for xzr (rt = 31); x is frame.x[rt] when rt < 31.
    return u64(0) if rt == 31 else x
