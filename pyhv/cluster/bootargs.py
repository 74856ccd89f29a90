# The node's cluster settings from the host DTB's /chosen/bootargs (QEMU's -append; cmdline on the RPi4):
# space-separated `key=value` words such as `pyhv.role=joiner pyhv.cluster=lab pyhv.nodes=3`. Parsing is
# bounded (at most BOOTARGS_MAX bytes are looked at; every read goes through the bounds-checked fdt_byte)
# and never copies: a value is a blob offset, ending at a space, a NUL or the end of the property. A
# missing or malformed value means "not given" (the caller's default).

from typing import Final

from pyhv.lang import str_byte, u8, u32, u64

from pyhv.core.fdt import FDT_NONE, fdt_byte, fdt_find_prop, fdt_prop_len, fdt_prop_value
from pyhv.core.fdt_path import fdt_path
from pyhv.core.printk import printk_char

BOOTARGS_MAX: Final = u32(1024)     # bytes of bootargs we look at
_SPACE: Final = u8(0x20)
_EQUALS: Final = u8(0x3D)
_DIGIT_0: Final = u8(0x30)
_DIGIT_9: Final = u8(0x39)
_U32_MAX_DIV10: Final = u32(429496729)


def bootargs_end(start: u32) -> u32:
    # The blob offset just past the bootargs (start: bootargs_start()).
    chosen = fdt_path("/chosen")
    prop = fdt_find_prop(chosen, "bootargs")
    n = fdt_prop_len(prop)
    if n > BOOTARGS_MAX:
        n = BOOTARGS_MAX
    return start + n


def bootargs_start() -> u32:
    # Blob offset of the bootargs string, FDT_NONE when /chosen or its bootargs is missing.
    chosen = fdt_path("/chosen")
    if chosen == FDT_NONE:
        return FDT_NONE
    prop = fdt_find_prop(chosen, "bootargs")
    if prop == FDT_NONE:
        return FDT_NONE
    return fdt_prop_value(prop)


def _is_end(c: u8) -> bool:
    return c == 0 or c == _SPACE


def bootarg_find(key: str) -> u32:
    # Blob offset of the value of `key=`, FDT_NONE if the key is absent.
    start = bootargs_start()
    if start == FDT_NONE:
        return FDT_NONE
    end = bootargs_end(start)
    i = start
    while i < end:
        while i < end and fdt_byte(i) == _SPACE:
            i += 1
        if i >= end or fdt_byte(i) == 0:
            return FDT_NONE
        k = u64(0)
        while i + u32(k) < end and str_byte(key, k) != 0 and fdt_byte(i + u32(k)) == str_byte(key, k):
            k += 1
        if str_byte(key, k) == 0 and i + u32(k) < end and fdt_byte(i + u32(k)) == _EQUALS:
            return i + u32(k) + 1
        while i < end and not _is_end(fdt_byte(i)):
            i += 1
    return FDT_NONE


def bootarg_value_end(value: u32) -> u32:
    # Offset just past a value found by bootarg_find.
    end = bootargs_end(bootargs_start())
    i = value
    while i < end and not _is_end(fdt_byte(i)):
        i += 1
    return i


def bootarg_eq(key: str, want: str) -> bool:
    # Is `key` given with exactly the value `want`?
    v = bootarg_find(key)
    if v == FDT_NONE:
        return False
    stop = bootarg_value_end(v)
    k = u64(0)
    while v + u32(k) < stop:
        if str_byte(want, k) == 0 or fdt_byte(v + u32(k)) != str_byte(want, k):
            return False
        k += 1
    return str_byte(want, k) == 0


def bootarg_u32(key: str, default: u32) -> u32:
    # A decimal value; `default` when absent, empty, not all digits or above 2^32 - 1.
    v = bootarg_find(key)
    if v == FDT_NONE:
        return default
    stop = bootarg_value_end(v)
    if stop == v:
        return default
    n = u32(0)
    i = v
    while i < stop:
        c = fdt_byte(i)
        if c < _DIGIT_0 or c > _DIGIT_9:
            return default
        d = u32(c - _DIGIT_0)
        if n > _U32_MAX_DIV10 or (n == _U32_MAX_DIV10 and d > 5):
            return default
        n = n * 10 + d
        i += 1
    return n


def bootarg_name_id(key: str) -> u32:
    # FNV-1a of the value folded to 16 bits, exactly as cluster_name_id does for a name; FDT_NONE if the
    # key is absent or its value empty.
    v = bootarg_find(key)
    if v == FDT_NONE:
        return FDT_NONE
    stop = bootarg_value_end(v)
    if stop == v:
        return FDT_NONE
    h = u32(0x811C9DC5)
    i = v
    while i < stop:
        h = (h ^ u32(fdt_byte(i))) * u32(0x01000193)
        i += 1
    return (h >> 16) ^ (h & 0xFFFF)


def bootarg_print(key: str) -> None:
    # Print the value of `key` (nothing if absent); call between printk_begin and printk_end.
    v = bootarg_find(key)
    if v == FDT_NONE:
        return
    stop = bootarg_value_end(v)
    i = v
    while i < stop:
        printk_char(fdt_byte(i))
        i += 1
