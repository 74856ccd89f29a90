# Address -> "symbol+offset" for crash and trap reports, from the table the build links into the image
# (docs/runtime.md, `pyhv_symtab`):
#
#   pyhv_symtab: u64 count | count x { u64 addr, u64 name_addr } sorted by addr | NUL-terminated names

from typing import Final

from pyhv.lang import Struct, mem_read64, symbol_addr, u64

SYMTAB_ENTRY_BYTES: Final = u64(16)


class SymHit(Struct):
    name_addr: u64          # address of the NUL-terminated name
    offset: u64             # addr - symbol address


def symtab_lookup_in(table: u64, addr: u64, out: SymHit) -> bool:
    # Binary search for the last entry whose address is <= addr. False if addr precedes every symbol.
    count = mem_read64(table)
    entries = table + 8
    lo = u64(0)
    hi = count                  # invariant: entries [0, lo) are <= addr, entries [hi, count) are > addr
    while lo < hi:
        mid = lo + (hi - lo) // 2
        if mem_read64(entries + mid * SYMTAB_ENTRY_BYTES) <= addr:
            lo = mid + 1
        else:
            hi = mid
    if lo == 0:
        return False
    entry = entries + (lo - 1) * SYMTAB_ENTRY_BYTES
    out.name_addr = mem_read64(entry + 8)
    out.offset = addr - mem_read64(entry)
    return True


def symtab_lookup(addr: u64, out: SymHit) -> bool:
    return symtab_lookup_in(symbol_addr("pyhv_symtab"), addr, out)
