"""The `kprint` format language, parsed once for both worlds (docs/dialect.md §8).

Conversions: `%u` (u64 decimal), `%d` (i64 decimal), `%x` / `%0Nx` (hex, zero-padded to N digits, N <= 16),
`%s` (string), `%c` (one byte, u8), `%%`. `parse_format` turns a literal format into pieces; the CPython
`kprint` and the compiler's lowering both walk those pieces and call the printer functions of
`pyhv.core.printk`, bracketed by `printk_begin()` / `printk_end()`:

    text -> printk_str(text)      u -> printk_udec(u64(arg))   d -> printk_sdec(i64(arg))
    x    -> printk_hex(u64(arg), u32(width))  (width 0 = no padding)
    s    -> printk_str(arg)       c -> printk_char(arg)  (arg: u8)
"""

from __future__ import annotations

from dataclasses import dataclass

FORMAT_KINDS = ("text", "u", "d", "x", "s", "c")


@dataclass(frozen=True)
class FormatPiece:
    kind: str        # one of FORMAT_KINDS
    text: str = ""   # for kind == "text": the literal characters (with %% already turned into %)
    width: int = 0   # for kind == "x": minimum digits, zero-padded (0 = none)


def parse_format(fmt: str) -> list[FormatPiece]:
    """Split a kprint format into pieces; adjacent literal text is merged. Bad specs raise ValueError."""
    pieces: list[FormatPiece] = []
    text: list[str] = []
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch != "%":
            text.append(ch)
            i += 1
            continue
        j = i + 1
        width = 0
        if j < len(fmt) and fmt[j] == "0":
            k = j + 1
            while k < len(fmt) and fmt[k].isdigit():
                k += 1
            if k == j + 1 or k >= len(fmt) or fmt[k] != "x":
                raise ValueError(f"kprint format {fmt!r}: zero padding is only supported as %0Nx")
            width = int(fmt[j + 1:k])
            if not 1 <= width <= 16:
                raise ValueError(f"kprint format {fmt!r}: hex width must be 1..16")
            j = k
        if j >= len(fmt):
            raise ValueError(f"kprint format {fmt!r}: dangling %")
        conv = fmt[j]
        if conv == "%" and width == 0:
            text.append("%")
        elif conv in "udxsc":
            if text:
                pieces.append(FormatPiece("text", "".join(text)))
                text = []
            pieces.append(FormatPiece(conv, "", width))
        else:
            raise ValueError(f"kprint format {fmt!r}: unsupported conversion %{conv}")
        i = j + 1
    if text:
        pieces.append(FormatPiece("text", "".join(text)))
    return pieces


def format_arg_count(pieces: list[FormatPiece]) -> int:
    return sum(1 for p in pieces if p.kind != "text")
