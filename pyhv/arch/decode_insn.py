# Decoding of the A64 load/store instructions a guest may aim at emulated MMIO when the data-abort syndrome
# does not describe the access (ESR_EL2.ISS.ISV = 0): ARM DDI 0487, C4.1.66 "Loads and Stores" encoding
# groups. Only integer (V = 0) single-register and pair forms are decoded; everything else (SIMD/FP,
# exclusives, atomics, prefetch, MTE tag stores) is refused and the caller injects an abort.
#
#   single register   size 111 V 0 1 opc imm12 Rn Rt                         unsigned offset (scaled)
#                     size 111 V 0 0 opc 0 imm9 00 Rn Rt                     LDUR/STUR (unscaled)
#                     size 111 V 0 0 opc 0 imm9 01 Rn Rt                     post-index
#                     size 111 V 0 0 opc 0 imm9 10 Rn Rt                     LDTR/STTR (unprivileged)
#                     size 111 V 0 0 opc 0 imm9 11 Rn Rt                     pre-index
#                     size 111 V 0 0 opc 1 Rm option S 10 Rn Rt              register offset
#   pair              opc  101 V 0 mode(2) L imm7 Rt2 Rn Rt                  mode 00 LDNP/STNP, 01 post,
#                                                                            10 signed offset, 11 pre

from typing import Final

from pyhv.lang import Struct, i32, i64, u8, u32, u64

LDST_OFFSET: Final = u8(0)          # address = Xn|SP + imm, no writeback
LDST_PRE: Final = u8(1)             # address = Xn|SP + imm, then Xn|SP = address
LDST_POST: Final = u8(2)            # address = Xn|SP, then Xn|SP += imm
LDST_REG: Final = u8(3)             # address = Xn|SP + extend(Rm) << shift

# Register-offset `option` field values
EXT_UXTW: Final = u8(0b010)
EXT_LSL: Final = u8(0b011)          # UXTX
EXT_SXTW: Final = u8(0b110)
EXT_SXTX: Final = u8(0b111)

# Encoding-group masks (bits that identify the group) and values
_SINGLE_UIMM_MASK: Final = u32(0x3B000000)      # bits 29:27, 25:24
_SINGLE_UIMM_VAL: Final = u32(0x39000000)       # 111 . 01
_SINGLE_IMM9_MASK: Final = u32(0x3B200000)      # bits 29:27, 25:24, 21
_SINGLE_IMM9_VAL: Final = u32(0x38000000)       # 111 . 00 . 0
_SINGLE_REG_MASK: Final = u32(0x3B200C00)       # bits 29:27, 25:24, 21, 11:10
_SINGLE_REG_VAL: Final = u32(0x38200800)        # 111 . 00 . 1 . 10
_PAIR_MASK: Final = u32(0x3A000000)             # bits 29:27, 25
_PAIR_VAL: Final = u32(0x28000000)              # 101 . 0
_V_BIT: Final = u32(1 << 26)                    # SIMD&FP register form


class LdStInsn(Struct):
    imm: i64            # byte offset (already scaled), for LDST_OFFSET/PRE/POST
    count: u8           # 1, or 2 for a pair (second element at address + width_bytes)
    width_bytes: u8     # bytes per element: 1, 2, 4, 8
    is_write: bool
    sign_extend: bool   # loads: sign-extend to the destination
    sixty_four: bool    # loads: the destination is Xt
    mode: u8            # LDST_*
    rt: u8              # data register (31 = xzr)
    rt2: u8             # second data register of a pair
    rn: u8              # base register (31 = SP)
    rm: u8              # LDST_REG: index register (31 = xzr)
    extend: u8          # LDST_REG: EXT_*
    shift: u8           # LDST_REG: left shift applied to the extended index


def _bits(v: u32, lo: u32, n: u32) -> u32:
    return (v >> lo) & ((u32(1) << n) - 1)


def _sext(v: u32, n: u32) -> i64:
    # Sign-extend the n-bit field value v.
    x = i64(v)
    sign = i64(1) << (n - 1)
    return (x ^ sign) - sign


def _single_kind(size: u32, opc: u32, out: LdStInsn) -> bool:
    # size/opc -> width, direction and extension; False for PRFM and unallocated encodings.
    out.count = u8(1)
    out.width_bytes = u8(1) << u8(size)
    out.is_write = opc == 0
    out.sign_extend = opc >= 2
    if opc == 0 or opc == 1:
        out.sixty_four = size == 3
        return True
    if opc == 2:                    # LDRSB/LDRSH/LDRSW to Xt; size 3 is PRFM
        out.sixty_four = True
        return size != 3
    out.sixty_four = False          # LDRSB/LDRSH to Wt; sizes 2 and 3 unallocated
    return size < 2


def _decode_single(insn: u32, out: LdStInsn) -> bool:
    size = _bits(insn, u32(30), u32(2))
    if not _single_kind(size, _bits(insn, u32(22), u32(2)), out):
        return False
    out.rt = u8(_bits(insn, u32(0), u32(5)))
    out.rn = u8(_bits(insn, u32(5), u32(5)))
    if (insn & _SINGLE_UIMM_MASK) == _SINGLE_UIMM_VAL:
        out.mode = LDST_OFFSET
        out.imm = i64(_bits(insn, u32(10), u32(12)) << size)
        return True
    if (insn & _SINGLE_IMM9_MASK) == _SINGLE_IMM9_VAL:
        idx = _bits(insn, u32(10), u32(2))
        out.imm = _sext(_bits(insn, u32(12), u32(9)), u32(9))
        if idx == 1:
            out.mode = LDST_POST
        elif idx == 3:
            out.mode = LDST_PRE
        else:
            out.mode = LDST_OFFSET      # LDUR/STUR, and LDTR/STTR (same access for a device)
        return True
    out.mode = LDST_REG
    out.rm = u8(_bits(insn, u32(16), u32(5)))
    out.extend = u8(_bits(insn, u32(13), u32(3)))
    if out.extend != EXT_UXTW and out.extend != EXT_LSL and out.extend != EXT_SXTW and out.extend != EXT_SXTX:
        return False
    out.shift = u8(size) if _bits(insn, u32(12), u32(1)) != 0 else u8(0)
    return True


def _decode_pair(insn: u32, out: LdStInsn) -> bool:
    opc = _bits(insn, u32(30), u32(2))
    load = _bits(insn, u32(22), u32(1)) != 0
    if opc == 3 or (opc == 1 and not load):     # unallocated; STGP (MTE)
        return False
    scale = u32(3) if opc == 2 else u32(2)
    out.count = u8(2)
    out.width_bytes = u8(1) << u8(scale)
    out.is_write = not load
    out.sign_extend = opc == 1                  # LDPSW
    out.sixty_four = opc != 0
    out.rt = u8(_bits(insn, u32(0), u32(5)))
    out.rn = u8(_bits(insn, u32(5), u32(5)))
    out.rt2 = u8(_bits(insn, u32(10), u32(5)))
    out.imm = _sext(_bits(insn, u32(15), u32(7)), u32(7)) << scale
    mode = _bits(insn, u32(23), u32(2))
    if mode == 1:
        out.mode = LDST_POST
    elif mode == 3:
        out.mode = LDST_PRE
    else:
        out.mode = LDST_OFFSET                  # signed offset, and LDNP/STNP
    return True


def decode_ldst(insn: u32, out: LdStInsn) -> bool:
    # Decode an integer load/store (single or pair) into `out`; False for anything else.
    if (insn & _V_BIT) != 0:
        return False
    single = (insn & _SINGLE_UIMM_MASK) == _SINGLE_UIMM_VAL or (insn & _SINGLE_IMM9_MASK) == _SINGLE_IMM9_VAL
    if single or (insn & _SINGLE_REG_MASK) == _SINGLE_REG_VAL:
        return _decode_single(insn, out)
    if (insn & _PAIR_MASK) == _PAIR_VAL:
        return _decode_pair(insn, out)
    return False


def ldst_index_value(x: u64, extend: u8, shift: u8) -> u64:
    # The register-offset index: Rm extended per `extend`, shifted left by `shift`.
    v = x
    if extend == EXT_UXTW:
        v = x & u64(0xFFFF_FFFF)
    elif extend == EXT_SXTW:
        v = u64(i64(i32(x)))
    return v << shift
