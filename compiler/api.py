"""The compiler's entry points: compile_modules() for the build, and the CLI `python -m compiler check|emit`.
A dialect mistake is a DialectError (printed, exit 1); anything else is an internal compiler error (exit 3)."""
from __future__ import annotations

import argparse
import sys
import tempfile
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from compiler import ast as A
from compiler.diagnostics import DialectError
from compiler.emit_c import emit_module, header_name, source_name
from compiler.emit_support import asm_offsets_h, intrinsics_h, percpu_c, percpu_h
from compiler.intrinsics_c import Intrinsic, check_lines
from compiler.loader import load_modules
from compiler.runtime_h import GNU_H, rt_h
from compiler.sema import Program
from compiler.sema_check import analyze


@dataclass(frozen=True)
class AsmTemplate:
    """One assembly line the generated C contains, with the dialect call site that caused it."""

    text: str  # concrete registers, ready for keystone
    pos: A.Pos
    intrinsic: str
    literals: tuple[tuple[str, str], ...]


@dataclass
class CompileResult:
    c_files: list[Path] = field(default_factory=list)
    h_files: list[Path] = field(default_factory=list)
    call_graph: dict[str, list[str]] = field(default_factory=dict)  # direct calls only
    indirect_calls: dict[str, list[str]] = field(default_factory=dict)  # possible ops-field call targets
    asm_templates: list[AsmTemplate] = field(default_factory=list)
    program: Program | None = None

    @property
    def files(self) -> list[Path]:
        return self.c_files + self.h_files


def check_modules(root: Path, entries: list[str]) -> Program:
    return analyze(load_modules(root, entries))


def compile_modules(root: Path, entries: list[str], out_dir: Path, *, max_cpus: int,
                    host: bool = False, validate_c: bool = False) -> CompileResult:
    """Parse, check and emit every dialect module reachable from `entries` into out_dir. The emitted
    assembly is always checked with keystone (a bad sysreg name is a DialectError at its call site);
    validate_c also re-parses every generated .c with pycparser (validate.py)."""
    prog = check_modules(root, entries)
    out_dir.mkdir(parents=True, exist_ok=True)
    res = CompileResult(program=prog, call_graph=prog.call_graph(), indirect_calls=prog.indirect_graph())
    used: dict[str, tuple[Intrinsic, dict[str, str], A.Pos]] = {}

    def write(name: str, text: str) -> None:
        p = out_dir / name
        if not p.exists() or p.read_text() != text:
            p.write_text(text)
        (res.c_files if name.endswith(".c") else res.h_files).append(p)

    for mod in prog.modules:
        mo = emit_module(prog, mod)
        write(header_name(mod), mo.header)
        write(source_name(mod), mo.source)
        for k, v in mo.intrinsics.items():
            used.setdefault(k, v)
    for name, (row, lits, pos) in sorted(used.items()):
        for line in check_lines(row, lits):
            res.asm_templates.append(AsmTemplate(line, pos, row.name, tuple(sorted(lits.items()))))
    write("pyhv_gnu.h", GNU_H)
    write("pyhv_rt.h", rt_h())
    write("pyhv_intrinsics.h", intrinsics_h(used, host))
    write("pyhv_percpu.h", percpu_h(prog, max_cpus, host))
    write("pyhv_percpu.c", percpu_c(host))
    write("asm_offsets.h", asm_offsets_h(prog))
    from compiler.validate import check_asm, validate
    if validate_c:
        validate(res, out_dir)
    else:
        check_asm(res.asm_templates)
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m compiler", description="pyhv dialect -> C compiler")
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("check", "emit"):
        p = sub.add_parser(name, help="type-check (and keystone-check intrinsics)" if name == "check"
                           else "write C into --out, re-parse it with pycparser")
        p.add_argument("entries", nargs="+", help="entry modules, e.g. pyhv.core.main")
        p.add_argument("--root", type=Path, default=Path.cwd())
        if name == "emit":
            p.add_argument("--out", type=Path, required=True)
            p.add_argument("--max-cpus", type=int, default=4)
            p.add_argument("--host", action="store_true")
            p.add_argument("--no-validate", action="store_true",
                           help="skip the pycparser re-parse of the generated C (keystone checks always run)")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "check":
            with tempfile.TemporaryDirectory(prefix="pyhv-check-") as tmp:
                compile_modules(args.root.resolve(), args.entries, Path(tmp), max_cpus=1)
            print(f"ok: {', '.join(args.entries)}")
        else:
            res = compile_modules(args.root.resolve(), args.entries, args.out, max_cpus=args.max_cpus,
                                  host=args.host, validate_c=not args.no_validate)
            print(f"ok: {len(res.c_files)} C files in {args.out}")
        return 0
    except DialectError as e:
        print(e.render(), file=sys.stderr)
        return 1
    except Exception:
        print("internal compiler error (this is a bug in compiler/):", file=sys.stderr)
        traceback.print_exc()
        return 3


if __name__ == "__main__":
    sys.exit(main())
