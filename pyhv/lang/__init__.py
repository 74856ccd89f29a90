"""The dialect prelude: everything a dialect module imports (docs/dialect.md).

Fixed-width integers, structs/arrays/atomics/spinlocks, static/per-CPU state and ops tables, intrinsics and
`asm_function`. Under CPython these run against the mock machine in `pyhv.lang.machine`.
"""

from pyhv.lang.errors import Panic
from pyhv.lang.hw import (
    asm_function, cpu_relax, dc_op, dmb, dsb, hvc_call, ic_op, irq_wait, isb, kprint, mem_read8, mem_read16,
    mem_read32, mem_read64, mem_write8, mem_write16, mem_write32, mem_write64, mmio_read8, mmio_read16,
    mmio_read32, mmio_read64, mmio_write8, mmio_write16, mmio_write32, mmio_write64, panic, sev, smc_call,
    str_byte, symbol_addr, sysreg_read, sysreg_write, tlbi, tlbi_addr, wait_event, wfe, wfi,
)
from pyhv.lang.loops import range
from pyhv.lang.ints import i8, i16, i32, i64, sdiv, srem, u8, u16, u32, u64, usize
from pyhv.lang.state import Ops, OpsSlot, PerCpu, Static
from pyhv.lang.structs import (
    Array, Struct, addr_of, array_len, as_bytes, sizeof, struct_at, struct_copy, struct_zero,
)
from pyhv.lang.sync import (
    ACQ_REL, ACQUIRE, RELAXED, RELEASE, SEQ_CST, Atomic, MemoryOrder, SpinLock,
)

__all__ = [
    "Panic", "range",
    "u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64", "usize", "sdiv", "srem",
    "Struct", "Array", "Atomic", "SpinLock", "MemoryOrder", "RELAXED", "ACQUIRE", "RELEASE", "ACQ_REL",
    "SEQ_CST", "sizeof", "addr_of", "struct_at", "struct_copy", "struct_zero", "as_bytes", "array_len",
    "Static", "PerCpu", "Ops", "OpsSlot",
    "sysreg_read", "sysreg_write",
    "mmio_read8", "mmio_read16", "mmio_read32", "mmio_read64",
    "mmio_write8", "mmio_write16", "mmio_write32", "mmio_write64",
    "mem_read8", "mem_read16", "mem_read32", "mem_read64",
    "mem_write8", "mem_write16", "mem_write32", "mem_write64",
    "dsb", "dmb", "isb", "tlbi", "tlbi_addr", "dc_op", "ic_op",
    "wfi", "wfe", "sev", "cpu_relax", "wait_event", "irq_wait",
    "smc_call", "hvc_call", "symbol_addr", "str_byte", "panic", "kprint", "asm_function",
]
