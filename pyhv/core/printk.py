# Console output primitives. The compiler lowers `kprint(fmt, ...)` into printk_begin(), one printk_* call
# per literal piece / conversion, printk_end(); under CPython the prelude's kprint calls the same functions.
# Bytes go to whichever console driver sits in the ConsoleOps slot (PL011 today; the null console until
# the DTB has been read).
#
# Line lock: printk_begin/printk_end bracket one line so CPUs do not interleave. A `with lock:` block cannot
# span two functions, so the lock is a small test-and-set lock on an Atomic[u64] holding the owner's
# MPIDR + 1 (LDAXR/STXR + WFE in C). printk_begin_panic proceeds at once when the panicking CPU holds the
# lock itself, and after a bounded number of tries when another CPU (maybe dead) holds it, so a CPU that
# panics still gets its last words out.

from typing import Callable, Final

from pyhv.lang import (
    range,
    ACQUIRE, RELEASE, Atomic, Ops, OpsSlot, Static, Struct, i64, mem_read8, sev, str_byte, u8, u32,
    u64, sysreg_read, wait_event,
)

PRINTK_CSTR_MAX: Final = u32(256)       # longest NUL-terminated string printk_cstr_at prints
_PANIC_LOCK_TRIES: Final = u32(1000000)   # printk_begin_panic's wait for another CPU's line
_MPIDR_AFF_MASK: Final = u64(0xFF00FFFFFF)

_HEX_DIGITS: Final = "0123456789abcdef"


class ConsoleOps(Ops):
    putc: Callable[[u8], None]          # write one byte (drivers expand "\n" as they need)


def _null_putc(c: u8) -> None:
    pass


NULL_CONSOLE_OPS: Final = ConsoleOps(putc=_null_putc)   # before a console is probed, output is dropped

_console: Final = OpsSlot(ConsoleOps)


class PrintkState(Struct):
    owner: Atomic[u64]                  # MPIDR + 1 of the CPU between printk_begin and printk_end, or 0


_printk: Final = Static(PrintkState)


def printk_set_console(ops: ConsoleOps) -> None:
    _console.set(ops)


def _me() -> u64:
    return (sysreg_read("mpidr_el1") & _MPIDR_AFF_MASK) + 1


def printk_begin() -> None:
    st = _printk.get()
    me = _me()
    while not st.owner.cas(u64(0), me, ACQUIRE):
        wait_event()


def printk_begin_panic() -> None:
    # Like printk_begin, but never deadlocks: proceeds if this CPU already holds the lock, and without
    # the lock after a bounded wait for another CPU.
    st = _printk.get()
    me = _me()
    tries = u32(0)
    while st.owner.load(ACQUIRE) != me and not st.owner.cas(u64(0), me, ACQUIRE):
        tries += 1
        if tries >= _PANIC_LOCK_TRIES:
            st.owner.store(me, RELEASE)


def printk_end() -> None:
    _printk.get().owner.store(u64(0), RELEASE)
    sev()


def printk_char(c: u8) -> None:
    _console.get().putc(c)


def printk_str(s: str) -> None:
    i = u64(0)
    c = str_byte(s, i)
    while c != 0:
        printk_char(c)
        i += 1
        c = str_byte(s, i)


def printk_cstr_at(addr: u64) -> None:
    # A NUL-terminated string in memory (at most PRINTK_CSTR_MAX bytes are printed).
    for i in range(PRINTK_CSTR_MAX):
        c = mem_read8(addr + u64(i))
        if c == 0:
            return
        printk_char(c)


def printk_udec(v: u64) -> None:
    # Most significant digit first, with no array and no division by a variable: panic_at prints line
    # numbers with this, so it must not be able to panic itself (that would be a call-graph cycle).
    ndigits = u32(1)
    rest = v
    while rest >= 10:
        rest = rest // 10
        ndigits += 1
    while ndigits > 0:
        ndigits -= 1
        d = v
        k = ndigits
        while k > 0:
            d = d // 10
            k -= 1
        printk_char(u8(d % 10) + 0x30)


def printk_sdec(v: i64) -> None:
    if v < 0:
        printk_char(u8(0x2D))
        printk_udec(u64(0) - u64(v))    # also right for INT64_MIN
    else:
        printk_udec(u64(v))


def printk_hex(v: u64, width: u32) -> None:
    # Lower-case hex, zero-padded to `width` digits, no prefix (the format literal carries "0x").
    ndigits = u32(1)
    while ndigits < 16 and (v >> (ndigits * 4)) != 0:
        ndigits += 1
    if width > ndigits:
        ndigits = width
    while ndigits > 0:
        ndigits -= 1
        nibble = (v >> (ndigits * 4)) & 0xF
        printk_char(str_byte(_HEX_DIGITS, nibble))
