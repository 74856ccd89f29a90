# Flattened device tree WRITER (Devicetree Specification v0.4, chapter 5), in the dialect: builds a blob
# into a caller-provided buffer at a host address, with every write bounds-checked. The guest's tree
# (guest_fdt.py) is written with it at run time from the VmConfig. (fdt.py is the reader of the host DTB;
# pyhv/host/fdt_build.py is the host-side writer used by the build, in plain Python.)
#
# Buffer use while writing, then after fdt_w_finish:
#
#   0       40            struct_off                pos                str_low         size
#   | header | rsvmap ... | structure block -> ...   |   (free)         | <- strings    |
#
#   | header | rsvmap ... | structure block ... END  | strings | (unused up to size)
#
# Strings grow down from the end of the buffer (each name stored once: lookups de-duplicate), so the
# structure block can grow up without knowing how many names follow. A PROP token first records its
# name as the distance from the end of the buffer; fdt_w_finish moves the strings block down behind the
# structure block and rewrites every nameoff relative to it (a walk over the tokens we wrote).
#
# Errors are sticky: the first one is kept in `err`, later calls do nothing, fdt_w_finish returns it.

from typing import Final

from pyhv.lang import range, Struct, mem_read8, mem_write8, str_byte, u8, u32, u64

FDT_W_OK: Final = u32(0)
FDT_W_ERR_NOSPACE: Final = u32(1)       # the buffer is too small
FDT_W_ERR_STATE: Final = u32(2)         # calls out of order (property outside a node, unbalanced nodes, ...)
FDT_W_ERR_ALIGN: Final = u32(3)         # buffer not 8-byte aligned

_MAGIC: Final = u32(0xD00DFEED)
_VERSION: Final = u32(17)
_LAST_COMP_VERSION: Final = u32(16)
_HEADER_SIZE: Final = u32(40)
_RSV_ENTRY_SIZE: Final = u32(16)
_BEGIN_NODE: Final = u32(1)
_END_NODE: Final = u32(2)
_PROP: Final = u32(3)
_END: Final = u32(9)

_STATE_RSVMAP: Final = u32(0)           # memory reservation entries may still be added
_STATE_STRUCT: Final = u32(1)           # writing nodes
_STATE_DONE: Final = u32(2)             # finished
_NO_PROP: Final = u32(0)                # prop_len_off when no property is open

_HEX_DIGITS: Final = "0123456789abcdef"


class FdtWriter(Struct):
    buf: u64            # host address of the buffer (8-byte aligned)
    size: u32           # buffer size in bytes
    pos: u32            # next free byte of the structure block (or of the rsvmap, before the first node)
    str_low: u32        # lowest byte of the strings block (strings are in [str_low, size))
    struct_off: u32
    depth: u32          # open nodes
    prop_len_off: u32   # offset of the open property's length cell, _NO_PROP if none
    state: u32
    err: u32
    total: u32          # totalsize once finished


# --- raw, bounds-checked bytes ------------------------------------------------------------------------

def _fail(w: FdtWriter, err: u32) -> None:
    if w.err == FDT_W_OK:
        w.err = err


def _room(w: FdtWriter, n: u32) -> bool:
    # Can n more bytes go at pos without running into the strings?
    if w.err != FDT_W_OK:
        return False
    if n > w.str_low - w.pos:
        _fail(w, FDT_W_ERR_NOSPACE)
        return False
    return True


def _set8(w: FdtWriter, off: u32, v: u8) -> None:
    mem_write8(w.buf + u64(off), v)


def _set32(w: FdtWriter, off: u32, v: u32) -> None:
    for i in range(u32(4)):
        _set8(w, off + i, u8(v >> ((3 - i) * 8)))


def _get8(w: FdtWriter, off: u32) -> u8:
    return mem_read8(w.buf + u64(off))


def _get32(w: FdtWriter, off: u32) -> u32:
    v = u32(0)
    for i in range(u32(4)):
        v = (v << 8) | u32(_get8(w, off + i))
    return v


def _emit8(w: FdtWriter, v: u8) -> None:
    if _room(w, u32(1)):
        _set8(w, w.pos, v)
        w.pos += 1


def _emit32(w: FdtWriter, v: u32) -> None:
    if _room(w, u32(4)):
        _set32(w, w.pos, v)
        w.pos += 4


def _pad4(w: FdtWriter) -> None:
    while (w.pos & 3) != 0 and w.err == FDT_W_OK:
        _emit8(w, u8(0))


def _emit_chars(w: FdtWriter, s: str) -> None:
    # The bytes of s without its NUL.
    i = u64(0)
    c = str_byte(s, i)
    while c != 0 and w.err == FDT_W_OK:
        _emit8(w, c)
        i += 1
        c = str_byte(s, i)


def _emit_hex(w: FdtWriter, v: u64) -> None:
    # Lower-case hex without leading zeros ("0" for zero), as unit addresses are written.
    n = u32(1)
    while n < 16 and (v >> (n * 4)) != 0:
        n += 1
    while n > 0:
        n -= 1
        _emit8(w, str_byte(_HEX_DIGITS, (v >> (n * 4)) & 0xF))


# --- strings block ------------------------------------------------------------------------------------

def _str_eq_at(w: FdtWriter, off: u32, s: str) -> bool:
    # Is the NUL-terminated string at `off` (inside the strings block) equal to s?
    i = u32(0)
    while True:
        c = str_byte(s, u64(i))
        if _get8(w, off + i) != c:
            return False
        if c == 0:
            return True
        i += 1


def _string(w: FdtWriter, s: str) -> u32:
    # The name's position as the distance from the end of the buffer; stored once.
    off = w.str_low
    while off < w.size:
        if _str_eq_at(w, off, s):
            return w.size - off
        while _get8(w, off) != 0:
            off += 1
        off += 1
    n = u32(0)
    while str_byte(s, u64(n)) != 0:
        n += 1
    n += 1
    if w.err != FDT_W_OK:
        return u32(0)
    if n > w.str_low - w.pos:
        _fail(w, FDT_W_ERR_NOSPACE)
        return u32(0)
    w.str_low -= n
    for i in range(n):
        _set8(w, w.str_low + i, str_byte(s, u64(i)))
    return w.size - w.str_low


# --- header, reservations, nodes ----------------------------------------------------------------------

def fdt_w_init(w: FdtWriter, buf: u64, size: u32) -> None:
    w.buf = buf
    w.size = size
    w.pos = u32(0)
    w.str_low = size
    w.struct_off = u32(0)
    w.depth = u32(0)
    w.prop_len_off = _NO_PROP
    w.state = _STATE_RSVMAP
    w.err = FDT_W_OK
    w.total = u32(0)
    if (buf & 7) != 0:
        _fail(w, FDT_W_ERR_ALIGN)
        return
    for i in range(u32(0), _HEADER_SIZE // 4):
        _emit32(w, u32(0))


def fdt_w_reserve(w: FdtWriter, addr: u64, size_bytes: u64) -> None:
    # A /memreserve/ entry; only before the first node.
    if w.state != _STATE_RSVMAP:
        _fail(w, FDT_W_ERR_STATE)
        return
    _emit32(w, u32(addr >> 32))
    _emit32(w, u32(addr))
    _emit32(w, u32(size_bytes >> 32))
    _emit32(w, u32(size_bytes))


def _node_start(w: FdtWriter) -> bool:
    if w.state == _STATE_RSVMAP:
        for i in range(u32(0), _RSV_ENTRY_SIZE // 4):
            _emit32(w, u32(0))
        w.state = _STATE_STRUCT
        w.struct_off = w.pos
    if w.state != _STATE_STRUCT or w.prop_len_off != _NO_PROP or (w.depth == 0 and w.pos != w.struct_off):
        _fail(w, FDT_W_ERR_STATE)   # after finish, inside a property, or a second root
        return False
    _emit32(w, _BEGIN_NODE)
    w.depth += 1
    return True


def fdt_w_begin_node(w: FdtWriter, name: str) -> None:
    # The root node's name is "".
    if _node_start(w):
        _emit_chars(w, name)
        _emit8(w, u8(0))
        _pad4(w)


def fdt_w_begin_node_at(w: FdtWriter, name: str, unit_addr: u64) -> None:
    # "name@<unit_addr in hex>", e.g. memory@40000000.
    if _node_start(w):
        _emit_chars(w, name)
        _emit8(w, u8(0x40))
        _emit_hex(w, unit_addr)
        _emit8(w, u8(0))
        _pad4(w)


def fdt_w_end_node(w: FdtWriter) -> None:
    if w.depth == 0 or w.prop_len_off != _NO_PROP:
        _fail(w, FDT_W_ERR_STATE)
        return
    _emit32(w, _END_NODE)
    w.depth -= 1


# --- properties: begin, append values, end ----------------------------------------------------------

def fdt_w_prop_begin(w: FdtWriter, name: str) -> None:
    if w.depth == 0 or w.prop_len_off != _NO_PROP:
        _fail(w, FDT_W_ERR_STATE)
        return
    nameoff = _string(w, name)
    _emit32(w, _PROP)
    if w.err == FDT_W_OK:
        w.prop_len_off = w.pos
    _emit32(w, u32(0))
    _emit32(w, nameoff)


def fdt_w_put_u32(w: FdtWriter, v: u32) -> None:
    _emit32(w, v)


def fdt_w_put_u64(w: FdtWriter, v: u64) -> None:
    # Two cells, high first.
    _emit32(w, u32(v >> 32))
    _emit32(w, u32(v))


def fdt_w_put_chars(w: FdtWriter, s: str) -> None:
    _emit_chars(w, s)


def fdt_w_put_hex(w: FdtWriter, v: u64) -> None:
    _emit_hex(w, v)


def fdt_w_put_byte(w: FdtWriter, v: u8) -> None:
    _emit8(w, v)


def fdt_w_put_str(w: FdtWriter, s: str) -> None:
    # One string of a string list, NUL included.
    _emit_chars(w, s)
    _emit8(w, u8(0))


def fdt_w_put_cstr_at(w: FdtWriter, addr: u64, max_bytes: u32) -> None:
    # A NUL-terminated string from memory (at most max_bytes bytes before the NUL), NUL included.
    i = u32(0)
    c = mem_read8(addr)
    while c != 0 and i < max_bytes and w.err == FDT_W_OK:
        _emit8(w, c)
        i += 1
        c = mem_read8(addr + u64(i))
    _emit8(w, u8(0))


def fdt_w_prop_end(w: FdtWriter) -> None:
    if w.prop_len_off == _NO_PROP:
        _fail(w, FDT_W_ERR_STATE)
        return
    if w.err == FDT_W_OK:
        _set32(w, w.prop_len_off, w.pos - w.prop_len_off - 8)
    w.prop_len_off = _NO_PROP
    _pad4(w)


def fdt_w_prop_empty(w: FdtWriter, name: str) -> None:
    fdt_w_prop_begin(w, name)
    fdt_w_prop_end(w)


def fdt_w_prop_u32(w: FdtWriter, name: str, v: u32) -> None:
    fdt_w_prop_begin(w, name)
    _emit32(w, v)
    fdt_w_prop_end(w)


def fdt_w_prop_u64(w: FdtWriter, name: str, v: u64) -> None:
    fdt_w_prop_begin(w, name)
    fdt_w_put_u64(w, v)
    fdt_w_prop_end(w)


def fdt_w_prop_str(w: FdtWriter, name: str, s: str) -> None:
    fdt_w_prop_begin(w, name)
    fdt_w_put_str(w, s)
    fdt_w_prop_end(w)


def fdt_w_prop_reg(w: FdtWriter, addr: u64, size_bytes: u64) -> None:
    # `reg = <addr size>` with #address-cells = #size-cells = 2.
    fdt_w_prop_begin(w, "reg")
    fdt_w_put_u64(w, addr)
    fdt_w_put_u64(w, size_bytes)
    fdt_w_prop_end(w)


# --- finish ---------------------------------------------------------------------------------------------

def _fix_nameoffs(w: FdtWriter, strings_size: u32) -> None:
    # Rewrite each PROP's nameoff from "distance from the end of the buffer" to "offset in the strings
    # block". Only our own tokens are walked, so the layout is known to be well formed.
    off = w.struct_off
    while off < w.pos:
        tok = _get32(w, off)
        off += 4
        if tok == _BEGIN_NODE:
            while _get8(w, off) != 0:
                off += 1
            off = (off + 4) & ~u32(3)
        elif tok == _PROP:
            length = _get32(w, off)
            _set32(w, off + 4, strings_size - _get32(w, off + 4))
            off += 8 + ((length + 3) & ~u32(3))
        elif tok == _END:
            return
        # END_NODE (and NOP, which we never write) are a bare token.


def fdt_w_finish(w: FdtWriter) -> u32:
    # Close the blob: END token, strings block behind the structure block, header. FDT_W_OK or the error.
    if w.state == _STATE_RSVMAP or w.depth != 0 or w.prop_len_off != _NO_PROP:
        _fail(w, FDT_W_ERR_STATE)
    _emit32(w, _END)
    if w.err != FDT_W_OK:
        return w.err
    strings_size = w.size - w.str_low
    _fix_nameoffs(w, strings_size)
    for i in range(u32(0), strings_size):
        _set8(w, w.pos + i, _get8(w, w.str_low + i))
    w.total = w.pos + strings_size
    _set32(w, u32(0), _MAGIC)
    _set32(w, u32(4), w.total)
    _set32(w, u32(8), w.struct_off)
    _set32(w, u32(12), w.pos)
    _set32(w, u32(16), _HEADER_SIZE)
    _set32(w, u32(20), _VERSION)
    _set32(w, u32(24), _LAST_COMP_VERSION)
    _set32(w, u32(28), u32(0))                      # boot_cpuid_phys
    _set32(w, u32(32), strings_size)
    _set32(w, u32(36), w.pos - w.struct_off)
    w.state = _STATE_DONE
    return FDT_W_OK


def fdt_blob_size(addr: u64) -> u32:
    # totalsize from the header of a finished blob at host address addr.
    v = u32(0)
    for i in range(u32(4), u32(8)):
        v = (v << 8) | u32(mem_read8(addr + u64(i)))
    return v
