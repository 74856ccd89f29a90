"""Data-abort decoding: the ISV syndrome path, and instruction decoding for ISV=0 with encodings produced by
keystone (so the expected bits come from a real assembler, not from our own tables)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import pytest
from hypothesis import assume, given, settings, strategies as st
from keystone import KS_ARCH_ARM64, KS_MODE_LITTLE_ENDIAN, Ks

from pyhv.lang import u32, u64

from pyhv.arch.decode import (
    DECODE_CACHE_MAINT, DECODE_FETCH_FAILED, DECODE_NOT_DABT, DECODE_OK, DECODE_S1PTW, DECODE_UNSUPPORTED,
    DecodedDabt, decode_complete, decode_dabt, decode_fault_ipa,
)
from pyhv.arch.decode_insn import LDST_OFFSET, LDST_POST, LDST_PRE, LDST_REG, LdStInsn, decode_ldst
from pyhv.arch.frame import TrapFrame

from .conftest import Board
from .guestpt import GUEST_RAM_IPA, HOST_RAM_PA, setup_guest_ram

CODE_IPA = GUEST_RAM_IPA + 0x1000
MMIO_IPA = 0x0900_0000
MMIO_VA = 0xFFFF_8000_0900_0000     # where the guest's ioremap put the device (stage 1 is the guest's)
DABT_LOW = 0x24 << 26 | 1 << 25
ISV, SSE, SF, WNR, CM, S1PTW, FNV = 1 << 24, 1 << 21, 1 << 15, 1 << 6, 1 << 8, 1 << 7, 1 << 10
SPSR_EL1H = 0x3C5
M64 = (1 << 64) - 1


@lru_cache(maxsize=None)
def _ks() -> Ks:
    return Ks(KS_ARCH_ARM64, KS_MODE_LITTLE_ENDIAN)


@lru_cache(maxsize=4096)
def asm(text: str) -> int:
    enc, _ = _ks().asm(text)
    assert enc is not None and len(enc) == 4, text
    return int.from_bytes(bytes(enc), "little")


@pytest.fixture
def guest(board: Board) -> Board:
    setup_guest_ram(board)
    board.cpu.sysregs["sctlr_el1"] = 0          # guest stage 1 off: ELR is an IPA
    return board


def frame_for(board: Board, insn: str | int, regs: dict[int, int], far: int, iss: int = 0, sp: int = 0) -> TrapFrame:
    word = insn if isinstance(insn, int) else asm(insn)
    board.node.ram.write(HOST_RAM_PA + 0x1000, word.to_bytes(4, "little"))
    f = TrapFrame()
    for r, v in regs.items():
        f.x[r] = u64(v)
    f.sp, f.elr, f.spsr = u64(sp), u64(CODE_IPA), u64(SPSR_EL1H)
    f.esr, f.far = u64(DABT_LOW | iss), u64(far)
    return f


def decode(f: TrapFrame) -> tuple[int, DecodedDabt]:
    d = DecodedDabt()
    err = decode_dabt(f, u64(MMIO_IPA + (int(f.far) & 0xFFF)), d)
    return int(err), d


@dataclass(frozen=True)
class Acc:
    va: int
    width: int
    write: bool
    value: int = 0
    sext: bool = False
    x: bool = False
    reg: int = 0


def accesses(d: DecodedDabt) -> list[Acc]:
    out = []
    for k in range(int(d.count)):
        a = d.acc[k]
        out.append(Acc(int(a.ipa) - MMIO_IPA + MMIO_VA, int(a.width_bytes), a.is_write, int(a.value),
                       a.sign_extend, a.sixty_four, int(a.reg)))
    return out


B = MMIO_VA
CASES = [
    # (instruction, registers, accesses, writeback (reg, value) or None)
    ("ldr w1, [x2, #8]", {2: B}, [Acc(B + 8, 4, False, reg=1)], None),
    ("ldr x1, [x2, #16]", {2: B}, [Acc(B + 16, 8, False, x=True, reg=1)], None),
    ("str x3, [x4]", {3: 0x1122334455667788, 4: B}, [Acc(B, 8, True, 0x1122334455667788, x=True, reg=3)], None),
    ("str w3, [x4, #4]", {3: 0x1122334455667788, 4: B}, [Acc(B + 4, 4, True, 0x55667788, reg=3)], None),
    ("ldrb w5, [x6, #1]", {6: B}, [Acc(B + 1, 1, False, reg=5)], None),
    ("ldrh w5, [x6, #2]", {6: B}, [Acc(B + 2, 2, False, reg=5)], None),
    ("ldrsb x7, [x8]", {8: B}, [Acc(B, 1, False, sext=True, x=True, reg=7)], None),
    ("ldrsb w7, [x8]", {8: B}, [Acc(B, 1, False, sext=True, reg=7)], None),
    ("ldrsh w9, [x10, #2]", {10: B}, [Acc(B + 2, 2, False, sext=True, reg=9)], None),
    ("ldrsh x9, [x10, #2]", {10: B}, [Acc(B + 2, 2, False, sext=True, x=True, reg=9)], None),
    ("ldrsw x11, [x12, #4]", {12: B}, [Acc(B + 4, 4, False, sext=True, x=True, reg=11)], None),
    ("strb w13, [x14, #3]", {13: 0x1FF, 14: B}, [Acc(B + 3, 1, True, 0xFF, reg=13)], None),
    ("strh w13, [x14, #6]", {13: 0x12345, 14: B}, [Acc(B + 6, 2, True, 0x2345, reg=13)], None),
    ("ldur w1, [x2, #-4]", {2: B + 8}, [Acc(B + 4, 4, False, reg=1)], None),
    ("stur x1, [x2, #3]", {1: 5, 2: B + 5}, [Acc(B + 8, 8, True, 5, x=True, reg=1)], None),
    ("ldr x1, [x2, #16]!", {2: B}, [Acc(B + 16, 8, False, x=True, reg=1)], (2, B + 16)),
    ("ldr x1, [x2], #-8", {2: B + 8}, [Acc(B + 8, 8, False, x=True, reg=1)], (2, B)),
    ("str w1, [x2, x3, lsl #2]", {1: 7, 2: B, 3: 3}, [Acc(B + 12, 4, True, 7, reg=1)], None),
    ("ldr w1, [x2, w3, sxtw]", {2: B + 16, 3: 0xFFFF_FFF8}, [Acc(B + 8, 4, False, reg=1)], None),
    ("ldr x1, [x2, w3, uxtw #3]", {2: B, 3: 0x1_0000_0002}, [Acc(B + 16, 8, False, x=True, reg=1)], None),
    ("ldrb w1, [x2, x3]", {2: B, 3: 5}, [Acc(B + 5, 1, False, reg=1)], None),
    ("ldp w1, w2, [x3, #8]!", {3: B}, [Acc(B + 8, 4, False, reg=1), Acc(B + 12, 4, False, reg=2)], (3, B + 8)),
    ("stp x1, x2, [x3], #16", {1: 10, 2: 20, 3: B},
     [Acc(B, 8, True, 10, x=True, reg=1), Acc(B + 8, 8, True, 20, x=True, reg=2)], (3, B + 16)),
    ("ldp x4, x5, [x6, #-16]", {6: B + 32},
     [Acc(B + 16, 8, False, x=True, reg=4), Acc(B + 24, 8, False, x=True, reg=5)], None),
    ("ldpsw x1, x2, [x3]", {3: B},
     [Acc(B, 4, False, sext=True, x=True, reg=1), Acc(B + 4, 4, False, sext=True, x=True, reg=2)], None),
    ("ldnp w1, w2, [x3, #4]", {3: B}, [Acc(B + 4, 4, False, reg=1), Acc(B + 8, 4, False, reg=2)], None),
    ("str wzr, [x1]", {1: B}, [Acc(B, 4, True, 0, reg=31)], None),
    ("stp xzr, xzr, [x0]", {0: B},
     [Acc(B, 8, True, 0, x=True, reg=31), Acc(B + 8, 8, True, 0, x=True, reg=31)], None),
]


@pytest.mark.parametrize("insn,regs,want,wb", CASES, ids=[c[0] for c in CASES])
def test_instruction_decodes_to_typed_accesses(guest: Board, insn: str, regs: dict[int, int], want: list[Acc],
                                               wb: tuple[int, int] | None) -> None:
    for r in range(31):
        regs.setdefault(r, 0xDEAD_0000 + r)     # zero register must not read x31's neighbour or SP
    f = frame_for(guest, insn, regs, far=want[0].va)
    err, d = decode(f)
    assert err == DECODE_OK
    assert accesses(d) == want
    assert (d.writeback, (int(d.wb_reg), int(d.wb_value)) if d.writeback else None) == (wb is not None, wb)


def test_pair_ipas_follow_the_element_that_faulted(guest: Board) -> None:
    # The second element faulted: FAR points at it, and the first element sits just below.
    f = frame_for(guest, "ldp w1, w2, [x3]", {3: B + 0x20}, far=B + 0x24)
    err, d = decode(f)
    assert err == DECODE_OK and [a.va for a in accesses(d)] == [B + 0x20, B + 0x24]


def test_sp_base_uses_the_saved_guest_sp_and_writeback_updates_sp_el1(guest: Board) -> None:
    f = frame_for(guest, "str x0, [sp, #-16]!", {0: 9}, far=B + 0x100, sp=B + 0x110)
    err, d = decode(f)
    assert err == DECODE_OK and accesses(d) == [Acc(B + 0x100, 8, True, 9, x=True, reg=0)]
    decode_complete(f, d)
    assert int(f.sp) == B + 0x100 and guest.cpu.sysregs["sp_el1"] == B + 0x100
    assert int(f.elr) == CODE_IPA + 4


def test_complete_writes_loads_then_writeback_and_steps_elr(guest: Board) -> None:
    f = frame_for(guest, "ldp w1, w2, [x3, #8]!", {3: B}, far=B + 8)
    err, d = decode(f)
    assert err == DECODE_OK
    d.acc[0].value, d.acc[1].value = u64(0xAAAA_BBBB_CCCC_DDDD), u64(0x8000_0001)
    decode_complete(f, d)
    assert (int(f.x[1]), int(f.x[2]), int(f.x[3])) == (0xCCCC_DDDD, 0x8000_0001, B + 8)
    assert int(f.elr) == CODE_IPA + 4


def test_load_into_xzr_is_discarded(guest: Board) -> None:
    f = frame_for(guest, "ldr xzr, [x1]", {1: B, 30: 77}, far=B)
    err, d = decode(f)
    assert err == DECODE_OK
    d.acc[0].value = u64(5)
    decode_complete(f, d)
    assert int(f.x[30]) == 77 and int(f.sp) == 0


def test_valid_syndrome_is_used_without_fetching(guest: Board) -> None:
    # ISV=1, SAS=2 (4 bytes), SRT=5, store: the value comes from x5, no instruction is read.
    f = frame_for(guest, "nop", {5: 0x1_2345_6789}, far=B + 4, iss=ISV | 2 << 22 | 5 << 16 | WNR)
    f.elr = u64(0x1234_0000)                        # unmapped: a fetch would fail
    err, d = decode(f)
    assert err == DECODE_OK and accesses(d) == [Acc(B + 4, 4, True, 0x2345_6789, reg=5)]
    f = frame_for(guest, "nop", {}, far=B, iss=ISV | 0 << 22 | SSE | 7 << 16 | SF)
    err, d = decode(f)
    assert err == DECODE_OK and accesses(d) == [Acc(B, 1, False, sext=True, x=True, reg=7)]
    f = frame_for(guest, "nop", {}, far=B, iss=ISV | 3 << 22 | 31 << 16 | WNR)
    err, d = decode(f)
    assert err == DECODE_OK and accesses(d)[0].value == 0 and accesses(d)[0].reg == 31


@pytest.mark.parametrize("insn", ["ldxr x0, [x1]", "stlr w0, [x1]", "ldr q0, [x1]", "str d0, [x1, #8]",
                                  "prfm pldl1keep, [x1]", "add x0, x1, x2", "ldp q0, q1, [x2]",
                                  "stxr w0, x1, [x2]", 0xB8200041, 0x69000861, 0xE9400861])
def test_anything_else_is_unsupported(guest: Board, insn: str | int) -> None:
    # Raw words keystone cannot produce: 0xB8200041 LDADD w0, w1, [x2] (LSE); 0x69000861 STGP (MTE);
    # 0xE9400861 a pair with opc = 0b11 (unallocated).
    err, _ = decode(frame_for(guest, insn, {1: B, 2: B}, far=B))
    assert err == DECODE_UNSUPPORTED


def test_aarch32_guests_are_unsupported(guest: Board) -> None:
    f = frame_for(guest, "ldr w1, [x2]", {2: B}, far=B)
    f.spsr = u64(0x10 | 0x3)
    assert decode(f)[0] == DECODE_UNSUPPORTED


def test_unreadable_instruction_is_a_fetch_failure(guest: Board) -> None:
    f = frame_for(guest, "ldr w1, [x2]", {2: B}, far=B)
    f.elr = u64(0x1234_0000)
    assert decode(f)[0] == DECODE_FETCH_FAILED


def test_other_syndromes_are_not_accesses(guest: Board) -> None:
    f = frame_for(guest, "ldr w1, [x2]", {2: B}, far=B)
    f.esr = u64(0x25 << 26 | 1 << 25)
    assert decode(f)[0] == DECODE_NOT_DABT
    assert decode(frame_for(guest, "ldr w1, [x2]", {2: B}, far=B, iss=S1PTW))[0] == DECODE_S1PTW
    assert decode(frame_for(guest, "dc civac, x2", {2: B}, far=B, iss=CM | WNR))[0] == DECODE_CACHE_MAINT


def test_fault_ipa_combines_hpfar_page_and_far_offset() -> None:
    assert int(decode_fault_ipa(u64(0xFFFF_8000_0900_0ABC), u64(0x0900_0 << 4))) == 0x0900_0ABC
    assert int(decode_fault_ipa(u64(0x123), u64(0xFF_FFFF_FFF0 | 0xF))) == 0xFFFF_FFFF_F000 | 0x123


# --- property tests: random registers and offsets, encodings from keystone -------------------------------

REG = st.integers(0, 30)
WIDTHS = [(1, "strb", "ldrb", "w"), (2, "strh", "ldrh", "w"), (4, "str", "ldr", "w"), (8, "str", "ldr", "x")]


def rn_name(rn: int) -> str:
    return "sp" if rn == 31 else f"x{rn}"


def decoded(text: str) -> LdStInsn:
    out = LdStInsn()
    assert decode_ldst(u32(asm(text)), out), text
    return out


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(WIDTHS), st.booleans(), REG, st.integers(0, 31), st.integers(0, 4095))
def test_unsigned_offset_forms(w: tuple[int, str, str, str], store: bool, rt: int, rn: int, imm: int) -> None:
    width, smn, lmn, rp = w
    text = f"{smn if store else lmn} {rp}{rt}, [{rn_name(rn)}, #{imm * width}]"
    d = decoded(text)
    assert (int(d.width_bytes), d.is_write, int(d.rt), int(d.rn), int(d.imm), d.mode) == \
        (width, store, rt, rn, imm * width, LDST_OFFSET), text
    assert d.sixty_four == (width == 8) and not d.sign_extend and int(d.count) == 1


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(WIDTHS), st.booleans(), REG, REG, st.integers(-256, 255), st.sampled_from(["pre", "post", "unscaled"]))
def test_imm9_forms(w: tuple[int, str, str, str], store: bool, rt: int, rn: int, imm: int, form: str) -> None:
    width, smn, lmn, rp = w
    mn = smn if store else lmn
    assume(form == "unscaled" or rn != rt)     # writeback into the data register is UNPREDICTABLE
    if form == "pre":
        text, mode = f"{mn} {rp}{rt}, [x{rn}, #{imm}]!", LDST_PRE
    elif form == "post":
        text, mode = f"{mn} {rp}{rt}, [x{rn}], #{imm}", LDST_POST
    else:
        text, mode = f"{mn.replace('str', 'stur').replace('ldr', 'ldur')} {rp}{rt}, [x{rn}, #{imm}]", LDST_OFFSET
    d = decoded(text)
    assert (int(d.width_bytes), d.is_write, int(d.rt), int(d.rn), int(d.imm), d.mode) == \
        (width, store, rt, rn, imm, mode), text


@settings(max_examples=80, deadline=None)
@given(st.sampled_from([(4, "w", "ldp", "stp"), (8, "x", "ldp", "stp"), (4, "x", "ldpsw", None)]), st.booleans(),
       REG, REG, REG, st.integers(-64, 63), st.sampled_from(["offset", "pre", "post"]))
def test_pair_forms(w: tuple[int, str, str, str | None], store: bool, rt: int, rt2: int, rn: int, imm7: int,
                    form: str) -> None:
    width, rp, lmn, smn = w
    if smn is None:
        store = False
    mn = smn if store else lmn
    assume(store or rt != rt2)                  # UNPREDICTABLE forms keystone refuses
    assume(form == "offset" or rn not in (rt, rt2))
    off = imm7 * width
    text = {"offset": f"{mn} {rp}{rt}, {rp}{rt2}, [x{rn}, #{off}]",
            "pre": f"{mn} {rp}{rt}, {rp}{rt2}, [x{rn}, #{off}]!",
            "post": f"{mn} {rp}{rt}, {rp}{rt2}, [x{rn}], #{off}"}[form]
    d = decoded(text)
    mode = {"offset": LDST_OFFSET, "pre": LDST_PRE, "post": LDST_POST}[form]
    assert (int(d.count), int(d.width_bytes), d.is_write, int(d.rt), int(d.rt2), int(d.rn), int(d.imm),
            d.mode) == (2, width, store, rt, rt2, rn, off, mode), text
    assert d.sign_extend == (lmn == "ldpsw") and d.sixty_four == (rp == "x")


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(WIDTHS), st.booleans(), REG, REG, REG, st.sampled_from(["lsl", "uxtw", "sxtw", "sxtx"]),
       st.booleans())
def test_register_offset_forms(w: tuple[int, str, str, str], store: bool, rt: int, rn: int, rm: int, ext: str,
                               shifted: bool) -> None:
    width, smn, lmn, rp = w
    amount = {1: 0, 2: 1, 4: 2, 8: 3}[width]
    idx = f"w{rm}" if ext in ("uxtw", "sxtw") else f"x{rm}"
    if ext == "lsl" and not shifted:
        suffix = ""
    else:
        suffix = f", {ext} #{amount}" if shifted else f", {ext}"
    text = f"{smn if store else lmn} {rp}{rt}, [x{rn}, {idx}{suffix}]"
    d = decoded(text)
    assert (d.mode, int(d.rt), int(d.rn), int(d.rm), int(d.width_bytes), d.is_write) == \
        (LDST_REG, rt, rn, rm, width, store), text
    assert int(d.extend) == {"uxtw": 0b010, "lsl": 0b011, "sxtw": 0b110, "sxtx": 0b111}[ext]
    assert int(d.shift) == (amount if shifted else 0)
