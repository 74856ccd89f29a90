"""THE table of intrinsics (docs/dialect.md §8): signature, C body, keystone check lines, CPython mock.

The compiler reads `INTRINSICS`; each row says how to emit one `static inline` C function:

* `params`: name, dialect type name ("u64", "u8", "str", ...) and `literal=True` when the argument must be a
  compile-time string literal (a sysreg name, a barrier option, a TLBI/DC/IC operation, a symbol). A literal
  must fully match `pattern`; it is substituted into `c_body` and `asm_check` at `{param}` (str.format
  syntax; the bodies contain no other braces). One C function is emitted per distinct literal tuple, named by
  `c_function_name`. Non-literal params are C parameters with the same name and type `C_TYPES[type]`.
* `c_body`: statements of the function body. Inline assembly is written `PYHV_ASM(...)`, which the compiler
  defines as `__asm__ volatile(...)` (see `PYHV_ASM_DEFINE`), clobbers included.
* `asm_check`: the assembly lines of the body's templates; `asm_check_lines` fills the literals and maps
  operands to concrete registers (`%N` -> xN, `%wN` -> wN) so the build can assemble them with keystone.
* `lowering`: "inline" (emit `c_body`), "panic" and "kprint" (the compiler lowers these itself: panic with
  file:line; kprint into printk_* calls via `pyhv.lang.printfmt.parse_format`).
* `mock`: the CPython implementation (`pyhv.lang.hw`), which is also what dialect code imports.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from pyhv.lang import hw

PYHV_ASM_DEFINE: Final = "#define PYHV_ASM(...) __asm__ volatile(__VA_ARGS__)"

C_TYPES: Final[Mapping[str, str]] = {
    "u8": "uint8_t", "u16": "uint16_t", "u32": "uint32_t", "u64": "uint64_t",
    "i8": "int8_t", "i16": "int16_t", "i32": "int32_t", "i64": "int64_t",
    "bool": "_Bool", "str": "const uint8_t *",
}

SYSREG: Final = r"[a-z][a-z0-9_]*"
BARRIER: Final = r"sy|st|ld|ish|ishst|ishld|nsh|nshst|nshld|osh|oshst|oshld"
MAINT_OP: Final = r"[a-z][a-z0-9]*"
SYMBOL: Final = r"[A-Za-z_][A-Za-z0-9_]*"


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    literal: bool = False
    pattern: str = ""   # literal params: regex a literal must fully match
    example: str = ""   # literal params: a valid value (tests, docs)


@dataclass(frozen=True)
class Intrinsic:
    name: str
    params: tuple[Param, ...]
    ret: str | None
    c_body: str
    asm_check: tuple[str, ...]
    mock: Callable[..., object]
    lowering: str = "inline"
    variadic: bool = False  # kprint: extra arguments after the params


def _p(name: str, type_: str) -> Param:
    return Param(name, type_)


def _lit(name: str, pattern: str, example: str) -> Param:
    return Param(name, "str", True, pattern, example)


_ADDR = _p("addr", "u64")


def _mmio_read(bits: int, insn: str, reg: str) -> Intrinsic:
    ctype = C_TYPES[f"u{bits}"]
    tmp = "uint64_t" if bits == 64 else "uint32_t"
    return Intrinsic(
        f"mmio_read{bits}", (_ADDR,), f"u{bits}",
        f'{tmp} v; PYHV_ASM("{insn} {reg}0, [%1]" : "=r"(v) : "r"(addr) : "memory"); return ({ctype})v;',
        (f"{insn} {reg}0, [%1]",), getattr(hw, f"mmio_read{bits}"))


def _mmio_write(bits: int, insn: str, reg: str) -> Intrinsic:
    return Intrinsic(
        f"mmio_write{bits}", (_ADDR, _p("v", f"u{bits}")), None,
        f'PYHV_ASM("{insn} {reg}0, [%1]" :: "r"(v), "r"(addr) : "memory");',
        (f"{insn} {reg}0, [%1]",), getattr(hw, f"mmio_write{bits}"))


def _aligned(name: str, bits: int) -> str:
    """A misaligned normal-memory access panics, as the mock does (a misaligned pointer is undefined in C)."""
    if bits == 8:
        return ""
    return (f'if ((addr & {bits // 8 - 1}u) != 0) panic_at((const uint8_t *)"{name}", 0, '
            f'(const uint8_t *)"misaligned {bits // 8}-byte access"); ')


def _mem_read(bits: int) -> Intrinsic:
    return Intrinsic(f"mem_read{bits}", (_ADDR,), f"u{bits}",
                     _aligned(f"mem_read{bits}", bits)
                     + f"return *(volatile {C_TYPES[f'u{bits}']} *)(uintptr_t)addr;", (),
                     getattr(hw, f"mem_read{bits}"))


def _mem_write(bits: int) -> Intrinsic:
    return Intrinsic(f"mem_write{bits}", (_ADDR, _p("v", f"u{bits}")), None,
                     _aligned(f"mem_write{bits}", bits)
                     + f"*(volatile {C_TYPES[f'u{bits}']} *)(uintptr_t)addr = v;", (),
                     getattr(hw, f"mem_write{bits}"))


def _simple(name: str, insn: str, mock: Callable[..., object]) -> Intrinsic:
    return Intrinsic(name, (), None, f'PYHV_ASM("{insn}" ::: "memory");', (insn,), mock)


_FIRMWARE_BODY = (
    'register uint64_t x0 __asm__("x0") = fid; register uint64_t x1 __asm__("x1") = a1; '
    'register uint64_t x2 __asm__("x2") = a2; register uint64_t x3 __asm__("x3") = a3; '
    'PYHV_ASM("INSN #0" : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3) : : "x4", "x5", "x6", "x7", "x8", "x9", '
    '"x10", "x11", "x12", "x13", "x14", "x15", "x16", "x17", "memory"); return x0;'
)
_FIRMWARE_PARAMS = (_p("fid", "u64"), _p("a1", "u64"), _p("a2", "u64"), _p("a3", "u64"))

INTRINSICS: Final[tuple[Intrinsic, ...]] = (
    Intrinsic("sysreg_read", (_lit("name", SYSREG, "hcr_el2"),), "u64",
              'uint64_t v; PYHV_ASM("mrs %0, {name}" : "=r"(v) : : "memory"); return v;',
              ("mrs %0, {name}",), hw.sysreg_read),
    Intrinsic("sysreg_write", (_lit("name", SYSREG, "hcr_el2"), _p("v", "u64")), None,
              'PYHV_ASM("msr {name}, %0" :: "r"(v) : "memory");',
              ("msr {name}, %0",), hw.sysreg_write),
    _mmio_read(8, "ldrb", "%w"), _mmio_read(16, "ldrh", "%w"), _mmio_read(32, "ldr", "%w"),
    _mmio_read(64, "ldr", "%"),
    _mmio_write(8, "strb", "%w"), _mmio_write(16, "strh", "%w"), _mmio_write(32, "str", "%w"),
    _mmio_write(64, "str", "%"),
    _mem_read(8), _mem_read(16), _mem_read(32), _mem_read(64),
    _mem_write(8), _mem_write(16), _mem_write(32), _mem_write(64),
    Intrinsic("dsb", (_lit("option", BARRIER, "sy"),), None, 'PYHV_ASM("dsb {option}" ::: "memory");',
              ("dsb {option}",), hw.dsb),
    Intrinsic("dmb", (_lit("option", BARRIER, "ish"),), None, 'PYHV_ASM("dmb {option}" ::: "memory");',
              ("dmb {option}",), hw.dmb),
    _simple("isb", "isb", hw.isb),
    Intrinsic("tlbi", (_lit("op", MAINT_OP, "alle2"),), None, 'PYHV_ASM("tlbi {op}" ::: "memory");',
              ("tlbi {op}",), hw.tlbi),
    Intrinsic("tlbi_addr", (_lit("op", MAINT_OP, "vae2is"), _p("va", "u64")), None,
              'PYHV_ASM("tlbi {op}, %0" :: "r"(va >> 12) : "memory");', ("tlbi {op}, %0",), hw.tlbi_addr),
    Intrinsic("dc_op", (_lit("op", MAINT_OP, "civac"), _ADDR), None,
              'PYHV_ASM("dc {op}, %0" :: "r"(addr) : "memory");', ("dc {op}, %0",), hw.dc_op),
    Intrinsic("ic_op", (_lit("op", MAINT_OP, "iallu"),), None, 'PYHV_ASM("ic {op}" ::: "memory");',
              ("ic {op}",), hw.ic_op),
    _simple("wfi", "wfi", hw.wfi),
    _simple("wfe", "wfe", hw.wfe),
    _simple("sev", "sev", hw.sev),
    _simple("cpu_relax", "yield", hw.cpu_relax),
    _simple("wait_event", "wfe", hw.wait_event),
    # WFI wakes on a pending IRQ even while masked; unmasking afterwards takes it, so no wake-up is lost.
    Intrinsic("irq_wait", (), None,
              r'PYHV_ASM("wfi\n\tmsr daifclr, #2\n\tisb\n\tmsr daifset, #2" ::: "memory");',
              ("wfi", "msr daifclr, #2", "isb", "msr daifset, #2"), hw.irq_wait),
    Intrinsic("smc_call", _FIRMWARE_PARAMS, "u64", _FIRMWARE_BODY.replace("INSN", "smc"), ("smc #0",),
              hw.smc_call),
    Intrinsic("hvc_call", _FIRMWARE_PARAMS, "u64", _FIRMWARE_BODY.replace("INSN", "hvc"), ("hvc #0",),
              hw.hvc_call),
    Intrinsic("symbol_addr", (_lit("name", SYMBOL, "pyhv_vectors"),), "u64",
              "extern char {name}[]; return (uint64_t)(uintptr_t){name};", (), hw.symbol_addr),
    Intrinsic("str_byte", (_p("s", "str"), _p("i", "u64")), "u8",
              "uint64_t n = 0; while (n < i && s[n] != 0) n++; return (uint8_t)s[n];", (), hw.str_byte),
    Intrinsic("panic", (_p("msg", "str"),), None, "", (), hw.panic, lowering="panic"),
    Intrinsic("kprint", (_lit("fmt", r"(?s).*", "x=%u\\n"),), None, "", (), hw.kprint,
              lowering="kprint", variadic=True),
)

INTRINSIC_BY_NAME: Final[Mapping[str, Intrinsic]] = {row.name: row for row in INTRINSICS}


def check_literals(row: Intrinsic, literals: Mapping[str, str]) -> None:
    """Raise ValueError unless `literals` gives a valid value for exactly the row's literal params."""
    wanted = {p.name: p for p in row.params if p.literal}
    if set(literals) != set(wanted):
        raise ValueError(f"{row.name}: literal params are {sorted(wanted)}, got {sorted(literals)}")
    for name, value in literals.items():
        if not re.fullmatch(wanted[name].pattern, value):
            raise ValueError(f"{row.name}: {value!r} is not a valid {name}")


def c_function_name(row: Intrinsic, literals: Mapping[str, str]) -> str:
    """`pyhv_sysreg_read__hcr_el2`: one C function per intrinsic and literal tuple."""
    check_literals(row, literals)
    suffix = "".join(f"__{literals[p.name]}" for p in row.params if p.literal)
    return f"pyhv_{row.name}{suffix}"


def c_function(row: Intrinsic, literals: Mapping[str, str]) -> str:
    """The full `static inline` definition of an "inline" row for the given literals."""
    if row.lowering != "inline":
        raise ValueError(f"{row.name} is lowered by the compiler, not emitted from the table")
    params = ", ".join(f"{C_TYPES[p.type]} {p.name}" for p in row.params if not p.literal) or "void"
    ret = C_TYPES[row.ret] if row.ret is not None else "void"
    body = row.c_body.format(**literals)
    return f"static inline {ret} {c_function_name(row, literals)}({params}) {{ {body} }}"


def asm_check_lines(row: Intrinsic, literals: Mapping[str, str]) -> list[str]:
    """The row's assembly with literals filled in and operands as registers (%N -> xN, %wN -> wN)."""
    check_literals(row, literals)
    out = []
    for line in row.asm_check:
        line = line.format(**literals)
        line = re.sub(r"%w(\d+)", r"w\1", line)
        line = re.sub(r"%x?(\d+)", r"x\1", line)
        out.append(line)
    return out
