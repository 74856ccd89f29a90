"""Pieces of the cross-node VM that need no network: the message table's start-barrier row, the GICv2
distributor's banked/shared split (IHI 0048B §4.3 register map), the wire structs' sizes, and that the VM
stays a single-node VM until remote_vm_init."""

from __future__ import annotations

from pyhv.lang import addr_of, sizeof, u16, u32, u64
from pyhv.lang.machine import Machine

from pyhv.cluster.msgtable import MSG_TABLE, msgtable_row
from pyhv.cluster.wire import MSG_MMIO, MSG_TYPES, MSG_VM_READY
from pyhv.core.printk import ConsoleOps, printk_set_console
from pyhv.core.vmready import VmReadyMsg, vmready_state
from pyhv.core.remote import (
    KICK_MSG_BYTES, MMIO_MSG_BYTES, MMIO_REPLY_BYTES, POWER_MSG_BYTES, PSCI_MSG_BYTES, PSCI_REPLY_BYTES, KickMsg,
    MmioMsg, MmioReply, PowerMsg, PsciMsg, PsciReply,
)
from pyhv.core.remote_call import remote_gicv2_banked
from pyhv.core.remote_map import remote_enabled, remote_vcpu_cpu, remote_vcpu_is_local, remote_vcpu_node
from pyhv.vdev.vgic_remote import CTLR_MSG_BYTES, SGI_MSG_BYTES, SPI_MSG_BYTES, CtlrMsg, SgiMsg, SpiMsg


def test_type_31_is_the_vm_start_barrier_counting_each_node_once() -> None:
    m = Machine()
    node = m.add_node()
    assert int(MSG_TYPES) == 33 and len(MSG_TABLE) == 33     # 32: the moving console UART
    with m.on_cpu(node, 0):
        printk_set_console(ConsoleOps(putc=lambda c: node.console.append(int(c))))
        ok, bad = VmReadyMsg(), VmReadyMsg()
        bad.status = u32(2)
        handler = msgtable_row(MSG_VM_READY).handler
        handler(u16(1), u32(0), addr_of(ok), u32(4))
        handler(u16(1), u32(0), addr_of(ok), u32(4))             # a repeat is dropped and counted
        handler(u16(2), u32(0), addr_of(bad), u32(4))
        handler(u16(16), u32(0), addr_of(ok), u32(4))            # no such node
        st = vmready_state()
        assert (int(st.ready), int(st.failed), int(st.bad)) == (0b10, 0b100, 2)
        assert "node 2 could not set up its part of the VM (error 2)" in node.console_text()
        assert int(msgtable_row(MSG_MMIO).min_len) == int(MMIO_REPLY_BYTES)   # the shorter: the reply


def test_wire_structs_have_their_documented_sizes() -> None:
    pairs = [(MmioMsg, MMIO_MSG_BYTES), (MmioReply, MMIO_REPLY_BYTES), (PsciMsg, PSCI_MSG_BYTES),
             (PsciReply, PSCI_REPLY_BYTES), (PowerMsg, POWER_MSG_BYTES), (KickMsg, KICK_MSG_BYTES),
             (SgiMsg, SGI_MSG_BYTES), (SpiMsg, SPI_MSG_BYTES), (CtlrMsg, CTLR_MSG_BYTES)]
    assert [sizeof(t) for t, _ in pairs] == [24, 16, 24, 8, 8, 8, 24, 16, 8]
    assert all(sizeof(t) == int(n) for t, n in pairs)


def test_gicv2_banked_registers_are_the_per_cpu_ones() -> None:
    banked = [0x080, 0x100, 0x180, 0x200, 0x280, 0x300, 0x380,      # word 0 of each 1-bit bank: INTIDs 0-31
              0x400, 0x41C, 0x800, 0x81F, 0xC00, 0xC04,           # IPRIORITYR0-7, ITARGETSR0-7, ICFGR0-1
              0xF00, 0xF10, 0xF2C]                                # SGIR, CPENDSGIR, SPENDSGIR
    shared = [0x000, 0x004, 0x008, 0x084, 0x104, 0x17C, 0x384, 0x420, 0x820, 0xC08, 0xF04, 0xF30, 0xFE8]
    assert [off for off in banked if not remote_gicv2_banked(u32(off))] == []
    assert [off for off in shared if remote_gicv2_banked(u32(off))] == []


def test_without_remote_vm_init_every_vcpu_is_local_on_the_cpu_of_its_number() -> None:
    m = Machine()
    node = m.add_node()
    with m.on_cpu(node, 0):
        assert not remote_enabled()
        assert [int(remote_vcpu_node(u32(v))) for v in range(4)] == [0, 0, 0, 0]
        assert all(remote_vcpu_is_local(u32(v)) for v in range(4))
        assert [int(remote_vcpu_cpu(u32(v))) for v in range(4)] == [0, 1, 2, 3]
