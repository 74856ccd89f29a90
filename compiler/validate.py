"""Stage 5: validation of what the compiler emitted.

1. pycparser: every generated .c is preprocessed (`gcc -E -nostdinc -DPYHV_PYCPARSER`, so every GNU
   extension is blanked by pyhv_gnu.h) and parsed; the AST must not call libc and must not dereference
   volatile pointers outside pyhv_intrinsics.h (MMIO only through intrinsics). A failure is a compiler bug.
2. keystone: every inline-assembly line the compiler emitted for an intrinsic call (literal operands filled
   in, %0/%w0 operands as registers) is assembled; a failure is a DialectError at the Python call site,
   e.g. `sysreg_read("hcr_el3x")` -> error: invalid system register 'hcr_el3x'."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from pycparser import c_ast, c_parser  # type: ignore[import-untyped]

from compiler.deep import run_deep
from compiler.diagnostics import DialectError
from compiler.runtime_h import ATOMIC_ASM_CHECK

if TYPE_CHECKING:
    from compiler.api import AsmTemplate, CompileResult

LIBC_NAMES = {
    "malloc", "calloc", "realloc", "free", "printf", "sprintf", "snprintf", "fprintf", "puts", "putchar",
    "memcpy", "memset", "memmove", "memcmp", "strlen", "strcpy", "strncpy", "strcmp", "strncmp", "strcat",
    "abort", "exit", "atoi", "qsort", "fopen", "fwrite", "fread",
}


class ValidationError(Exception):
    """The generated C breaks an invariant: a bug in compiler/, not in the dialect source."""


def preprocess(c_file: Path, gen_dir: Path) -> str:
    cpp = shutil.which("gcc") or shutil.which("cpp") or "gcc"
    r = subprocess.run([cpp, "-E", "-nostdinc", "-DPYHV_PYCPARSER", f"-I{gen_dir}", str(c_file)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise ValidationError(f"preprocessing {c_file.name} failed:\n{r.stderr}")
    return r.stdout


def _walk(node: object, in_intrinsics: bool, problems: list[str]) -> None:
    """No libc calls anywhere; no volatile pointer casts outside pyhv_intrinsics.h."""
    if isinstance(node, c_ast.FuncDef) and "pyhv_intrinsics.h" in str(node.coord or ""):
        in_intrinsics = True
    if isinstance(node, c_ast.FuncCall) and isinstance(node.name, c_ast.ID) and node.name.name in LIBC_NAMES:
        problems.append(f"{node.coord}: call to libc function '{node.name.name}'")
    if isinstance(node, c_ast.Cast) and not in_intrinsics:
        t = node.to_type.type
        if isinstance(t, c_ast.PtrDecl) and "volatile" in getattr(t.type, "quals", []):
            problems.append(f"{node.coord}: volatile pointer cast outside pyhv_intrinsics.h")
    children = getattr(node, "children", None)
    if children is not None:
        for _name, child in children():
            _walk(child, in_intrinsics, problems)


def check_c_file(c_file: Path, gen_dir: Path) -> object:
    """pycparser and the walk recurse once per level of C nesting: room for the dialect's deepest."""
    return run_deep(lambda: _check_c_file(c_file, gen_dir))


def _check_c_file(c_file: Path, gen_dir: Path) -> object:
    text = preprocess(c_file, gen_dir)
    try:
        ast = c_parser.CParser().parse(text, str(c_file))
    except Exception as e:  # pycparser raises ParseError (and a few others) for malformed input
        raise ValidationError(f"pycparser cannot parse {c_file.name}: {e}") from e
    problems: list[str] = []
    _walk(ast, False, problems)
    if problems:
        raise ValidationError("\n".join(problems))
    return ast


_ENGINE: list[object] = []
_RESULTS: dict[str, str | None] = {}


def assemble(line: str) -> str | None:
    """None if keystone assembles the line, else its error text (results cached; the engine is rebuilt
    after a failure, since a failed call can leave keystone in a bad state)."""
    from keystone import KS_ARCH_ARM64, KS_MODE_LITTLE_ENDIAN, Ks, KsError  # type: ignore[import-untyped]
    if line in _RESULTS:
        return _RESULTS[line]
    if not _ENGINE:
        _ENGINE.append(Ks(KS_ARCH_ARM64, KS_MODE_LITTLE_ENDIAN))
    ks = _ENGINE[0]
    result: str | None = None
    try:
        ks.asm(line)  # type: ignore[attr-defined]
    except KsError as e:
        result = str(e)
        _ENGINE.clear()
    _RESULTS[line] = result
    return result


def check_asm(templates: list[AsmTemplate]) -> None:
    for t in templates:
        err = assemble(t.text)
        if err is None:
            continue
        lits = dict(t.literals)
        if t.intrinsic.startswith("sysreg") and "name" in lits:
            raise DialectError(t.pos, f"invalid system register '{lits['name']}'")
        shown = ", ".join(f"'{v}'" for v in lits.values())
        raise DialectError(t.pos, f"invalid operand {shown} for {t.intrinsic}(): the assembler rejects "
                                  f"'{t.text}' ({err})")
    for line in ATOMIC_ASM_CHECK:
        if assemble(line) is not None:
            raise ValidationError(f"runtime assembly '{line}' does not assemble")


def validate(res: CompileResult, gen_dir: Path) -> None:
    check_asm(res.asm_templates)
    for c in res.c_files:
        check_c_file(c, gen_dir)
