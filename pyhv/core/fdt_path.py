# Device tree paths: "/cpus", "/memory" (matches "memory@40000000"), stdout-path strings with ":options",
# /aliases, and the `status` property (Devicetree Specification v0.4, §2.2.3 paths, §3.3 /aliases,
# §2.3.4 status). Built on the bounds-checked token walk of fdt.py; no recursion.

from typing import Final

from pyhv.lang import range, mem_read8, str_byte, u8, u32, u64

from pyhv.core.fdt import (
    FDT_NONE, FDT_NOP, FDT_PROP, fdt_addr, fdt_byte, fdt_find_prop, fdt_first_child, fdt_next, fdt_node_name_off,
    fdt_next_sibling, fdt_prop_len, fdt_prop_str_eq, fdt_prop_value, fdt_root, fdt_strings_end,
    fdt_strings_off, fdt_token,
)

_CHAR_SLASH: Final = u8(0x2F)
_CHAR_AT: Final = u8(0x40)
_CHAR_COLON: Final = u8(0x3A)


def _src_byte(s: str, addr: u64, i: u32) -> u8:
    # Byte i of a string that is either a dialect literal (addr == 0) or NUL-terminated memory at addr.
    if addr != 0:
        return mem_read8(addr + u64(i))
    return str_byte(s, u64(i))


# --- paths ----------------------------------------------------------------------------------------------

def _name_matches(node: u32, s: str, addr: u64, start: u32, end: u32) -> bool:
    # Does the node's name equal path component [start, end)? "memory" also matches "memory@40000000".
    name = fdt_node_name_off(node)
    for k in range(end - start):
        if fdt_byte(name + k) != _src_byte(s, addr, start + k):
            return False
    tail = fdt_byte(name + (end - start))
    return tail == 0 or tail == _CHAR_AT


def _lookup_path(s: str, addr: u64) -> u32:
    # Resolve an absolute path given as a dialect string (addr == 0) or NUL-terminated memory at addr.
    # A ':' ends the path (stdout-path = "/pl011@9000000:115200n8").
    if _src_byte(s, addr, u32(0)) != _CHAR_SLASH:
        return FDT_NONE
    node = fdt_root()
    i = u32(0)
    while True:
        while _src_byte(s, addr, i) == _CHAR_SLASH:
            i += 1
        c = _src_byte(s, addr, i)
        if c == 0 or c == _CHAR_COLON:
            return node
        start = i
        while c != 0 and c != _CHAR_SLASH and c != _CHAR_COLON:
            i += 1
            c = _src_byte(s, addr, i)
        child = fdt_first_child(node)
        while child != FDT_NONE and not _name_matches(child, s, addr, start, i):
            child = fdt_next_sibling(child)
        if child == FDT_NONE:
            return FDT_NONE
        node = child


def fdt_path(path: str) -> u32:
    # The node at absolute `path` ("/cpus", "/memory", "/psci"), or FDT_NONE.
    return _lookup_path(path, u64(0))


def fdt_path_at(off: u32) -> u32:
    # The node whose path is the NUL-terminated string at blob offset `off` (already checked in bounds).
    return _lookup_path("", fdt_addr(off))


# --- status and aliases ---------------------------------------------------------------------------------

def fdt_node_enabled(node: u32) -> bool:
    # A node without `status`, or with "okay"/"ok", is in use; "disabled" and the rest are not.
    if fdt_find_prop(node, "status") == FDT_NONE:
        return True
    return fdt_prop_str_eq(node, "status", "okay") or fdt_prop_str_eq(node, "status", "ok")


def _alias_name_eq(name_off: u32, want_off: u32) -> bool:
    # Does the property name at name_off equal the alias at want_off (which ends at NUL or ':')?
    i = u32(0)
    while True:
        a = fdt_byte(name_off + i)
        b = fdt_byte(want_off + i)
        if b == _CHAR_COLON:
            b = u8(0)
        if a != b:
            return False
        if a == 0:
            return True
        i += 1


def fdt_resolve_path_or_alias(off: u32) -> u32:
    # The node named by the string at blob offset `off`: an absolute path ("/pl011@9000000:115200n8")
    # or an alias from /aliases ("serial0:115200n8"). FDT_NONE if it names nothing.
    if fdt_byte(off) == _CHAR_SLASH:
        return fdt_path_at(off)
    aliases = fdt_path("/aliases")
    if aliases == FDT_NONE:
        return FDT_NONE
    prop = fdt_next(aliases)
    while True:
        tok = fdt_token(prop)
        if tok == FDT_PROP:
            name = fdt_strings_off() + fdt_token(prop + 8)
            length = fdt_prop_len(prop)
            value = fdt_prop_value(prop)
            usable = length > 0 and fdt_byte(value + length - 1) == 0 and fdt_byte(value) == _CHAR_SLASH
            if usable and name < fdt_strings_end() and _alias_name_eq(name, off):
                return fdt_path_at(value)
        elif tok != FDT_NOP:
            return FDT_NONE
        prop = fdt_next(prop)
