"""The intrinsic table: every row compiles for AArch64, its asm assembles, its mock behaves as documented."""

from __future__ import annotations

import inspect
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

from pyhv.lang import (
    Panic, asm_function, dc_op, dsb, hvc_call, i8, i64, isb, kprint, panic, smc_call, str_byte, symbol_addr,
    tlbi_addr, u8, u16, u32, u64, wait_event,
)
from pyhv.lang.intrinsics import (
    INTRINSIC_BY_NAME, INTRINSICS, PYHV_ASM_DEFINE, Intrinsic, asm_check_lines, c_function,
    c_function_name, check_literals,
)
from pyhv.lang.machine import Machine, MockCpu
from pyhv.lang.printfmt import FormatPiece, parse_format


def examples(row: Intrinsic) -> dict[str, str]:
    return {p.name: p.example for p in row.params if p.literal}


def test_every_row_names_a_mock_with_the_same_parameters() -> None:
    for row in INTRINSICS:
        sig = inspect.signature(row.mock)
        names = [p.name for p in sig.parameters.values() if p.kind is not p.VAR_POSITIONAL]
        assert names == [p.name for p in row.params], row.name
        assert row.mock.__name__ == row.name
    assert set(INTRINSIC_BY_NAME) >= {"sysreg_read", "mmio_write64", "mem_read8", "tlbi_addr", "irq_wait",
                                      "smc_call", "symbol_addr", "str_byte", "panic", "kprint"}


@pytest.mark.skipif(shutil.which("aarch64-linux-gnu-gcc") is None, reason="no AArch64 gcc")
def test_all_inline_rows_compile_for_aarch64(tmp_path: Path) -> None:
    lines = ["#include <stdint.h>", PYHV_ASM_DEFINE,
             "void panic_at(const uint8_t *file, uint32_t line, const uint8_t *msg);"]  # pyhv_rt.h's
    lines += [c_function(row, examples(row)) for row in INTRINSICS if row.lowering == "inline"]
    lines.append("extern char pyhv_vectors[];")
    src = tmp_path / "intrinsics.c"
    src.write_text("\n".join(lines) + "\n")
    r = subprocess.run(["aarch64-linux-gnu-gcc", "-std=c11", "-ffreestanding", "-O2", "-Wall", "-Wextra",
                        "-Werror", "-c", str(src), "-o", str(tmp_path / "o.o")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_asm_check_lines_assemble_with_keystone() -> None:
    keystone = pytest.importorskip("keystone")
    ks = keystone.Ks(keystone.KS_ARCH_ARM64, keystone.KS_MODE_LITTLE_ENDIAN)
    for row in INTRINSICS:
        for line in asm_check_lines(row, examples(row)):
            encoding, _ = ks.asm(line)
            assert encoding and len(encoding) == 4, (row.name, line)


def test_asm_check_maps_operands_to_registers() -> None:
    assert asm_check_lines(INTRINSIC_BY_NAME["mmio_write32"], {}) == ["str w0, [x1]"]
    assert asm_check_lines(INTRINSIC_BY_NAME["sysreg_read"], {"name": "vbar_el2"}) == ["mrs x0, vbar_el2"]


def test_literals_are_validated_and_name_the_c_function() -> None:
    row = INTRINSIC_BY_NAME["sysreg_write"]
    assert c_function_name(row, {"name": "hcr_el2"}) == "pyhv_sysreg_write__hcr_el2"
    with pytest.raises(ValueError):
        check_literals(row, {"name": "hcr_el2\"); evil("})
    with pytest.raises(ValueError):
        check_literals(INTRINSIC_BY_NAME["dsb"], {"option": "everything"})
    assert 'PYHV_ASM("dsb ish"' in c_function(INTRINSIC_BY_NAME["dsb"], {"option": "ish"})


def test_maintenance_and_waits_are_traced_in_order() -> None:
    m = Machine()
    node = m.add_node()
    seen: list[str] = []
    m.wait_hook = lambda cpu, kind: seen.append(kind)
    node.cpus[0].trace = []
    with m.on_cpu(node, 0):
        dc_op("civac", u64(0x1000))
        dsb("ish")
        tlbi_addr("vae2is", u64(0x4000_0000))
        isb()
        wait_event()
    assert node.cpus[0].trace == [("dc", "civac", 0x1000), ("dsb", "ish", 0), ("tlbi", "vae2is", 0x4000_0000),
                                  ("isb", "", 0), ("wait_event", "", 0)]
    assert seen == ["wait_event"]


def test_firmware_calls_go_to_the_node_handlers() -> None:
    m = Machine()
    node = m.add_node()
    node.smc_handler = lambda fid, a1, a2, a3: fid + a1 + a2 + a3
    with m.on_cpu(node, 0):
        assert smc_call(u64(0x8400_0000), u64(1), u64(2), u64(3)) == 0x8400_0006
        with pytest.raises(Panic):
            hvc_call(u64(0), u64(0), u64(0), u64(0))


def test_symbols_strings_and_panic() -> None:
    m = Machine()
    node = m.add_node()
    node.symbols["pyhv_vectors"] = 0x4008_0800
    with m.on_cpu(node, 0):
        assert symbol_addr("pyhv_vectors") == u64(0x4008_0800)
        with pytest.raises(Panic):
            symbol_addr("missing")
    assert str_byte("ab", u64(1)) == u8(0x62) and str_byte("ab", u64(2)) == 0 and str_byte("ab", u64(99)) == 0
    with pytest.raises(Panic, match="boom"):
        panic("boom")


def test_asm_function_calls_the_node_mock() -> None:
    @asm_function
    def pyhv_trap_selftest() -> u64:
        raise NotImplementedError

    m = Machine()
    node = m.add_node()
    with m.on_cpu(node, 0):
        with pytest.raises(Panic):
            pyhv_trap_selftest()
        node.asm_mocks["pyhv_trap_selftest"] = lambda: u64(0)
        assert pyhv_trap_selftest() == 0


def test_parse_format_pieces() -> None:
    assert parse_format("cpus=%u ram=%016x %d%%%s%c\n") == [
        FormatPiece("text", "cpus="), FormatPiece("u"), FormatPiece("text", " ram="), FormatPiece("x", "", 16),
        FormatPiece("text", " "), FormatPiece("d"), FormatPiece("text", "%"), FormatPiece("s"),
        FormatPiece("c"), FormatPiece("text", "\n")]
    for bad in ("%f", "%lu", "%5x", "%0x", "%", "%017x"):
        with pytest.raises(ValueError):
            parse_format(bad)


@pytest.fixture
def printk(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[object, ...]]]:
    """A stand-in pyhv.core.printk that records the printer calls."""
    calls: list[tuple[str, tuple[object, ...]]] = []
    mod = types.ModuleType("pyhv.core.printk")
    for name in ("printk_begin", "printk_end", "printk_str", "printk_udec", "printk_sdec", "printk_hex",
                 "printk_char"):
        setattr(mod, name, lambda *a, _n=name: calls.append((_n, a)))
    monkeypatch.setitem(sys.modules, "pyhv.core.printk", mod)
    return calls


def test_kprint_lowers_to_printer_calls(printk: list[tuple[str, tuple[object, ...]]]) -> None:
    kprint("n=%u d=%d x=%08x %s%c\n", u16(7), i8(-3), u64(255), "ok", u8(33))
    assert printk == [
        ("printk_begin", ()), ("printk_str", ("n=",)), ("printk_udec", (u64(7),)), ("printk_str", (" d=",)),
        ("printk_sdec", (i64(-3),)), ("printk_str", (" x=",)), ("printk_hex", (u64(255), u32(8))),
        ("printk_str", (" ",)), ("printk_str", ("ok",)), ("printk_char", (u8(33),)),
        ("printk_str", ("\n",)), ("printk_end", ())]


def test_kprint_checks_argument_count(printk: list[tuple[str, tuple[object, ...]]]) -> None:
    with pytest.raises(TypeError):
        kprint("%u %u", u64(1))
    assert printk == []


def test_kprint_hex_prints_the_argument_width(printk: list[tuple[str, tuple[object, ...]]]) -> None:
    # The C casts a signed %x argument to the unsigned type of its own width: i8(-1) prints ff.
    kprint("%x %x", i8(-1), i64(-2))
    hexes = [a for n, a in printk if n == "printk_hex"]
    assert hexes == [(u64(0xFF), u32(0)), (u64(0xFFFF_FFFF_FFFF_FFFE), u32(0))]
