# The one way pyhv reads or writes guest memory (docs/vm-model.md): guest IPA -> host PA through stage 2
# (pyhv/arch/stage2.py), and guest VA -> IPA by walking the guest's own stage-1 tables (ARM DDI 0487,
# D8.2 "Translation process": VMSAv8-64, 4 KiB granule only; 16/64 KiB granules are reported as
# unsupported). Every descriptor of the guest walk is itself read through stage 2, so a guest that points
# its TTBR at nonsense gets an error code, never a wild read. Failures return GUESTMEM_* codes.
#
# The guest's EL1 registers (SCTLR_EL1, TCR_EL1, TTBR0/1_EL1) are read live from the CPU: vCPUs are
# pinned, so at trap time they still hold the trapping vCPU's values.
#
# Guest stage 1, 4 KiB granule: VA bits [47:39] L0, [38:30] L1, [29:21] L2, [20:12] L3, [11:0] offset;
# a region of 64-TxSZ bits starts at level 4 - ceil((64-TxSZ-12)/9).

from typing import Final

from pyhv.lang import (
    Struct, mem_read8, mem_read16, mem_read32, mem_read64, mem_write8, mem_write16, mem_write32,
    mem_write64, sysreg_read, u8, u16, u32, u64,
)

from pyhv.arch.stage2 import Stage2Lookup, stage2_lookup
from pyhv.arch.stage2_desc import S2_DEVICE, S2_READ, S2_WRITE

GUESTMEM_OK: Final = u32(0)
GUESTMEM_UNMAPPED: Final = u32(1)       # no stage-2 mapping of the IPA (later: the page is on another node)
GUESTMEM_PERM: Final = u32(2)           # mapped, but not with the access needed (or an execute-never fetch)
GUESTMEM_ALIGN: Final = u32(3)          # access not naturally aligned, or width not 1/2/4/8
GUESTMEM_NOT_RAM: Final = u32(4)        # the IPA is device memory
GUESTMEM_FAULT: Final = u32(5)          # the guest's stage-1 walk faults (invalid entry, VA out of range)
GUESTMEM_UNSUPPORTED: Final = u32(6)    # a stage-1 configuration we do not walk (16/64 KiB granule)

# SCTLR_EL1
SCTLR_M: Final = u64(1)                 # stage-1 MMU enable
# TCR_EL1 fields
TCR_T0SZ_SHIFT: Final = 0               # T0SZ[5:0]
TCR_EPD0: Final = u64(1 << 7)           # no walks through TTBR0
TCR_TG0_SHIFT: Final = 14               # TG0[15:14]: 0b00 4 KiB, 0b01 64 KiB, 0b10 16 KiB
TCR_T1SZ_SHIFT: Final = 16              # T1SZ[21:16]
TCR_EPD1: Final = u64(1 << 23)          # no walks through TTBR1
TCR_TG1_SHIFT: Final = 30               # TG1[31:30]: 0b10 4 KiB, 0b01 16 KiB, 0b11 64 KiB
TCR_TBI0: Final = u64(1 << 37)          # top byte ignored, TTBR0 region
TCR_TBI1: Final = u64(1 << 38)          # top byte ignored, TTBR1 region
TCR_TXSZ_MASK: Final = u64(0x3F)
TCR_TG_MASK: Final = u64(3)
TCR_TG0_4K: Final = u64(0)
TCR_TG1_4K: Final = u64(2)
# TTBRn_EL1: BADDR[47:1] (bit 0 is CnP, [63:48] the ASID)
TTBR_BADDR_MASK: Final = u64(0x0000_FFFF_FFFF_FFFE)
# Stage-1 descriptors (4 KiB granule)
S1_VALID: Final = u64(1)
S1_TYPE_MASK: Final = u64(3)
S1_TYPE_BLOCK: Final = u64(1)           # levels 1-2
S1_TYPE_TABLE_OR_PAGE: Final = u64(3)   # table at levels 0-2, page at level 3
S1_OA_MASK: Final = u64(0x0000_FFFF_FFFF_F000)
S1_PXN: Final = u64(1 << 53)            # privileged execute-never
S1_UXN: Final = u64(1 << 54)            # unprivileged execute-never
S1_MIN_TXSZ: Final = u64(16)            # 48-bit regions (no FEAT_LVA/LPA2)
S1_MAX_TXSZ: Final = u64(39)            # 25-bit regions (no FEAT_TTST)


class GuestWord(Struct):
    value: u64          # result of a read, or the IPA of a translation


def _ipa_to_pa(ipa: u64, width_bytes: u32, need: u32, out: Stage2Lookup) -> u32:
    if width_bytes != 1 and width_bytes != 2 and width_bytes != 4 and width_bytes != 8:
        return GUESTMEM_ALIGN
    if (ipa & u64(width_bytes - 1)) != 0:
        return GUESTMEM_ALIGN
    if not stage2_lookup(ipa, out):
        return GUESTMEM_UNMAPPED
    if (out.perm & S2_DEVICE) != 0:
        return GUESTMEM_NOT_RAM
    if (out.perm & need) != need:
        return GUESTMEM_PERM
    return GUESTMEM_OK


def guestmem_read(ipa: u64, width_bytes: u32, out: GuestWord) -> u32:
    # Read 1, 2, 4 or 8 bytes (little-endian, naturally aligned) of guest RAM at `ipa` into out.value.
    hit = Stage2Lookup()
    err = _ipa_to_pa(ipa, width_bytes, S2_READ, hit)
    if err != GUESTMEM_OK:
        return err
    if width_bytes == 1:
        out.value = u64(mem_read8(hit.pa))
    elif width_bytes == 2:
        out.value = u64(mem_read16(hit.pa))
    elif width_bytes == 4:
        out.value = u64(mem_read32(hit.pa))
    else:
        out.value = mem_read64(hit.pa)
    return GUESTMEM_OK


def guestmem_write(ipa: u64, width_bytes: u32, value: u64) -> u32:
    # Write the low 1, 2, 4 or 8 bytes of `value` to guest RAM at `ipa` (needs stage-2 write permission).
    hit = Stage2Lookup()
    err = _ipa_to_pa(ipa, width_bytes, S2_WRITE, hit)
    if err != GUESTMEM_OK:
        return err
    if width_bytes == 1:
        mem_write8(hit.pa, u8(value))
    elif width_bytes == 2:
        mem_write16(hit.pa, u16(value))
    elif width_bytes == 4:
        mem_write32(hit.pa, u32(value))
    else:
        mem_write64(hit.pa, value)
    return GUESTMEM_OK


def _start_level(va_bits: u64) -> u32:
    # 4 KiB granule: 9 bits per level above the 12-bit page offset; 4 levels for 40-48 bits.
    levels = (va_bits - 12 + 8) // 9
    return u32(4) - u32(levels)


def guestmem_va_to_ipa(va: u64, is_fetch: bool, out: GuestWord) -> u32:
    # Translate a guest virtual address with the guest's current EL1&0 stage 1; out.value = the IPA.
    # is_fetch: the access is an instruction fetch (a leaf with both PXN and UXN set refuses it).
    if (sysreg_read("sctlr_el1") & SCTLR_M) == 0:
        out.value = va                  # stage 1 off: VA == IPA
        return GUESTMEM_OK
    tcr = sysreg_read("tcr_el1")
    upper = ((va >> 55) & 1) != 0
    if upper:
        txsz = (tcr >> TCR_T1SZ_SHIFT) & TCR_TXSZ_MASK
        granule_ok = ((tcr >> TCR_TG1_SHIFT) & TCR_TG_MASK) == TCR_TG1_4K
        disabled = (tcr & TCR_EPD1) != 0
        tbi = (tcr & TCR_TBI1) != 0
        ttbr = sysreg_read("ttbr1_el1")
    else:
        txsz = (tcr >> TCR_T0SZ_SHIFT) & TCR_TXSZ_MASK
        granule_ok = ((tcr >> TCR_TG0_SHIFT) & TCR_TG_MASK) == TCR_TG0_4K
        disabled = (tcr & TCR_EPD0) != 0
        tbi = (tcr & TCR_TBI0) != 0
        ttbr = sysreg_read("ttbr0_el1")
    if not granule_ok:
        return GUESTMEM_UNSUPPORTED
    if disabled or txsz < S1_MIN_TXSZ or txsz > S1_MAX_TXSZ:
        return GUESTMEM_FAULT
    va_bits = u64(64) - txsz
    # Bits above the region must all equal bit 55 (bits [63:56] are not checked when the top byte is
    # ignored).
    top = u64(64) if not tbi else u64(56)
    high = (va >> va_bits) & ((u64(1) << (top - va_bits)) - 1)
    expect = ((u64(1) << (top - va_bits)) - 1) if upper else u64(0)
    if high != expect:
        return GUESTMEM_FAULT
    return _walk(ttbr & TTBR_BADDR_MASK, va, va_bits, is_fetch, out)


def _walk(table: u64, va: u64, va_bits: u64, is_fetch: bool, out: GuestWord) -> u32:
    level = _start_level(va_bits)
    desc = GuestWord()
    while True:
        shift = u64(12) + u64(3 - level) * 9
        index_bits = va_bits - shift
        if index_bits > 9:
            index_bits = u64(9)
        index = (va >> shift) & ((u64(1) << index_bits) - 1)
        err = guestmem_read(table + index * 8, u32(8), desc)
        if err != GUESTMEM_OK:
            return err
        d = desc.value
        if (d & S1_VALID) == 0:
            return GUESTMEM_FAULT
        kind = d & S1_TYPE_MASK
        if level < 3 and kind == S1_TYPE_TABLE_OR_PAGE:
            table = d & S1_OA_MASK
            level += 1
            continue
        if level == 0 or (level == 3 and kind != S1_TYPE_TABLE_OR_PAGE):
            return GUESTMEM_FAULT       # no level-0 blocks with 4 KiB pages; 0b01 at level 3 is reserved
        if is_fetch and (d & S1_PXN) != 0 and (d & S1_UXN) != 0:
            return GUESTMEM_PERM
        offset_mask = (u64(1) << shift) - 1
        out.value = (d & S1_OA_MASK & ~offset_mask) | (va & offset_mask)
        return GUESTMEM_OK


def guestmem_fetch_insn(va: u64, out: GuestWord) -> u32:
    # The 32-bit A64 instruction at guest VA `va` (instructions are little-endian whatever SCTLR_EL1.EE).
    ipa = GuestWord()
    err = guestmem_va_to_ipa(va, True, ipa)
    if err != GUESTMEM_OK:
        return err
    return guestmem_read(ipa.value, u32(4), out)
