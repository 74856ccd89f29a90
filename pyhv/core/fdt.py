# Flattened device tree (DTB) reader: Devicetree Specification v0.4, chapter 5 ("Flattened Devicetree
# (DTB) Format"). The host firmware/QEMU hands hv_main a pointer to a DTB; everything board-specific that
# pyhv learns at run time (CPUs, RAM, GIC, console, power) comes through this file.
#
# Layout of a blob (all integers big-endian):
#
#   +--------------------+ 0
#   | header (40 bytes)  |  magic 0xd00dfeed, totalsize, off_dt_struct, off_dt_strings, ..., version
#   +--------------------+ off_dt_struct
#   | structure block    |  tokens: BEGIN_NODE name\0 pad | PROP len nameoff value pad | END_NODE | NOP | END
#   +--------------------+ off_dt_strings
#   | strings block      |  property names, NUL-terminated
#   +--------------------+ totalsize
#
# Handles: a node is the blob offset (u32) of its BEGIN_NODE token; a property is the offset of its PROP
# token; FDT_NONE means "absent". Every byte read is bounds-checked against totalsize (and token reads
# against the structure block), so a malformed blob panics with a reason instead of reading wild memory.
# No recursion: walks are iterative with an explicit depth counter. Paths and aliases: fdt_path.py;
# `reg` and bus address translation: fdt_reg.py.

from typing import Final

from pyhv.lang import range, Array, Static, Struct, mem_read8, panic, str_byte, u8, u32, u64

FDT_MAGIC: Final = u32(0xD00DFEED)
FDT_VERSION: Final = u32(17)            # the format version we read (last_comp_version <= 17 <= version)
FDT_HEADER_SIZE: Final = u32(40)
FDT_MAX_SIZE: Final = u32(0x200000)     # arm64 boot protocol: a DTB is at most 2 MiB
FDT_MAX_DEPTH: Final = u32(16)          # deepest node nesting we accept
FDT_NONE: Final = u32(0xFFFFFFFF)       # "no such node / property"

FDT_BEGIN_NODE: Final = u32(1)
FDT_END_NODE: Final = u32(2)
FDT_PROP: Final = u32(3)
FDT_NOP: Final = u32(4)
FDT_END: Final = u32(9)



class FdtState(Struct):
    base: u64           # host address of the blob
    total: u32          # totalsize from the header
    struct_off: u32     # structure block [struct_off, struct_end)
    struct_end: u32
    strings_off: u32    # strings block [strings_off, strings_end)
    strings_end: u32


_fdt: Final = Static(FdtState)


# --- bounds-checked raw access ------------------------------------------------------------------------

def fdt_byte(off: u32) -> u8:
    if off >= _fdt.get().total:
        panic("fdt: read past totalsize")
    return mem_read8(_fdt.get().base + u64(off))


def _raw_be32(base: u64, off: u32) -> u32:
    v = u32(0)
    for i in range(u32(4)):
        v = (v << 8) | u32(mem_read8(base + u64(off + i)))
    return v


def fdt_be32(off: u32) -> u32:
    # Big-endian 32-bit cell at blob offset `off`.
    st = _fdt.get()
    if st.total < 4 or off > st.total - 4:
        panic("fdt: cell past totalsize")
    return _raw_be32(st.base, off)


def _align4(v: u32) -> u32:
    return (v + 3) & ~u32(3)


def fdt_token(off: u32) -> u32:
    st = _fdt.get()
    if off < st.struct_off or off > st.struct_end - 4 or (off & 3) != 0:
        panic("fdt: token outside the structure block")
    return fdt_be32(off)


# --- header -------------------------------------------------------------------------------------------

def fdt_init(dtb: u64) -> None:
    # Validate the header of the blob at host address `dtb` and remember its blocks.
    if dtb == 0 or (dtb & 7) != 0:
        panic("fdt: DTB pointer is null or misaligned")
    st = _fdt.get()
    if _raw_be32(dtb, u32(0)) != FDT_MAGIC:
        panic("fdt: bad magic (not a flattened device tree)")
    total = _raw_be32(dtb, u32(4))
    if total < FDT_HEADER_SIZE or total > FDT_MAX_SIZE:
        panic("fdt: totalsize out of range")
    st.base = dtb
    st.total = total
    version = fdt_be32(u32(20))
    last_comp = fdt_be32(u32(24))
    if version < FDT_VERSION or last_comp > FDT_VERSION:
        panic("fdt: unsupported version (need 17)")
    off_struct = fdt_be32(u32(8))
    off_strings = fdt_be32(u32(12))
    size_strings = fdt_be32(u32(32))
    size_struct = fdt_be32(u32(36))
    if off_struct > total or size_struct > total - off_struct or (off_struct & 3) != 0 or size_struct < 8:
        panic("fdt: structure block outside totalsize")
    if off_strings > total or size_strings > total - off_strings:
        panic("fdt: strings block outside totalsize")
    st.struct_off = off_struct
    st.struct_end = off_struct + (size_struct & ~u32(3))
    st.strings_off = off_strings
    st.strings_end = off_strings + size_strings


def fdt_base() -> u64:
    return _fdt.get().base


def fdt_addr(off: u32) -> u64:
    # Host address of blob offset `off` (for printk_cstr_at and the like).
    return _fdt.get().base + u64(off)


# --- token stream -------------------------------------------------------------------------------------

def fdt_skip_cstring(off: u32, end: u32) -> u32:
    # Offset just past the NUL of the string at `off`, which must end before `end`.
    p = off
    while True:
        if p >= end:
            panic("fdt: unterminated string")
        if fdt_byte(p) == 0:
            return p + 1
        p += 1


def fdt_next(off: u32) -> u32:
    # Offset of the token after the one at `off` (always strictly larger).
    st = _fdt.get()
    tok = fdt_token(off)
    if tok == FDT_BEGIN_NODE:
        return _align4(fdt_skip_cstring(off + 4, st.struct_end))
    if tok == FDT_PROP:
        length = fdt_token(off + 4)
        fdt_token(off + 8)
        if length > st.struct_end - off - 12:
            panic("fdt: property value past the structure block")
        return off + 12 + _align4(length)
    if tok == FDT_END_NODE or tok == FDT_NOP:
        return off + 4
    panic("fdt: unexpected token in the structure block")
    return FDT_NONE


def _skip_nops(off: u32) -> u32:
    p = off
    while fdt_token(p) == FDT_NOP:
        p += 4
    return p


def fdt_root() -> u32:
    off = _skip_nops(_fdt.get().struct_off)
    if fdt_token(off) != FDT_BEGIN_NODE:
        panic("fdt: structure block does not start with a node")
    return off


def _end_of_node(node: u32) -> u32:
    # Offset of the token after the END_NODE matching `node`.
    depth = u32(1)
    off = fdt_next(node)
    while depth > 0:
        tok = fdt_token(off)
        if tok == FDT_BEGIN_NODE:
            depth += 1
            if depth > FDT_MAX_DEPTH:
                panic("fdt: nodes nested too deeply")
        elif tok == FDT_END_NODE:
            depth -= 1
        elif tok == FDT_END:
            panic("fdt: END before the node was closed")
        off = fdt_next(off)
    return off


def fdt_first_child(node: u32) -> u32:
    off = fdt_next(node)
    while True:
        tok = fdt_token(off)
        if tok == FDT_BEGIN_NODE:
            return off
        if tok != FDT_PROP and tok != FDT_NOP:
            return FDT_NONE
        off = fdt_next(off)


def fdt_next_sibling(node: u32) -> u32:
    off = _skip_nops(_end_of_node(node))
    if fdt_token(off) == FDT_BEGIN_NODE:
        return off
    return FDT_NONE


def fdt_parent(node: u32) -> u32:
    # Parent of `node` (FDT_NONE for the root), found by walking from the root with an explicit stack.
    stack = Array(u32, 16)
    depth = u32(0)
    off = fdt_root()
    while True:
        tok = fdt_token(off)
        if tok == FDT_BEGIN_NODE:
            if off == node:
                return stack[depth - 1] if depth > 0 else FDT_NONE
            if depth >= FDT_MAX_DEPTH:
                panic("fdt: nodes nested too deeply")
            stack[depth] = off
            depth += 1
        elif tok == FDT_END_NODE:
            if depth == 0:
                panic("fdt: unbalanced END_NODE")
            depth -= 1
            if depth == 0:
                return FDT_NONE
        elif tok == FDT_END:
            return FDT_NONE
        off = fdt_next(off)


def fdt_node_name_off(node: u32) -> u32:
    # Blob offset of the node's NUL-terminated name ("" for the root, "cpu@0", ...).
    return node + 4


# --- string comparison helpers --------------------------------------------------------------------------

def fdt_cstr_eq(off: u32, end: u32, s: str) -> bool:
    # Does the NUL-terminated string at blob offset `off` (which must end before `end`) equal `s`?
    i = u32(0)
    while True:
        if off + i >= end:
            return False
        b = fdt_byte(off + i)
        if b != str_byte(s, u64(i)):
            return False
        if b == 0:
            return True
        i += 1


# --- properties -----------------------------------------------------------------------------------------

def fdt_find_prop(node: u32, name: str) -> u32:
    # The PROP token of `name` directly in `node`, or FDT_NONE.
    st = _fdt.get()
    off = fdt_next(node)
    while True:
        tok = fdt_token(off)
        if tok == FDT_PROP:
            nameoff = fdt_token(off + 8)
            if nameoff >= st.strings_end - st.strings_off:
                panic("fdt: property name offset past the strings block")
            if fdt_cstr_eq(st.strings_off + nameoff, st.strings_end, name):
                return off
        elif tok != FDT_NOP:
            return FDT_NONE
        off = fdt_next(off)


def fdt_prop_len(prop: u32) -> u32:
    return fdt_token(prop + 4)


def fdt_prop_value(prop: u32) -> u32:
    # Blob offset of the property's value.
    return prop + 12


def fdt_prop_u32(node: u32, name: str, default: u32) -> u32:
    prop = fdt_find_prop(node, name)
    if prop == FDT_NONE or fdt_prop_len(prop) < 4:
        return default
    return fdt_be32(fdt_prop_value(prop))


def fdt_read_cells(off: u32, ncells: u32) -> u64:
    # A 1- or 2-cell big-endian number at blob offset `off`.
    if ncells == 1:
        return u64(fdt_be32(off))
    if ncells == 2:
        return (u64(fdt_be32(off)) << 32) | u64(fdt_be32(off + 4))
    panic("fdt: only 1- or 2-cell numbers are supported")
    return u64(0)


def fdt_prop_u64(node: u32, name: str, default: u64) -> u64:
    # A property holding one 32- or 64-bit number (e.g. cpu-release-addr, reg of a cpu node).
    prop = fdt_find_prop(node, name)
    if prop == FDT_NONE:
        return default
    length = fdt_prop_len(prop)
    if length == 4:
        return fdt_read_cells(fdt_prop_value(prop), u32(1))
    if length >= 8:
        return fdt_read_cells(fdt_prop_value(prop), u32(2))
    return default


def fdt_prop_str_off(node: u32, name: str) -> u32:
    # Blob offset of a string property's (first) string, FDT_NONE if absent or not NUL-terminated.
    prop = fdt_find_prop(node, name)
    if prop == FDT_NONE:
        return FDT_NONE
    length = fdt_prop_len(prop)
    value = fdt_prop_value(prop)
    if length == 0 or fdt_byte(value + length - 1) != 0:
        return FDT_NONE
    return value


def fdt_prop_str_eq(node: u32, name: str, s: str) -> bool:
    prop = fdt_find_prop(node, name)
    if prop == FDT_NONE:
        return False
    value = fdt_prop_value(prop)
    return fdt_cstr_eq(value, value + fdt_prop_len(prop), s)


def fdt_is_compatible(node: u32, compat: str) -> bool:
    # Is `compat` one of the strings of the node's `compatible` string list?
    prop = fdt_find_prop(node, "compatible")
    if prop == FDT_NONE:
        return False
    off = fdt_prop_value(prop)
    end = off + fdt_prop_len(prop)
    while off < end:
        if fdt_cstr_eq(off, end, compat):
            return True
        off = fdt_skip_cstring(off, end)
    return False


def fdt_find_compatible(after: u32, compat: str) -> u32:
    # First node in document order after node `after` (FDT_NONE: from the start) compatible with `compat`.
    off = fdt_root() if after == FDT_NONE else fdt_next(after)
    while True:
        tok = fdt_token(off)
        if tok == FDT_END:
            return FDT_NONE
        if tok == FDT_BEGIN_NODE and fdt_is_compatible(off, compat):
            return off
        off = fdt_next(off)


def fdt_strings_off() -> u32:
    return _fdt.get().strings_off


def fdt_strings_end() -> u32:
    return _fdt.get().strings_end
