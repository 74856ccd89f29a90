"""Stage-2 abort classification (pyhv/arch/abort.py) from ESR_EL2 values built the way the hardware builds
them (ARM DDI 0487, D23.2 ESR_EL2 data/instruction abort ISS): the access fields of a data abort come from
the guest instruction as keystone assembles it, the fault status codes from the ARM ARM's DFSC/IFSC table."""

from __future__ import annotations

import pytest
from keystone import KS_ARCH_ARM64, KS_MODE_LITTLE_ENDIAN, Ks

from pyhv.lang import u64

from pyhv.arch.abort import (
    ABORT_ACCESS_FLAG, ABORT_ALIGNMENT, ABORT_KIND_EXEC, ABORT_KIND_READ, ABORT_KIND_WALK, ABORT_KIND_WRITE,
    ABORT_OTHER, ABORT_PERMISSION, ABORT_TLB_CONFLICT, ABORT_TRANSLATION, AbortInfo, abort_classify,
    abort_is_abort,
)
from pyhv.arch.esr import Esr, esr_decode

IL = 1 << 25
ISV, SSE, SF, FNV, CM, S1PTW, WNR = 1 << 24, 1 << 21, 1 << 15, 1 << 10, 1 << 8, 1 << 7, 1 << 6
FAR = 0xFFFF_8000_1234_5678
IPA_PAGE = 0x4567_8000


def _word(text: str) -> int:
    return int.from_bytes(bytes(Ks(KS_ARCH_ARM64, KS_MODE_LITTLE_ENDIAN).asm(text)[0]), "little")


def dabt_esr(insn: str, dfsc: int) -> int:
    """ESR_EL2 of a stage-2 data abort on a single-register load/store (unsigned-offset form): the hardware's
    ISV syndrome, read off the instruction's size/opc/Rt fields."""
    w = _word(insn)
    assert (w >> 24) & 0x3B == 0x39, f"{insn}: not LDR/STR (immediate, unsigned offset)"
    size, opc, rt = w >> 30, (w >> 22) & 3, w & 0x1F
    iss = ISV | size << 22 | rt << 16 | dfsc
    if opc & 2:
        iss |= SSE
    if size == 3 or opc == 2:
        iss |= SF
    if opc == 0:
        iss |= WNR
    return 0x24 << 26 | IL | iss


def classify(esr: int, far: int = FAR, ipa_page: int = IPA_PAGE) -> AbortInfo:
    e = Esr()
    esr_decode(u64(esr), e)
    assert abort_is_abort(e)
    a = AbortInfo()
    abort_classify(e, u64(far), u64((ipa_page >> 12) << 4), a)
    return a


@pytest.mark.parametrize("insn,kind", [("str x1, [x2]", ABORT_KIND_WRITE), ("strb w9, [x0, #7]", ABORT_KIND_WRITE),
                                       ("ldr w3, [x4, #8]", ABORT_KIND_READ), ("ldrsh x5, [x6]", ABORT_KIND_READ)])
@pytest.mark.parametrize("level", [0, 1, 2, 3])
def test_a_translation_fault_on_a_load_or_store_is_classified_with_its_level_and_direction(
        insn: str, kind: int, level: int) -> None:
    a = classify(dabt_esr(insn, 0b000100 | level))
    assert (int(a.status), int(a.level), int(a.kind)) == (int(ABORT_TRANSLATION), level, int(kind))
    assert not a.is_fetch and not a.s1ptw and a.far_valid
    assert int(a.ipa) == IPA_PAGE | (FAR & 0xFFF) and int(a.va) == FAR


def test_a_store_to_a_write_protected_page_is_a_level_3_permission_write_fault() -> None:
    a = classify(dabt_esr("str x1, [x2]", 0b001111))
    assert (int(a.status), int(a.level), int(a.kind), a.is_write) == (int(ABORT_PERMISSION), 3,
                                                                      int(ABORT_KIND_WRITE), True)


def test_a_fault_on_the_guests_stage1_walk_is_a_walk_read_and_its_permission_fault_a_write() -> None:
    # S1PTW: ISV = 0, HPFAR = the IPA of the guest's table, FAR = the VA the guest was translating.
    a = classify(0x24 << 26 | IL | S1PTW | 0b000110, ipa_page=0x4800_0000)
    assert (int(a.status), int(a.level), int(a.kind), a.s1ptw) == (int(ABORT_TRANSLATION), 2,
                                                                  int(ABORT_KIND_WALK), True)
    assert int(a.ipa) == 0x4800_0000 | (FAR & 0xFFF)
    a = classify(0x24 << 26 | IL | S1PTW | 0b001111)
    assert (int(a.status), int(a.kind)) == (int(ABORT_PERMISSION), int(ABORT_KIND_WRITE))
    a = classify(0x20 << 26 | IL | S1PTW | 0b000111)             # the walk of an instruction fetch
    assert a.is_fetch and a.s1ptw and int(a.kind) == int(ABORT_KIND_WALK)


def test_an_instruction_abort_is_an_exec_fault_without_direction() -> None:
    a = classify(0x20 << 26 | IL | 0b000110)
    assert a.is_fetch and (int(a.status), int(a.level), int(a.kind)) == (int(ABORT_TRANSLATION), 2,
                                                                          int(ABORT_KIND_EXEC))
    assert not a.is_write and int(a.va) == FAR
    a = classify(0x20 << 26 | IL | 0b001111)                      # XN page: permission fault on a fetch
    assert (int(a.status), int(a.kind)) == (int(ABORT_PERMISSION), int(ABORT_KIND_EXEC))


def test_fnv_means_the_far_and_the_page_offset_are_unknown() -> None:
    a = classify(dabt_esr("ldr w3, [x4, #8]", 0b000111) | FNV)
    assert not a.far_valid and int(a.va) == 0 and int(a.ipa) == IPA_PAGE


def test_a_dc_instruction_fault_carries_cm_and_wnr() -> None:
    # DC CIVAC faulting at stage 2: ISV = 0, CM = 1, WnR = 1 (ARM ARM: cache maintenance reports a write).
    a = classify(0x24 << 26 | IL | CM | WNR | 0b000111)
    assert a.cache_maint and int(a.kind) == int(ABORT_KIND_WRITE)


@pytest.mark.parametrize("fsc,status", [(0b001001, ABORT_ACCESS_FLAG), (0b110000, ABORT_TLB_CONFLICT),
                                        (0b100001, ABORT_ALIGNMENT), (0b010000, ABORT_OTHER),
                                        (0b010101, ABORT_OTHER), (0b000001, ABORT_OTHER),
                                        (0b011000, ABORT_OTHER)])
def test_other_fault_status_codes(fsc: int, status: int) -> None:
    assert int(classify(0x24 << 26 | IL | fsc).status) == int(status)
