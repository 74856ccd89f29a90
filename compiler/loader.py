"""Stage 0: find and parse every dialect module reachable from the entry modules.

The prelude (`pyhv.lang...`), `typing` and `__future__` are not parsed: the checker knows their names.
Modules come back in dependency order (imports first); import cycles are tolerated (C headers break them).
"""
from __future__ import annotations

from pathlib import Path

from compiler import ast as A
from compiler.diagnostics import DialectError
from compiler.parse import parse_module, read_source

PRELUDE_PREFIXES = ("pyhv.lang", "typing", "__future__", "collections.abc")


def is_prelude(module: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in PRELUDE_PREFIXES)


def module_path(root: Path, module: str) -> Path | None:
    base = root.joinpath(*module.split("."))
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def _deps(root: Path, mod: A.Module) -> list[tuple[str, A.Pos]]:
    out: list[tuple[str, A.Pos]] = []
    for st in mod.body:
        if isinstance(st, A.Import):
            if not is_prelude(st.module):
                out.append((st.module, st.pos))
        elif isinstance(st, A.ImportFrom):
            if is_prelude(st.module):
                continue
            for name, _alias, pos in st.names:
                sub = f"{st.module}.{name}"
                if module_path(root, sub) is not None and not (root.joinpath(*st.module.split("."))
                                                               .with_suffix(".py").is_file()):
                    out.append((sub, pos))
                else:
                    out.append((st.module, st.pos))
    return out


def load_modules(root: Path, entries: list[str]) -> list[A.Module]:
    """Parse the entry modules and everything they import, dependencies first."""
    loaded: dict[str, A.Module] = {}
    order: list[A.Module] = []
    visiting: set[str] = set()

    def visit(name: str, pos: A.Pos | None) -> None:
        if name in loaded or name in visiting:
            return
        path = module_path(root, name)
        if path is None:
            where = pos or A.Pos("<command line>", 1, 1)
            raise DialectError(where, f"no dialect module '{name}' under {root}")
        visiting.add(name)
        rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
        mod = parse_module(read_source(path.read_bytes(), rel), rel, name)
        for dep, dpos in _deps(root, mod):
            if not path.name == "__init__.py" or dep != name:
                visit(dep, dpos)
        visiting.discard(name)
        loaded[name] = mod
        order.append(mod)

    for e in entries:
        visit(e, None)
    return order
