"""EL2 set-up of a vCPU's CPU (pyhv/arch/el2.py), the exceptions pyhv injects (pyhv/arch/inject.py) and the
decoding of trapped system-register accesses (pyhv/arch/sysreg_trap.py; encodings from keystone)."""

from __future__ import annotations

from keystone import KS_ARCH_ARM64, KS_MODE_LITTLE_ENDIAN, Ks

from pyhv.lang import u32, u64

from pyhv.arch.el2 import (
    HCR_AMO, HCR_FMO, HCR_IMO, HCR_RW, HCR_SWIO, HCR_TSC, HCR_TWE, HCR_TWI, HCR_VM, el2_from_guest,
    el2_vm_cpu_setup,
)
from pyhv.arch.frame import TrapFrame
from pyhv.arch.inject import inject_data_abort, inject_undef
from pyhv.arch.sysreg_trap import (
    SYSREG_KEY_ICC_ASGI1R, SYSREG_KEY_ICC_SGI0R, SYSREG_KEY_ICC_SGI1R, SysregAccess, sysreg_trap_decode,
)

from .conftest import Node

MIDR_A72 = 0x410FD083


def test_a_vcpu_cpu_gets_stage2_interrupt_routing_and_smc_traps_but_no_wfx_traps(node: Node) -> None:
    node.cpu.sysregs["midr_el1"] = MIDR_A72
    el2_vm_cpu_setup(u64(0x0102), u64(0x1234), False)
    hcr = node.cpu.sysregs["hcr_el2"]
    for bit in (HCR_VM, HCR_SWIO, HCR_FMO, HCR_IMO, HCR_AMO, HCR_TSC, HCR_RW):
        assert hcr & int(bit)
    assert not hcr & int(HCR_TWI) and not hcr & int(HCR_TWE)      # docs/wfi-policy.md
    assert node.cpu.sysregs["vpidr_el2"] == MIDR_A72
    assert node.cpu.sysregs["vmpidr_el2"] == (1 << 31) | 0x0102
    assert node.cpu.sysregs["cntvoff_el2"] == 0x1234
    assert node.cpu.sysregs["cnthctl_el2"] & 3 == 0                    # CNTPCT and CNTP_* trap (vptimer)
    assert node.cpu.sysregs["cptr_el2"] & (1 << 10) == 0                # FP/SIMD not trapped
    assert node.cpu.sysregs["sctlr_el1"] & 1 == 0                       # guest MMU off at entry


def test_exceptions_from_el1_and_el0_are_the_guests_those_from_el2_are_ours() -> None:
    assert el2_from_guest(u64(0x3C5)) and el2_from_guest(u64(0x3C4)) and el2_from_guest(u64(0x0))
    assert not el2_from_guest(u64(0x3C9)) and not el2_from_guest(u64(0x3C8))


def _frame(spsr: int) -> TrapFrame:
    f = TrapFrame()
    f.elr, f.spsr = u64(0xFFFF_8000_1000_0040), u64(spsr)
    return f


def test_an_abort_injected_at_el1_enters_the_current_el_spx_vector(node: Node) -> None:
    node.cpu.sysregs["vbar_el1"] = 0xFFFF_8000_0001_0000
    f = _frame(0x3C5)
    inject_data_abort(f, u64(0xFFFF_0000_0900_0000), True)
    assert int(f.elr) == 0xFFFF_8000_0001_0200 and int(f.spsr) == 0x3C5
    esr = node.cpu.sysregs["esr_el1"]
    assert esr >> 26 == 0x25 and esr & (1 << 25) and esr & 0x3F == 0x10 and esr & (1 << 6)
    assert node.cpu.sysregs["far_el1"] == 0xFFFF_0000_0900_0000
    assert node.cpu.sysregs["elr_el1"] == 0xFFFF_8000_1000_0040 and node.cpu.sysregs["spsr_el1"] == 0x3C5


def test_an_abort_injected_at_el0_enters_the_lower_el_vector_as_a_lower_el_abort(node: Node) -> None:
    node.cpu.sysregs["vbar_el1"] = 0x1000
    f = _frame(0x0)
    inject_data_abort(f, u64(0x5000), False)
    assert int(f.elr) == 0x1400
    esr = node.cpu.sysregs["esr_el1"]
    assert esr >> 26 == 0x24 and not esr & (1 << 6)


def test_an_undefined_instruction_is_reported_with_ec_zero(node: Node) -> None:
    node.cpu.sysregs["vbar_el1"] = 0x2000
    f = _frame(0x3C4)
    inject_undef(f)
    assert int(f.elr) == 0x2000 and node.cpu.sysregs["esr_el1"] == 1 << 25


def _iss_of(insn: str) -> int:
    # The ISS the CPU reports for a trapped MSR/MRS is the instruction's own fields, rearranged.
    word = int.from_bytes(bytes(Ks(KS_ARCH_ARM64, KS_MODE_LITTLE_ENDIAN).asm(insn)[0]), "little")
    read = (word >> 21) & 1
    op0, op1 = 2 + ((word >> 19) & 1), (word >> 16) & 7
    crn, crm, op2, rt = (word >> 12) & 0xF, (word >> 8) & 0xF, (word >> 5) & 7, word & 0x1F
    return op0 << 20 | op2 << 17 | op1 << 14 | crn << 10 | rt << 5 | crm << 1 | read


def test_the_sgi_generation_registers_are_recognised_with_their_data_register() -> None:
    for insn, key, rt in (("msr icc_sgi1r_el1, x3", SYSREG_KEY_ICC_SGI1R, 3),
                          ("msr s3_1_c12_c11_6, x7", SYSREG_KEY_ICC_ASGI1R, 7),
                          ("msr s3_2_c12_c11_7, xzr", SYSREG_KEY_ICC_SGI0R, 31)):
        a = SysregAccess()
        sysreg_trap_decode(u32(_iss_of(insn)), a)
        assert (int(a.key), int(a.rt), a.is_read) == (int(key), rt, False), insn
    a = SysregAccess()
    sysreg_trap_decode(u32(_iss_of("mrs x9, icc_pmr_el1")), a)
    assert a.is_read and int(a.rt) == 9 and int(a.key) != int(SYSREG_KEY_ICC_SGI1R)
