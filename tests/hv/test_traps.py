"""ESR decoding, the synchronous and IRQ handlers, symbol lookup for reports."""

from __future__ import annotations

import pytest

from pyhv.lang import Panic, mem_read8, u8, u32, u64

from pyhv.arch.esr import EC_BRK64, EC_DABT_CUR, Esr, esr_brk_comment, esr_decode, esr_insn_bytes
from pyhv.arch.frame import TrapFrame
from pyhv.arch.gic import gic_init_cpu, gic_init_dist, gic_enable_ppi
from pyhv.arch.timer import CNTHP_CTL_ENABLE, TIMER_HYP_PPI, timer_arm_ticks, timer_irq_count
from pyhv.arch.traps import arch_trap_irq, arch_trap_sync, arch_trap_unexpected, trap_brk_count
from pyhv.core.devices import devices_probe_gic
from pyhv.core.printk import printk_set_console
from pyhv.core.symtab import SymHit, symtab_lookup
from pyhv.drivers.pl011 import PL011_CONSOLE_OPS, pl011_init

from .conftest import Board
from .dtbs import GICC_BASE, GICD_BASE, virt_dtb
from .models.gic import Gicv2Model
from .models.pl011 import Pl011Model
from .symtab import install_symtab

SYMBOLS = {"_start": 0x4020_0000, "hv_main": 0x4020_1000, "pyhv_trap_selftest": 0x4020_2000,
           "pyhv_vectors": 0x4020_3000}
BRK_0x42 = (0x3C << 26) | (1 << 25) | 0x42          # ESR of `brk #0x42`
DABT_CUR = (0x25 << 26) | (1 << 25) | 0x46          # data abort at EL2, write


@pytest.fixture
def uart(board: Board) -> Pl011Model:
    model = Pl011Model()
    board.node.mmio.map(0x0900_0000, 0x1000, model)
    pl011_init(u64(0x0900_0000))
    printk_set_console(PL011_CONSOLE_OPS)
    install_symtab(board.node, SYMBOLS)
    return model


def name_at(addr: u64) -> str:
    out = bytearray()
    while (b := int(mem_read8(addr + len(out)))) != 0:
        out.append(b)
    return out.decode()


def test_esr_fields_are_decoded_once_into_a_record() -> None:
    e = Esr()
    esr_decode(u64(BRK_0x42), e)
    assert (e.ec, e.il, e.iss) == (EC_BRK64, True, 0x42)
    assert esr_brk_comment(e) == 0x42 and esr_insn_bytes(e) == 4
    esr_decode(u64((0x25 << 26) | 0x1FFFFFF | (0xABC << 32)), e)
    assert (e.ec, e.il, e.iss) == (EC_DABT_CUR, False, 0x1FFFFFF)
    assert esr_insn_bytes(e) == 2


@pytest.mark.parametrize("addr,name,off", [(0x4020_0000, "_start", 0), (0x4020_1ffc, "hv_main", 0xffc),
                                           (0x4020_2008, "pyhv_trap_selftest", 8),
                                           (0x5000_0000, "pyhv_vectors", 0x0FDF_D000)])
def test_symtab_finds_the_enclosing_symbol(board: Board, addr: int, name: str, off: int) -> None:
    install_symtab(board.node, SYMBOLS)
    hit = SymHit()
    assert symtab_lookup(u64(addr), hit)
    assert (name_at(hit.name_addr), hit.offset) == (name, off)


def test_symtab_misses_below_the_first_symbol_and_when_empty(board: Board) -> None:
    install_symtab(board.node, SYMBOLS)
    assert not symtab_lookup(u64(0x1000), SymHit())
    install_symtab(board.node, {})
    assert not symtab_lookup(u64(0x4020_0000), SymHit())


def test_brk_is_reported_and_skipped(board: Board, uart: Pl011Model) -> None:
    f = TrapFrame()
    f.esr = u64(BRK_0x42)
    f.elr = u64(0x4020_2010)
    f.x[5] = u64(0x5555)
    arch_trap_sync(f)
    assert f.elr == 0x4020_2014 and f.x[5] == 0x5555
    assert trap_brk_count() == 1
    assert uart.text() == "trap: ESR_EL2=0xf2000042 ELR_EL2=0x40202010 <pyhv_trap_selftest+0x10>\r\n"


def test_an_unknown_exception_class_is_reported_then_panics(board: Board, uart: Pl011Model) -> None:
    f = TrapFrame()
    f.esr = u64(DABT_CUR)
    f.elr = u64(0x4020_1004)
    f.far = u64(0xDEAD_0000)
    with pytest.raises(Panic, match="unhandled synchronous exception"):
        arch_trap_sync(f)
    assert f.elr == 0x4020_1004
    text = uart.text()
    assert text.startswith("trap: ESR_EL2=0x96000046 ELR_EL2=0x40201004 <hv_main+0x4>\r\n")
    assert "EC=0x25 (data abort)" in text and "FAR_EL2=0xdead0000" in text
    assert "x30=0x0000000000000000" in text


def test_unexpected_vectors_panic_with_their_name(board: Board, uart: Pl011Model) -> None:
    f = TrapFrame()
    with pytest.raises(Panic, match="unexpected exception"):
        arch_trap_unexpected(f, u64(7))
    assert "vector 7 (serror), group 1" in uart.text()


def gicv2(board: Board) -> Gicv2Model:
    model = Gicv2Model(ncpus=4)
    board.node.mmio.map(GICD_BASE, 0x10000, model.dist)
    board.node.mmio.map(GICC_BASE, 0x10000, model.cpu)
    board.load_dtb(virt_dtb(gic=2))
    devices_probe_gic()
    gic_init_dist()
    gic_init_cpu()
    return model


def test_timer_irq_is_counted_per_cpu_disabled_and_ended(board: Board, uart: Pl011Model) -> None:
    model = gicv2(board)
    gic_enable_ppi(TIMER_HYP_PPI, u8(0xA0))
    timer_arm_ticks(u64(1000))
    assert board.node.cpus[0].sysregs["cnthp_ctl_el2"] == CNTHP_CTL_ENABLE
    model.raise_irq(0, 26)
    arch_trap_irq(TrapFrame())
    assert timer_irq_count() == 1
    assert board.node.cpus[0].sysregs["cnthp_ctl_el2"] == 0
    assert model.st.eois == [(0, 26)]
    with board.machine.on_cpu(board.node, 1):
        assert timer_irq_count() == 0


def test_spurious_interrupts_are_ignored_without_eoi(board: Board, uart: Pl011Model) -> None:
    model = gicv2(board)
    arch_trap_irq(TrapFrame())
    assert model.st.eois == [] and timer_irq_count() == 0


def test_an_irq_without_handler_is_warned_about_and_ended(board: Board, uart: Pl011Model) -> None:
    model = gicv2(board)
    gic_enable_ppi(u32(27), u8(0xA0))
    model.raise_irq(0, 27)
    arch_trap_irq(TrapFrame())
    assert model.st.eois == [(0, 27)]
    assert "warning: irq 27 has no handler" in uart.text()

