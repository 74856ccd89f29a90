"""Writes a `pyhv_symtab` (docs/runtime.md layout) into mock RAM for trap-report tests."""

from __future__ import annotations

import struct

from pyhv.lang.machine import MockNode

SYMTAB_ADDR = 0x4100_0000


def install_symtab(node: MockNode, symbols: dict[str, int], addr: int = SYMTAB_ADDR) -> None:
    entries = sorted(symbols.items(), key=lambda kv: kv[1])
    names_at = addr + 8 + 16 * len(entries)
    blob = bytearray(struct.pack("<Q", len(entries)))
    names = bytearray()
    for name, sym_addr in entries:
        blob += struct.pack("<QQ", sym_addr, names_at + len(names))
        names += name.encode() + b"\0"
    node.ram.write(addr, bytes(blob + names))
    node.symbols["pyhv_symtab"] = addr
