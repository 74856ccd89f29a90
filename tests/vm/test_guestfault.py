"""The guest-fault path (pyhv/core/guestfault.py) through vcpu_trap_sync on a mock node with the VM's real
devices: a stage-2 fault on guest RAM goes to the GuestMemFaultOps slot first and the instruction is retried;
a fault outside RAM goes to the MMIO decoder; a fetch from a hole becomes the prefetch abort the architecture
gives (ESR_EL1, FAR_EL1, ELR_EL1, SPSR_EL1, vector offset), never an undefined instruction."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pyhv.lang import Panic, u32, u64

from pyhv.arch.abort import ABORT_KIND_EXEC, ABORT_KIND_READ, ABORT_KIND_WALK, ABORT_KIND_WRITE
from pyhv.arch.frame import TrapFrame
from pyhv.arch.traps import arch_trap_unexpected, trap_set_guest_ops
from pyhv.core.guestfault import (
    GUESTFAULT_HANDLED, GUESTFAULT_NOT_HANDLED, GuestMemFaultOps, guestfault_set_ops, guestfault_stats,
)
from pyhv.core.vcpu import vcpu_trap_sync
from pyhv.core.vm_devices import VM_OK, VM_TRAP_OPS, vm_setup_devices
from pyhv.core.vmconfig import vmconfig_single_node
from pyhv.core.vmstate import vm_state
from pyhv.vdev.vpl011 import (
    Vpl011Ops, vpl011_no_input_get, vpl011_no_input_wanted, vpl011_reset, vpl011_set_ops,
)

from .conftest import Node

VBAR = 0xFFFF_8000_0001_0000
PC = 0xFFFF_8000_1000_0040
RAM_IPA = 0x4000_0000
HOLE_IPA = 0x3000_0000                  # below RAM, no device: nothing there
UART_IPA = 0x0900_0000
IL = 1 << 25
SPSR_EL1H, SPSR_EL0T = 0x3C5, 0x000


class Dsm:
    """A stand-in DSM: records the faults it is handed and answers with `answer`."""

    def __init__(self) -> None:
        self.faults: list[tuple[int, int, int]] = []
        self.answer = GUESTFAULT_HANDLED

    def fault(self, vcpu: u32, ipa: u64, kind: u32) -> u32:
        self.faults.append((int(vcpu), int(ipa), int(kind)))
        return self.answer


@pytest.fixture
def vm(node: Node) -> Iterator[Node]:
    vmconfig_single_node(vm_state().cfg, u32(2), u32(2), u64(256 << 20), u32(3))
    vm_state().ram_host_base = u64(0x4100_0000)
    assert vm_setup_devices() == VM_OK
    vpl011_set_ops(Vpl011Ops(tx=lambda c: None, irq=lambda level: None,
                             rx_get=vpl011_no_input_get, rx_wanted=vpl011_no_input_wanted))
    vpl011_reset()
    node.cpu.sysregs["vbar_el1"] = VBAR
    yield node


def _dsm() -> Dsm:
    d = Dsm()
    guestfault_set_ops(GuestMemFaultOps(fault=d.fault))
    return d


def _trap(node: Node, esr: int, va: int, ipa: int, spsr: int = SPSR_EL1H) -> TrapFrame:
    f = TrapFrame()
    f.esr, f.elr, f.spsr, f.far = u64(esr), u64(PC), u64(spsr), u64(va)
    node.cpu.sysregs["hpfar_el2"] = (ipa >> 12) << 4
    node.cpu.sysregs["esr_el1"] = 0xDEAD
    vcpu_trap_sync(f)
    return f


def _dabt(dfsc: int, write: bool = False) -> int:
    # ISV syndrome of `ldr w1, [x2]` / `str w1, [x2]` (SAS = 2, SRT = 1)
    return 0x24 << 26 | IL | 1 << 24 | 2 << 22 | 1 << 16 | (1 << 6 if write else 0) | dfsc


def test_a_translation_fault_on_ram_goes_to_the_ops_slot_and_the_instruction_is_retried(vm: Node) -> None:
    dsm = _dsm()
    f = _trap(vm, _dabt(0b000111), 0xFFFF_0000_0012_3458, RAM_IPA + 0x12_3458)
    assert dsm.faults == [(0, RAM_IPA + 0x12_3458, int(ABORT_KIND_READ))]
    assert int(f.elr) == PC and int(f.spsr) == SPSR_EL1H         # back to the same instruction
    assert vm.cpu.sysregs["esr_el1"] == 0xDEAD                    # nothing injected
    assert int(guestfault_stats().mmio) == 0 and int(guestfault_stats().ram_retries) == 1


def test_a_write_to_a_write_protected_ram_page_is_a_write_fault_for_the_ops(vm: Node) -> None:
    dsm = _dsm()
    f = _trap(vm, _dabt(0b001111, write=True), 0xFFFF_0000_0000_5000, RAM_IPA + 0x5000)
    assert dsm.faults == [(0, RAM_IPA + 0x5000, int(ABORT_KIND_WRITE))] and int(f.elr) == PC


def test_a_fetch_and_a_stage1_walk_on_ram_go_to_the_ops_slot_too(vm: Node) -> None:
    dsm = _dsm()
    _trap(vm, 0x20 << 26 | IL | 0b000111, PC, RAM_IPA + 0x20_0040)
    _trap(vm, 0x24 << 26 | IL | 1 << 7 | 0b000110, 0xFFFF_0000_0800_0000, RAM_IPA + 0x7000)
    assert dsm.faults == [(0, RAM_IPA + 0x20_0040, int(ABORT_KIND_EXEC)),
                          (0, RAM_IPA + (0xFFFF_0000_0800_0000 & 0xFFF) + 0x7000, int(ABORT_KIND_WALK))]


def test_a_ram_fault_nobody_can_map_gets_an_external_data_abort(vm: Node) -> None:
    dsm = _dsm()
    dsm.answer = GUESTFAULT_NOT_HANDLED
    va = 0xFFFF_0000_0000_6008
    f = _trap(vm, _dabt(0b000111, write=True), va, RAM_IPA + 0x6008)
    esr = vm.cpu.sysregs["esr_el1"]
    assert esr >> 26 == 0x25 and esr & 0x3F == 0x10 and esr & (1 << 6)
    assert vm.cpu.sysregs["far_el1"] == va and vm.cpu.sysregs["elr_el1"] == PC
    assert int(f.elr) == VBAR + 0x200


def test_the_single_node_absent_ops_warn_and_inject(vm: Node) -> None:
    _trap(vm, _dabt(0b000111), 0xFFFF_0000_0000_6000, RAM_IPA + 0x6000)     # vm_setup_devices' default
    assert vm.cpu.sysregs["esr_el1"] >> 26 == 0x25
    assert "read fault on guest ram ipa 0x40006000" in vm.text() and "abort injected" in vm.text()


def test_a_fault_outside_ram_goes_to_the_mmio_decoder_not_to_the_ops(vm: Node) -> None:
    dsm = _dsm()
    f = _trap(vm, _dabt(0b000110), 0xFFFF_0000_0900_0018, UART_IPA + 0x18)     # vPL011 FR
    assert dsm.faults == [] and int(guestfault_stats().mmio) == 1
    assert int(f.elr) == PC + 4 and vm.cpu.sysregs["esr_el1"] == 0xDEAD


@pytest.mark.parametrize("spsr,ec,vector", [(SPSR_EL1H, 0x21, 0x200), (0x3C4, 0x21, 0x000),
                                            (SPSR_EL0T, 0x20, 0x400)])
def test_a_fetch_from_a_hole_is_a_prefetch_abort_with_the_architectures_syndrome(
        vm: Node, spsr: int, ec: int, vector: int) -> None:
    dsm = _dsm()
    va = 0x0000_0000_3000_0000 if spsr == SPSR_EL0T else 0xFFFF_0000_3000_0000
    f = TrapFrame()
    f.esr, f.elr, f.spsr, f.far = u64(0x20 << 26 | IL | 0b000101), u64(va), u64(spsr), u64(va)
    vm.cpu.sysregs["hpfar_el2"] = (HOLE_IPA >> 12) << 4
    vcpu_trap_sync(f)
    assert dsm.faults == []
    assert vm.cpu.sysregs["esr_el1"] == ec << 26 | IL | 0x10       # IFSC: synchronous external abort
    assert vm.cpu.sysregs["far_el1"] == va and vm.cpu.sysregs["elr_el1"] == va
    assert vm.cpu.sysregs["spsr_el1"] == spsr
    assert int(f.elr) == VBAR + vector and int(f.spsr) == SPSR_EL1H
    assert "instruction fetch at ipa 0x30000000" in vm.text()


def test_a_fetch_from_a_device_is_a_prefetch_abort_too(vm: Node) -> None:
    f = TrapFrame()
    f.esr, f.elr, f.spsr, f.far = u64(0x20 << 26 | IL | 0b000110), u64(0x0900_0000), u64(SPSR_EL1H), u64(0x0900_0000)
    vm.cpu.sysregs["hpfar_el2"] = (UART_IPA >> 12) << 4
    vcpu_trap_sync(f)
    assert vm.cpu.sysregs["esr_el1"] >> 26 == 0x21 and int(f.elr) == VBAR + 0x200


def test_a_stage1_walk_into_a_hole_is_a_data_abort_not_an_mmio_access(vm: Node) -> None:
    dsm = _dsm()
    _trap(vm, 0x24 << 26 | IL | 1 << 7 | 0b000101, 0xFFFF_0000_0000_1000, HOLE_IPA)
    assert dsm.faults == [] and int(guestfault_stats().mmio) == 0
    assert vm.cpu.sysregs["esr_el1"] >> 26 == 0x25 and vm.cpu.sysregs["esr_el1"] & 0x3F == 0x10


def test_an_access_flag_fault_on_ram_is_not_the_dsms_and_gets_an_abort(vm: Node) -> None:
    dsm = _dsm()
    _trap(vm, _dabt(0b001011), 0xFFFF_0000_0000_2000, RAM_IPA + 0x2000)
    assert dsm.faults == [] and vm.cpu.sysregs["esr_el1"] >> 26 == 0x25
    assert "access flag read abort" in vm.text()


def test_a_tlb_conflict_flushes_this_cpus_tlb_and_retries(vm: Node) -> None:
    vm.cpu.trace = trace = []
    f = _trap(vm, _dabt(0b110000), 0xFFFF_0000_0000_2000, RAM_IPA + 0x2000)
    assert ("tlbi", "vmalls12e1", 0) in trace and int(f.elr) == PC
    assert vm.cpu.sysregs["esr_el1"] == 0xDEAD


def test_a_physical_serror_taken_from_the_guest_becomes_a_virtual_serror_not_a_panic(vm: Node) -> None:
    trap_set_guest_ops(VM_TRAP_OPS)
    vm.cpu.sysregs["hcr_el2"] = 0x8008_003B
    f = TrapFrame()
    f.esr, f.elr, f.spsr = u64(0x2F << 26 | IL), u64(PC), u64(SPSR_EL1H)
    arch_trap_unexpected(f, u64(11))                    # lower EL AArch64, SError
    assert vm.cpu.sysregs["hcr_el2"] == 0x8008_003B | 1 << 8 and int(f.elr) == PC
    assert "virtual serror injected" in vm.text()
    vm.node.symbols["pyhv_symtab"] = 0x5000_0000      # an empty symbol table for the trap report
    with pytest.raises(Panic, match="unexpected exception at EL2"):
        arch_trap_unexpected(f, u64(7))                 # an SError taken at EL2 is ours: still a panic


def test_the_vm_set_up_keeps_a_dsm_installed_before_it(node: Node) -> None:
    dsm = _dsm()                                        # installed before the VM's devices
    vmconfig_single_node(vm_state().cfg, u32(1), u32(1), u64(64 << 20), u32(3))
    assert vm_setup_devices() == VM_OK
    node.cpu.sysregs["vbar_el1"] = VBAR
    _trap(node, _dabt(0b000111), 0xFFFF_0000_0000_1000, RAM_IPA + 0x1000)
    assert dsm.faults == [(0, RAM_IPA + 0x1000, int(ABORT_KIND_READ))]
