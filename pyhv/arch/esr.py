# ESR_EL2 (Exception Syndrome Register) fields: ARM DDI 0487, D23.2 "ESR_EL2". A trap is decoded once,
# into an Esr record, and handlers read named fields from it instead of shifting the raw value.
#
#   63      32 31    26 25 24                   0
#   |  ISS2   |   EC   |IL|         ISS          |

from typing import Final

from pyhv.lang import Struct, u32, u64

ESR_EC_SHIFT: Final = 26
ESR_EC_MASK: Final = u64(0x3F)
ESR_IL_BIT: Final = u64(1 << 25)
ESR_ISS_MASK: Final = u64(0x1FFFFFF)

EC_UNKNOWN: Final = u32(0x00)           # unknown reason (e.g. an undefined instruction)
EC_WFX: Final = u32(0x01)               # trapped WFI/WFE
EC_HVC64: Final = u32(0x16)             # HVC from AArch64
EC_SMC64: Final = u32(0x17)             # SMC from AArch64
EC_SYS64: Final = u32(0x18)             # trapped MSR/MRS/system instruction
EC_IABT_LOW: Final = u32(0x20)          # instruction abort from a lower EL
EC_IABT_CUR: Final = u32(0x21)          # instruction abort at EL2
EC_PC_ALIGN: Final = u32(0x22)          # PC alignment fault
EC_DABT_LOW: Final = u32(0x24)          # data abort from a lower EL
EC_DABT_CUR: Final = u32(0x25)          # data abort at EL2
EC_SP_ALIGN: Final = u32(0x26)          # SP alignment fault
EC_SERROR: Final = u32(0x2F)            # SError
EC_BRK64: Final = u32(0x3C)             # BRK instruction from AArch64

BRK_COMMENT_MASK: Final = u32(0xFFFF)   # ISS of a BRK: the instruction's 16-bit immediate


class Esr(Struct):
    raw: u64
    ec: u32         # exception class [31:26]
    il: bool        # instruction length [25]: True = 32-bit instruction
    iss: u32        # instruction-specific syndrome [24:0]


def esr_decode(raw: u64, out: Esr) -> None:
    out.raw = raw
    out.ec = u32((raw >> ESR_EC_SHIFT) & ESR_EC_MASK)
    out.il = (raw & ESR_IL_BIT) != 0
    out.iss = u32(raw & ESR_ISS_MASK)


def esr_brk_comment(e: Esr) -> u32:
    return e.iss & BRK_COMMENT_MASK


def esr_insn_bytes(e: Esr) -> u64:
    # Length of the trapping instruction: 4, or 2 for a 16-bit T32 instruction.
    return u64(4) if e.il else u64(2)


def esr_ec_name(ec: u32) -> str:
    if ec == EC_UNKNOWN:
        return "unknown"
    if ec == EC_WFX:
        return "wfi/wfe"
    if ec == EC_HVC64:
        return "hvc"
    if ec == EC_SMC64:
        return "smc"
    if ec == EC_SYS64:
        return "msr/mrs"
    if ec == EC_IABT_LOW or ec == EC_IABT_CUR:
        return "instruction abort"
    if ec == EC_PC_ALIGN:
        return "pc alignment"
    if ec == EC_DABT_LOW or ec == EC_DABT_CUR:
        return "data abort"
    if ec == EC_SP_ALIGN:
        return "sp alignment"
    if ec == EC_SERROR:
        return "serror"
    if ec == EC_BRK64:
        return "brk"
    return "other"
