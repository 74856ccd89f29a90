# Stage-2 translation register and descriptor layouts, declared once (ARM DDI 0487, D8 "The AArch64
# Virtual Memory System Architecture": D8.3 translation table descriptor formats, D8.4 memory attributes;
# D23.2 VTCR_EL2 and VTTBR_EL2). pyhv/arch/stage2.py builds and walks tables only through these names.
#
# Stage-2 block/page descriptor (4 KiB granule, 48-bit output address):
#
#   63  55 54  53 52  51 48 47             12 11 10  9  8 7    6 5       2 1 0
#   | ign |XN|res|Cont| res |  output address  |nG|AF| SH  | S2AP | MemAttr |T|V|
#                                                 (nG: RES0 at stage 2)
#   V=1 valid; T=1 table (levels 0-2) or page (level 3), T=0 block (levels 1-2 only).
#   Table descriptor: bits[47:12] = next-level table address, no attributes at stage 2.

from typing import Final

from pyhv.lang import u32, u64

# --- permission / attribute flags of the stage-2 API (not the descriptor encoding) --------------------
S2_READ: Final = u32(1)         # guest may read
S2_WRITE: Final = u32(2)        # guest may write
S2_EXEC: Final = u32(4)         # guest may execute
S2_DEVICE: Final = u32(8)       # Device-nGnRE memory (always execute-never); otherwise Normal WB
S2_RW: Final = u32(3)
S2_RWX: Final = u32(7)
S2_PERM_MASK: Final = u32(7)

# --- descriptor fields -------------------------------------------------------------------------------
S2_DESC_VALID: Final = u64(1 << 0)              # V
S2_DESC_TABLE: Final = u64(1 << 1)              # T: table (L0-2) / page (L3); clear = block
S2_DESC_TYPE_MASK: Final = u64(3)
S2_DESC_TYPE_BLOCK: Final = u64(1)              # 0b01
S2_DESC_TYPE_TABLE_OR_PAGE: Final = u64(3)      # 0b11
S2_MEMATTR_SHIFT: Final = 2                     # MemAttr[3:0] at [5:2] (with HCR_EL2.FWB = 0)
S2_MEMATTR_MASK: Final = u64(0xF << 2)
S2_MEMATTR_NORMAL_WB: Final = u64(0b1111)       # Normal, Outer Write-Back Cacheable, Inner Write-Back
S2_MEMATTR_DEVICE_NGNRE: Final = u64(0b0001)    # Device-nGnRE
S2AP_READ: Final = u64(1 << 6)                  # S2AP[0]: stage-2 read access
S2AP_WRITE: Final = u64(1 << 7)                 # S2AP[1]: stage-2 write access
S2_SH_SHIFT: Final = 8                          # SH[1:0] at [9:8]
S2_SH_MASK: Final = u64(3 << 8)
S2_SH_INNER: Final = u64(0b11)                  # Inner Shareable
S2_AF: Final = u64(1 << 10)                     # Access Flag: set, so no access-flag faults
S2_XN: Final = u64(1 << 54)                     # XN (XN[1] with FEAT_XNX): execute-never at EL1 and EL0
S2_OA_MASK: Final = u64(0x0000_FFFF_FFFF_F000)  # output address / next-level table address [47:12]
# Attribute bits a block passes on to the pages (or smaller blocks) it is split into.
S2_ATTR_MASK: Final = u64(0xFFF0_0000_0000_0FFC)

# --- geometry: 4 KiB granule, 40-bit IPA, walk starts at level 1 with two concatenated tables ----------
S2_PAGE_SHIFT: Final = 12
S2_PAGE_SIZE: Final = u64(4096)
S2_IPA_BITS: Final = 40
S2_ENTRIES_PER_TABLE: Final = u64(512)
S2_ROOT_PAGES: Final = u64(2)                   # level 1 resolves IPA[39:30]: 1024 entries = 2 pages
S2_ROOT_ENTRIES: Final = u64(1024)
S2_START_LEVEL: Final = u32(1)
S2_L1_SHIFT: Final = 30                         # a level-1 block maps 1 GiB
S2_L2_SHIFT: Final = 21                         # a level-2 block maps 2 MiB
S2_L3_SHIFT: Final = 12                         # a level-3 page maps 4 KiB

# --- VTCR_EL2 fields -----------------------------------------------------------------------------------
VTCR_T0SZ_SHIFT: Final = 0                      # T0SZ[5:0]: IPA size = 64 - T0SZ
VTCR_SL0_SHIFT: Final = 6                       # SL0[7:6]: with a 4 KiB granule, 1 = start at level 1
VTCR_IRGN0_SHIFT: Final = 8                     # IRGN0[9:8]: table walks, inner cacheability
VTCR_ORGN0_SHIFT: Final = 10                    # ORGN0[11:10]: table walks, outer cacheability
VTCR_SH0_SHIFT: Final = 12                      # SH0[13:12]: table walks, shareability
VTCR_TG0_SHIFT: Final = 14                      # TG0[15:14]: 0 = 4 KiB granule
VTCR_PS_SHIFT: Final = 16                       # PS[18:16]: physical (output) address size
VTCR_RES1: Final = u64(1 << 31)
VTCR_T0SZ_40BIT: Final = u64(24)
VTCR_SL0_LEVEL1: Final = u64(1)
VTCR_RGN_WBWA: Final = u64(1)                   # Normal, Write-Back Read-Allocate Write-Allocate Cacheable
VTCR_SH_INNER: Final = u64(3)
VTCR_TG0_4K: Final = u64(0)

# --- ID_AA64MMFR0_EL1.PARange [3:0] ------------------------------------------------------------------------
PARANGE_MASK: Final = u64(0xF)
PARANGE_40BIT: Final = u64(0b0010)              # the smallest PA size that can back a 40-bit IPA space
PARANGE_48BIT: Final = u64(0b0101)              # the largest our descriptors (OA[47:12]) can express

# --- VTTBR_EL2 -----------------------------------------------------------------------------------------------
VTTBR_VMID_SHIFT: Final = 48                    # VMID[55:48] (8-bit VMIDs: VTCR_EL2.VS = 0)
VTTBR_BADDR_MASK: Final = u64(0x0000_FFFF_FFFF_FFFE)
S2_VMID: Final = u64(1)                         # the one VM's VMID (0 is left to "no VM")


def vtcr_value(parange: u64) -> u64:
    # VTCR_EL2 for our geometry; PS is the CPU's PARange capped at 48 bits.
    ps = parange
    if ps > PARANGE_48BIT:
        ps = PARANGE_48BIT
    return (VTCR_RES1 | (VTCR_T0SZ_40BIT << VTCR_T0SZ_SHIFT) | (VTCR_SL0_LEVEL1 << VTCR_SL0_SHIFT)
            | (VTCR_RGN_WBWA << VTCR_IRGN0_SHIFT) | (VTCR_RGN_WBWA << VTCR_ORGN0_SHIFT)
            | (VTCR_SH_INNER << VTCR_SH0_SHIFT) | (VTCR_TG0_4K << VTCR_TG0_SHIFT)
            | (ps << VTCR_PS_SHIFT))


def s2_level_shift(level: u32) -> u32:
    # log2 of the bytes one entry maps at `level` (1: 1 GiB, 2: 2 MiB, 3: 4 KiB).
    return u32(S2_L3_SHIFT) + (u32(3) - level) * 9


def s2_desc_is_valid(d: u64) -> bool:
    return (d & S2_DESC_VALID) != 0


def s2_desc_is_block(d: u64, level: u32) -> bool:
    return level < 3 and (d & S2_DESC_TYPE_MASK) == S2_DESC_TYPE_BLOCK


def s2_desc_is_table(d: u64, level: u32) -> bool:
    return level < 3 and (d & S2_DESC_TYPE_MASK) == S2_DESC_TYPE_TABLE_OR_PAGE


def s2_desc_table(next_table_pa: u64) -> u64:
    return (next_table_pa & S2_OA_MASK) | S2_DESC_TYPE_TABLE_OR_PAGE


def s2_desc_attrs(attrs: u32) -> u64:
    # Descriptor attribute bits (MemAttr, S2AP, SH, AF, XN) for S2_* flags.
    d = S2_AF
    if (attrs & S2_DEVICE) != 0:
        d |= (S2_MEMATTR_DEVICE_NGNRE << S2_MEMATTR_SHIFT) | S2_XN
    else:
        d |= (S2_MEMATTR_NORMAL_WB << S2_MEMATTR_SHIFT) | (S2_SH_INNER << S2_SH_SHIFT)
        if (attrs & S2_EXEC) == 0:
            d |= S2_XN
    if (attrs & S2_READ) != 0:
        d |= S2AP_READ
    if (attrs & S2_WRITE) != 0:
        d |= S2AP_WRITE
    return d


def s2_desc_leaf(pa: u64, attrs: u32, level: u32) -> u64:
    # A block (levels 1-2) or page (level 3) descriptor mapping `pa` (aligned to the level's size).
    kind = S2_DESC_TYPE_TABLE_OR_PAGE if level == 3 else S2_DESC_TYPE_BLOCK
    return (pa & S2_OA_MASK) | s2_desc_attrs(attrs) | kind


def s2_desc_flags(d: u64) -> u32:
    # The S2_* flags a valid leaf descriptor grants (inverse of s2_desc_attrs).
    f = u32(0)
    if (d & S2AP_READ) != 0:
        f |= S2_READ
    if (d & S2AP_WRITE) != 0:
        f |= S2_WRITE
    if (d & S2_XN) == 0:
        f |= S2_EXEC
    if (d & S2_MEMATTR_MASK) == (S2_MEMATTR_DEVICE_NGNRE << S2_MEMATTR_SHIFT):
        f |= S2_DEVICE
    return f


def s2_desc_with_perm(d: u64, perm: u32) -> u64:
    # `d` with its access permissions replaced by `perm` (S2_READ|S2_WRITE|S2_EXEC); memory type kept.
    keep_device = u32(0)
    if (s2_desc_flags(d) & S2_DEVICE) != 0:
        keep_device = S2_DEVICE
    return (d & ~(S2_ATTR_MASK)) | s2_desc_attrs((perm & S2_PERM_MASK) | keep_device)
