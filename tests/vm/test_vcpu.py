"""The vCPU trap paths (pyhv/core/vcpu.py) on a mock node with the VM's real devices (vm_setup_devices):
each guest exception class is decoded and answered as the specs say, and a guest mistake is answered
inside the guest (abort / undefined instruction), never by a panic."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from keystone import KS_ARCH_ARM64, KS_MODE_LITTLE_ENDIAN, Ks

from pyhv.lang import i32, u32, u64

from pyhv.arch.frame import TrapFrame
from pyhv.core.vcpu import vcpu_trap_sync
from pyhv.core.vm_devices import VM_OK, vm_setup_devices
from pyhv.core.vmconfig import vmconfig_single_node
from pyhv.core.vmstate import vm_state
from pyhv.core.vpsci import VPSCI_RET_SUCCESS, VcpuPowerOps, vpsci_init, vpsci_set_power_ops
from pyhv.vdev.vgic import VgicHostOps, vgic_irq, vgic_set_host_ops, vgic_state
from pyhv.vdev.vpl011 import (
    Vpl011Ops, vpl011_no_input_get, vpl011_no_input_wanted, vpl011_reset, vpl011_set_ops,
)

from .conftest import Node

VBAR = 0xFFFF_8000_0001_0000
PC = 0xFFFF_8000_1000_0000
UART_IPA = 0x0900_0000
EC_HVC, EC_SMC, EC_SYS, EC_DABT = 0x16, 0x17, 0x18, 0x24
IL = 1 << 25


class Guest:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.tx: list[int] = []
        self.kicks: list[int] = []
        self.cpu_on: list[int] = []


@pytest.fixture
def guest(node: Node) -> Iterator[Guest]:
    g = Guest(node)
    cfg = vm_state().cfg
    vmconfig_single_node(cfg, u32(2), u32(2), u64(256 << 20), u32(3))
    vm_state().ram_host_base = u64(0x4100_0000)
    assert vm_setup_devices() == VM_OK
    vgic_set_host_ops(VgicHostOps(kick=lambda v: g.kicks.append(int(v))))
    vpl011_set_ops(Vpl011Ops(tx=lambda c: g.tx.append(int(c)), irq=lambda level: None,
                             rx_get=vpl011_no_input_get, rx_wanted=vpl011_no_input_wanted))
    vpl011_reset()
    vpsci_init(cfg, u32(0))

    def cpu_on(v: u32) -> i32:
        g.cpu_on.append(int(v))
        return VPSCI_RET_SUCCESS

    vpsci_set_power_ops(VcpuPowerOps(cpu_on=cpu_on, system_off=lambda: None, system_reset=lambda: None))
    node.cpu.sysregs["vbar_el1"] = VBAR
    yield g


def _frame(esr: int) -> TrapFrame:
    f = TrapFrame()
    f.esr, f.elr, f.spsr = u64(esr), u64(PC), u64(0x3C5)
    return f


def test_hvc_psci_version_answers_1_1_and_resumes_after_the_hvc(guest: Guest) -> None:
    f = _frame(EC_HVC << 26 | IL)
    f.x[0] = u64(0x8400_0000)
    vcpu_trap_sync(f)
    assert int(f.x[0]) == 0x10001 and int(f.elr) == PC


def test_an_unknown_smc_is_not_supported_and_skips_the_smc(guest: Guest) -> None:
    f = _frame(EC_SMC << 26 | IL)
    f.x[0] = u64(0xC200_0001)                       # a SiP call nobody implements
    vcpu_trap_sync(f)
    assert int(f.x[0]) == (1 << 64) - 1 and int(f.elr) == PC + 4


def test_psci_cpu_on_of_the_second_vcpu_asks_the_core_to_start_it(guest: Guest) -> None:
    f = _frame(EC_HVC << 26 | IL)
    f.x[0], f.x[1], f.x[2], f.x[3] = u64(0xC400_0003), u64(1), u64(0x4020_0000), u64(7)
    vcpu_trap_sync(f)
    assert int(f.x[0]) == 0 and guest.cpu_on == [1]


def test_a_store_to_the_uart_data_register_reaches_the_console(guest: Guest) -> None:
    # ISV=1, SAS=2 (32 bits), SRT=5, WnR=1, DFSC translation fault level 3
    f = _frame(EC_DABT << 26 | IL | 1 << 24 | 2 << 22 | 5 << 16 | 1 << 6 | 0x07)
    f.far, f.x[5] = u64(0xFFFF_0000_0900_0000), u64(ord("A"))
    guest.node.cpu.sysregs["hpfar_el2"] = (UART_IPA >> 12) << 4
    vcpu_trap_sync(f)
    assert guest.tx == [ord("A")] and int(f.elr) == PC + 4


def test_a_load_from_an_address_without_a_device_gets_an_external_abort(guest: Guest) -> None:
    f = _frame(EC_DABT << 26 | IL | 1 << 24 | 2 << 22 | 1 << 16 | 0x07)
    f.far = u64(0xFFFF_0000_0A00_0000)
    guest.node.cpu.sysregs["hpfar_el2"] = (0x0A00_0000 >> 12) << 4
    vcpu_trap_sync(f)
    assert int(f.elr) == VBAR + 0x200
    esr = guest.node.cpu.sysregs["esr_el1"]
    assert esr >> 26 == 0x25 and esr & 0x3F == 0x10
    assert "no device, abort injected" in guest.node.text()


def _sysreg_iss(insn: str) -> int:
    word = int.from_bytes(bytes(Ks(KS_ARCH_ARM64, KS_MODE_LITTLE_ENDIAN).asm(insn)[0]), "little")
    op0, op1 = 2 + ((word >> 19) & 1), (word >> 16) & 7
    crn, crm, op2, rt = (word >> 12) & 0xF, (word >> 8) & 0xF, (word >> 5) & 7, word & 0x1F
    return op0 << 20 | op2 << 17 | op1 << 14 | crn << 10 | rt << 5 | crm << 1 | ((word >> 21) & 1)


def test_an_icc_sgi1r_write_raises_the_sgi_on_the_target_vcpu_and_kicks_it(guest: Guest) -> None:
    vgic_state().grp_enable = u32(3)                # as the guest's GICD_CTLR write would
    vgic_irq(u32(1), u32(3)).enabled = True        # ... and its GICR_ISENABLER0 write
    f = _frame(EC_SYS << 26 | IL | _sysreg_iss("msr icc_sgi1r_el1, x2"))
    f.x[2] = u64(3 << 24 | 0b10)                    # SGI 3 to Aff0 = 1
    vcpu_trap_sync(f)
    assert vgic_irq(u32(1), u32(3)).pending_latch and guest.kicks == [1]
    assert int(f.elr) == PC + 4


def test_another_trapped_system_register_reads_as_zero(guest: Guest) -> None:
    f = _frame(EC_SYS << 26 | IL | _sysreg_iss("mrs x4, s3_0_c15_c0_0"))
    f.x[4] = u64(0x55)
    vcpu_trap_sync(f)
    assert int(f.x[4]) == 0 and int(f.elr) == PC + 4


def test_an_exception_class_pyhv_does_not_emulate_becomes_an_undefined_instruction(guest: Guest) -> None:
    f = _frame(0x07 << 26 | IL)                       # FP/SIMD access trap: never configured
    vcpu_trap_sync(f)
    assert int(f.elr) == VBAR + 0x200 and guest.node.cpu.sysregs["esr_el1"] == IL
