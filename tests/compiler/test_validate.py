"""validate.py: pycparser invariants on generated C and keystone checks of emitted assembly."""
from __future__ import annotations

from pathlib import Path

import pytest

from compiler.api import AsmTemplate
from compiler.ast import Pos
from compiler.diagnostics import DialectError
from compiler.runtime_h import GNU_H, rt_h
from compiler.validate import ValidationError, assemble, check_asm, check_c_file


def _gen_dir(tmp: Path, body: str) -> Path:
    (tmp / "pyhv_gnu.h").write_text(GNU_H)
    (tmp / "pyhv_rt.h").write_text(rt_h())
    c = tmp / "t.c"
    c.write_text('#include "pyhv_rt.h"\n' + body)
    return c


def test_libc_call_is_rejected(tmp_path: Path) -> None:
    c = _gen_dir(tmp_path, "void *memcpy(void *d, const void *s, u64 n);\n"
                           "void f(u8 *a, u8 *b) { memcpy(a, b, 4); }\n")
    with pytest.raises(ValidationError, match="libc function 'memcpy'"):
        check_c_file(c, tmp_path)


def test_volatile_deref_outside_intrinsics_is_rejected(tmp_path: Path) -> None:
    c = _gen_dir(tmp_path, "u32 f(u64 a) { return *(volatile u32 *)(uintptr_t)a; }\n")
    with pytest.raises(ValidationError, match="volatile"):
        check_c_file(c, tmp_path)


def test_plain_generated_code_passes(tmp_path: Path) -> None:
    c = _gen_dir(tmp_path, "u32 f(u32 a, u32 b) { return pyhv_add_u32(a, b); }\n")
    check_c_file(c, tmp_path)


def test_keystone_accepts_el2_registers_and_aliases() -> None:
    assert assemble("mrs x0, hcr_el2") is None
    assert assemble("mrs x0, s3_4_c12_c11_5") is None  # ICH_ELRSR_EL2 through its encoding
    assert assemble("mrs x0, hcr_el3x") is not None


def test_bad_sysreg_is_a_dialect_error_at_the_call_site() -> None:
    t = AsmTemplate("mrs x0, hcr_el3x", Pos("m.py", 7, 12), "sysreg_read", (("name", "hcr_el3x"),))
    with pytest.raises(DialectError) as ei:
        check_asm([t])
    assert str(ei.value) == "m.py:7:12: error: invalid system register 'hcr_el3x'"
