"""Adapter over the prelude's intrinsic table (pyhv/lang/intrinsics.py, the single source of truth):
signatures for the checker, `static inline` definitions for pyhv_intrinsics.h (target and HOST mode), and
the keystone check lines. Adds the sysreg alias table for names keystone (LLVM 3.9) spells differently or
lacks; the alias goes into the emitted assembly too, so what keystone checked is what gas assembles."""
from __future__ import annotations

from pyhv.lang.intrinsics import (
    C_TYPES, INTRINSIC_BY_NAME, Intrinsic, asm_check_lines, c_function, c_function_name, check_literals,
)

SYSREG_ALIASES: dict[str, str] = {
    "ich_elrsr_el2": "s3_4_c12_c11_5",
    "ttbr1_el2": "s3_4_c2_c0_1",
    "contextidr_el2": "s3_4_c13_c0_1",
    "cnthv_ctl_el2": "s3_4_c14_c3_1",
    "cnthv_cval_el2": "s3_4_c14_c3_2",
    "cnthv_tval_el2": "s3_4_c14_c3_0",
    "vsesr_el2": "s3_4_c5_c2_3",
    "hcrx_el2": "s3_4_c1_c2_2",
}


def lookup(name: str) -> Intrinsic | None:
    return INTRINSIC_BY_NAME.get(name)


def literal_params(row: Intrinsic) -> list[str]:
    return [p.name for p in row.params if p.literal]


def value_params(row: Intrinsic) -> list[tuple[str, str]]:
    return [(p.name, p.type) for p in row.params if not p.literal]


def effective_literals(row: Intrinsic, lits: dict[str, str]) -> dict[str, str]:
    if row.name.startswith("sysreg"):
        return {k: SYSREG_ALIASES.get(v, v) for k, v in lits.items()}
    return dict(lits)


def validate_literals(row: Intrinsic, lits: dict[str, str]) -> str | None:
    """None if the literals match the table's patterns, else the reason."""
    try:
        check_literals(row, effective_literals(row, lits))
    except ValueError as e:
        return str(e)
    return None


def helper_name(row: Intrinsic, lits: dict[str, str]) -> str:
    return c_function_name(row, effective_literals(row, lits))


def definition(row: Intrinsic, lits: dict[str, str], host: bool) -> str:
    """The static inline function; HOST mode drops inline assembly (harmless no-op / returns 0)."""
    eff = effective_literals(row, lits)
    if not host or "PYHV_ASM" not in row.c_body and "__asm__" not in row.c_body:
        return c_function(row, eff)
    params = ", ".join(f"{C_TYPES[t]} {n}" for n, t in value_params(row)) or "void"
    uses = " ".join(f"(void){n};" for n, _ in value_params(row))
    ret = C_TYPES[row.ret] if row.ret is not None else "void"
    body = uses + (" return 0;" if row.ret is not None else "")
    return f"static inline {ret} {c_function_name(row, eff)}({params}) {{ {body} }}"


def check_lines(row: Intrinsic, lits: dict[str, str]) -> list[str]:
    return asm_check_lines(row, effective_literals(row, lits))


__all__ = ["Intrinsic", "C_TYPES", "lookup", "literal_params", "value_params", "validate_literals",
           "helper_name", "definition", "check_lines", "SYSREG_ALIASES"]
