# Stage-2 aborts from the guest, classified once (ARM DDI 0487, D23.2 ESR_EL2: "ISS encoding for an
# exception from a Data Abort" and "... from an Instruction Abort"; D23.2 HPFAR_EL2; D8.x fault status
# codes). The fields of both syndromes are declared here and nowhere else; the MMIO decoder
# (pyhv/arch/decode.py) and the guest-fault path (pyhv/core/guestfault.py) read them through these names.
#
#   Data abort ISS (EC 0x24):
#   24  23 22 21  20   16 15  14   13  12 11 10   9   8    7     6   5      0
#   |ISV| SAS |SSE|  SRT  |SF| AR |VNCR| LST |FnV| EA| CM |S1PTW|WnR|  DFSC   |
#   Instruction abort ISS (EC 0x20): bits [24:11] RES0, FnV [10], EA [9], S1PTW [7], IFSC [5:0].
#   HPFAR_EL2: FIPA[43:4] = IPA[51:12] of a stage-2 fault (translation, access flag, permission, or any
#   stage-2 fault on a stage-1 walk); the page offset comes from FAR_EL2 (unless FnV).
#
# Every translation, access-flag or permission fault that reaches EL2 from the guest is a STAGE-2 fault:
# stage-1 faults are taken to EL1 (HCR_EL2.TGE = 0). S1PTW = 1 means the stage-2 fault hit the guest's own
# stage-1 table walk (HPFAR holds the IPA of the table, FAR the VA being translated).

from typing import Final

from pyhv.lang import Struct, u32, u64

from pyhv.arch.esr import EC_DABT_LOW, EC_IABT_LOW, Esr

# --- ISS fields (data and instruction aborts) ----------------------------------------------------------
ISS_ISV: Final = u32(1 << 24)           # syndrome valid: SAS/SSE/SRT/SF/AR describe the access
ISS_SAS_SHIFT: Final = 22               # access size: 1 << SAS bytes
ISS_SAS_MASK: Final = u32(3)
ISS_SSE: Final = u32(1 << 21)           # sign-extend the loaded value
ISS_SRT_SHIFT: Final = 16               # data register number
ISS_SRT_MASK: Final = u32(0x1F)
ISS_SF: Final = u32(1 << 15)            # the data register is 64-bit (Xt)
ISS_FNV: Final = u32(1 << 10)           # FAR is not valid
ISS_EA: Final = u32(1 << 9)             # external abort type (IMPLEMENTATION DEFINED)
ISS_CM: Final = u32(1 << 8)             # the fault came from a cache maintenance instruction
ISS_S1PTW: Final = u32(1 << 7)          # stage-2 fault on a stage-1 table walk
ISS_WNR: Final = u32(1 << 6)            # write (1) or read (0); RES0 for instruction aborts
ISS_FSC_MASK: Final = u32(0x3F)         # DFSC / IFSC

# --- fault status codes (DFSC/IFSC [5:0]; the low two bits are the lookup level for the first four) -----
FSC_ADDR_SIZE: Final = u32(0b000000)    # address size fault, level 0-3
FSC_TRANSLATION: Final = u32(0b000100)  # translation fault, level 0-3
FSC_ACCESS_FLAG: Final = u32(0b001000)  # access flag fault, level 0-3
FSC_PERMISSION: Final = u32(0b001100)   # permission fault, level 0-3
FSC_LEVEL_MASK: Final = u32(0b000011)
FSC_CLASS_MASK: Final = u32(0b111100)
FSC_SYNC_EXTERNAL: Final = u32(0b010000)        # synchronous external abort, not on a table walk
FSC_SYNC_EXTERNAL_WALK: Final = u32(0b010100)   # synchronous external abort on a table walk, level 0-3
FSC_ALIGNMENT: Final = u32(0b100001)
FSC_TLB_CONFLICT: Final = u32(0b110000)

# HPFAR_EL2.FIPA[43:4] = IPA[51:12]
HPFAR_FIPA_MASK: Final = u64(0x0FFF_FFFF_FFF0)
HPFAR_FIPA_TO_IPA_SHIFT: Final = 8
PAGE_OFFSET_MASK: Final = u64(0xFFF)

# --- the classification --------------------------------------------------------------------------------
ABORT_TRANSLATION: Final = u32(0)       # no valid stage-2 entry
ABORT_PERMISSION: Final = u32(1)        # a valid entry without the access right (write-protected, XN)
ABORT_ACCESS_FLAG: Final = u32(2)       # an entry with AF = 0 (pyhv sets AF everywhere: our bug)
ABORT_TLB_CONFLICT: Final = u32(3)      # two TLB entries match (a break-before-make violation: ours)
ABORT_ALIGNMENT: Final = u32(4)         # alignment fault reported to EL2
ABORT_OTHER: Final = u32(5)             # external aborts, address size, parity, IMPLEMENTATION DEFINED

# What the faulting access wanted (GuestMemFaultOps.fault's `kind`, pyhv/core/guestfault.py).
ABORT_KIND_READ: Final = u32(0)         # a data load (or a DC that only needs the page readable)
ABORT_KIND_WRITE: Final = u32(1)        # a data store, a DC that writes (WnR = 1), a stage-1 walk update
ABORT_KIND_EXEC: Final = u32(2)         # an instruction fetch
ABORT_KIND_WALK: Final = u32(3)         # the guest's stage-1 table walk reading a descriptor


class AbortInfo(Struct):
    is_fetch: bool      # instruction abort (EC 0x20) rather than data abort (EC 0x24)
    fsc: u32            # raw DFSC/IFSC
    status: u32         # ABORT_TRANSLATION / PERMISSION / ACCESS_FLAG / TLB_CONFLICT / ALIGNMENT / OTHER
    level: u32          # lookup level of a translation / access flag / permission fault (0-3)
    s1ptw: bool         # the fault hit the guest's stage-1 table walk (ipa = the table's IPA)
    is_write: bool      # WnR (data aborts only)
    cache_maint: bool   # CM (data aborts only)
    far_valid: bool     # FnV = 0: FAR_EL2 holds the faulting VA
    kind: u32           # ABORT_KIND_*
    va: u64             # FAR_EL2 (0 when FnV)
    ipa: u64            # faulting IPA: HPFAR page + FAR offset (offset 0 when FnV)


def abort_fault_ipa(far: u64, hpfar: u64) -> u64:
    # The faulting IPA of a stage-2 abort: page from HPFAR_EL2.FIPA, offset from FAR_EL2.
    return ((hpfar & HPFAR_FIPA_MASK) << HPFAR_FIPA_TO_IPA_SHIFT) | (far & PAGE_OFFSET_MASK)


def abort_is_abort(e: Esr) -> bool:
    return e.ec == EC_DABT_LOW or e.ec == EC_IABT_LOW


def _status(fsc: u32) -> u32:
    cls = fsc & FSC_CLASS_MASK
    if cls == FSC_TRANSLATION:
        return ABORT_TRANSLATION
    if cls == FSC_PERMISSION:
        return ABORT_PERMISSION
    if cls == FSC_ACCESS_FLAG:
        return ABORT_ACCESS_FLAG
    if fsc == FSC_TLB_CONFLICT:
        return ABORT_TLB_CONFLICT
    if fsc == FSC_ALIGNMENT:
        return ABORT_ALIGNMENT
    return ABORT_OTHER


def abort_classify(e: Esr, far: u64, hpfar: u64, out: AbortInfo) -> None:
    # Fill `out` from a decoded ESR_EL2 of an abort from the guest (abort_is_abort(e)) and the trap's
    # FAR_EL2 / HPFAR_EL2.
    out.is_fetch = e.ec == EC_IABT_LOW
    out.fsc = e.iss & ISS_FSC_MASK
    out.status = _status(out.fsc)
    out.level = out.fsc & FSC_LEVEL_MASK
    out.s1ptw = (e.iss & ISS_S1PTW) != 0
    out.is_write = not out.is_fetch and (e.iss & ISS_WNR) != 0
    out.cache_maint = not out.is_fetch and (e.iss & ISS_CM) != 0
    out.far_valid = (e.iss & ISS_FNV) == 0
    out.va = far if out.far_valid else u64(0)
    out.ipa = abort_fault_ipa(out.va, hpfar)
    if out.s1ptw:
        # A walk reads descriptors; it writes one only for a hardware access-flag/dirty update (FEAT_HAFDBS,
        # not on the Cortex-A72). WnR of a walk fault is not meaningful on every revision, so the status
        # decides: a permission fault on a walk can only mean the walk needed to write.
        out.kind = ABORT_KIND_WRITE if out.status == ABORT_PERMISSION else ABORT_KIND_WALK
    elif out.is_fetch:
        out.kind = ABORT_KIND_EXEC
    elif out.is_write:
        out.kind = ABORT_KIND_WRITE
    else:
        out.kind = ABORT_KIND_READ


def abort_kind_name(kind: u32) -> str:
    if kind == ABORT_KIND_READ:
        return "read"
    if kind == ABORT_KIND_WRITE:
        return "write"
    if kind == ABORT_KIND_EXEC:
        return "fetch"
    return "table walk"


def abort_status_name(status: u32) -> str:
    if status == ABORT_TRANSLATION:
        return "translation"
    if status == ABORT_PERMISSION:
        return "permission"
    if status == ABORT_ACCESS_FLAG:
        return "access flag"
    if status == ABORT_TLB_CONFLICT:
        return "tlb conflict"
    if status == ABORT_ALIGNMENT:
        return "alignment"
    return "external/other"
