"""Diagnostics: DialectError carries a source position; render() gives `file:line:col: error: msg`,
the source line and a caret under the column (gcc style). Sources are registered by the parser so any
later stage can render an error without re-reading files."""
from __future__ import annotations

from compiler.ast import Pos

_SOURCES: dict[str, str] = {}


def register_source(file: str, text: str) -> None:
    _SOURCES[file] = text


def source_line(file: str, line: int) -> str | None:
    text = _SOURCES.get(file)
    if text is None:
        return None
    lines = text.splitlines()
    if 1 <= line <= len(lines):
        return lines[line - 1]
    return None


class DialectError(Exception):
    """A mistake in dialect source. Never a compiler bug: the CLI prints it and exits 1."""

    def __init__(self, pos: Pos, message: str) -> None:
        super().__init__(f"{pos}: error: {message}")
        self.pos = pos
        self.message = message

    def render(self) -> str:
        head = f"{self.pos}: error: {self.message}"
        src = source_line(self.pos.file, self.pos.line)
        if src is None:
            return head
        caret = "".join(c if c == "\t" else " " for c in src[: max(self.pos.col - 1, 0)]) + "^"
        return f"{head}\n    {src}\n    {caret}"
