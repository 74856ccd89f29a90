"""CPython implementations of the intrinsics (the rows of `pyhv.lang.intrinsics.INTRINSICS` point here).

Each function does on the mock machine (`pyhv.lang.machine`) what its inline assembly does on hardware:
sysregs of the current CPU, MMIO through the node's bus, normal memory in the node's RAM (or a local buffer),
barriers and TLB/cache maintenance recorded in `cpu.trace` when tracing is on (data-cache maintenance also
goes to the node's `dc_hook`, a test's cache model, when one is set), waits reported to the
machine's `wait_hook`, SMC/HVC through the node's handlers. Misaligned accesses panic.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import NoReturn, TypeVar, cast

from pyhv.lang.errors import Panic
from pyhv.lang.ints import _Fixed, i64, u8, u16, u32, u64
from pyhv.lang.machine import check_aligned, current_cpu, current_node, read_memory, write_memory
from pyhv.lang.printfmt import format_arg_count, parse_format

_T = TypeVar("_T", bound=_Fixed)


def _raw(v: object, cls: type[_T], what: str) -> int:
    if type(v) is not cls:
        raise TypeError(f"{what} takes a {cls.__name__}, not {type(v).__name__}")
    assert isinstance(v, _Fixed)
    return v._v


# --- system registers ----------------------------------------------------------------------------------

def sysreg_read(name: str) -> u64:
    return u64(current_cpu().sysreg_read(name))


def sysreg_write(name: str, v: u64) -> None:
    current_cpu().sysreg_write(name, _raw(v, u64, "sysreg_write"))


# --- MMIO ------------------------------------------------------------------------------------------------

def _mmio_read(addr: u64, cls: type[_T]) -> _T:
    return cls._make(current_node().mmio.read(_raw(addr, u64, "mmio_read"), cls.BITS // 8))


def _mmio_write(addr: u64, v: _T, cls: type[_T]) -> None:
    current_node().mmio.write(_raw(addr, u64, "mmio_write"), cls.BITS // 8, _raw(v, cls, "mmio_write"))


def mmio_read8(addr: u64) -> u8:
    return _mmio_read(addr, u8)


def mmio_read16(addr: u64) -> u16:
    return _mmio_read(addr, u16)


def mmio_read32(addr: u64) -> u32:
    return _mmio_read(addr, u32)


def mmio_read64(addr: u64) -> u64:
    return _mmio_read(addr, u64)


def mmio_write8(addr: u64, v: u8) -> None:
    _mmio_write(addr, v, u8)


def mmio_write16(addr: u64, v: u16) -> None:
    _mmio_write(addr, v, u16)


def mmio_write32(addr: u64, v: u32) -> None:
    _mmio_write(addr, v, u32)


def mmio_write64(addr: u64, v: u64) -> None:
    _mmio_write(addr, v, u64)


# --- normal memory -------------------------------------------------------------------------------------

def _mem_read(addr: u64, cls: type[_T]) -> _T:
    a, n = _raw(addr, u64, "mem_read"), cls.BITS // 8
    check_aligned(a, n)
    return cls._make(int.from_bytes(read_memory(a, n), "little"))


def _mem_write(addr: u64, v: _T, cls: type[_T]) -> None:
    a, n = _raw(addr, u64, "mem_write"), cls.BITS // 8
    check_aligned(a, n)
    write_memory(a, (_raw(v, cls, "mem_write") & cls.MASK).to_bytes(n, "little"))


def mem_read8(addr: u64) -> u8:
    return _mem_read(addr, u8)


def mem_read16(addr: u64) -> u16:
    return _mem_read(addr, u16)


def mem_read32(addr: u64) -> u32:
    return _mem_read(addr, u32)


def mem_read64(addr: u64) -> u64:
    return _mem_read(addr, u64)


def mem_write8(addr: u64, v: u8) -> None:
    _mem_write(addr, v, u8)


def mem_write16(addr: u64, v: u16) -> None:
    _mem_write(addr, v, u16)


def mem_write32(addr: u64, v: u32) -> None:
    _mem_write(addr, v, u32)


def mem_write64(addr: u64, v: u64) -> None:
    _mem_write(addr, v, u64)


# --- barriers and maintenance (recorded in cpu.trace) --------------------------------------------------

def dsb(option: str) -> None:
    current_cpu().record("dsb", option)


def dmb(option: str) -> None:
    current_cpu().record("dmb", option)


def isb() -> None:
    current_cpu().record("isb")


def tlbi(op: str) -> None:
    current_cpu().record("tlbi", op)


def tlbi_addr(op: str, va: u64) -> None:
    """`va` is the byte address (VA or IPA); the C shifts it right by 12 into the TLBI operand."""
    current_cpu().record("tlbi", op, _raw(va, u64, "tlbi_addr"))


def dc_op(op: str, addr: u64) -> None:
    cpu = current_cpu()
    a = _raw(addr, u64, "dc_op")
    cpu.record("dc", op, a)
    hook = cpu.node.dc_hook
    if hook is not None:
        hook(op, a)


def ic_op(op: str) -> None:
    current_cpu().record("ic", op)


# --- waiting: the simulator's scheduling points ------------------------------------------------------

def _wait(kind: str) -> None:
    cpu = current_cpu()
    cpu.record(kind)
    hook = cpu.node.machine.wait_hook
    if hook is not None:
        hook(cpu, kind)


def wfi() -> None:
    _wait("wfi")


def wfe() -> None:
    _wait("wfe")


def sev() -> None:
    current_cpu().record("sev")


def cpu_relax() -> None:
    _wait("cpu_relax")


def wait_event() -> None:
    _wait("wait_event")


def irq_wait() -> None:
    _wait("irq_wait")


# --- firmware calls, symbols, strings ------------------------------------------------------------------

def _firmware(kind: str, handler: Callable[[int, int, int, int], int] | None,
              fid: u64, a1: u64, a2: u64, a3: u64) -> u64:
    if handler is None:
        raise Panic(f"{kind}_call with no {kind}_handler on {current_node()}")
    args = [_raw(x, u64, f"{kind}_call") for x in (fid, a1, a2, a3)]
    return u64(handler(args[0], args[1], args[2], args[3]))


def smc_call(fid: u64, a1: u64, a2: u64, a3: u64) -> u64:
    return _firmware("smc", current_node().smc_handler, fid, a1, a2, a3)


def hvc_call(fid: u64, a1: u64, a2: u64, a3: u64) -> u64:
    return _firmware("hvc", current_node().hvc_handler, fid, a1, a2, a3)


def symbol_addr(name: str) -> u64:
    addr = current_node().symbols.get(name)
    if addr is None:
        raise Panic(f"symbol_addr: no symbol {name!r} in the mock node's symbol table")
    return u64(addr)


def str_byte(s: str, i: u64) -> u8:
    """Byte i of the UTF-8 string s; 0 at and past the end (the C string's NUL)."""
    b = s.encode()
    n = _raw(i, u64, "str_byte")
    return u8(b[n]) if n < len(b) else u8(0)


def panic(msg: str) -> NoReturn:
    raise Panic(msg)


# --- kprint ------------------------------------------------------------------------------------------------

def _printer(name: str) -> Callable[..., None]:
    mod = importlib.import_module("pyhv.core.printk")
    return cast(Callable[..., None], getattr(mod, name))


def kprint(fmt: str, *args: _Fixed | str) -> None:
    """printf-style logging through pyhv.core.printk (see pyhv.lang.printfmt for the conversions)."""
    pieces = parse_format(fmt)
    if format_arg_count(pieces) != len(args):
        raise TypeError(f"kprint({fmt!r}): {format_arg_count(pieces)} conversions but {len(args)} arguments")
    calls: list[tuple[str, tuple[object, ...]]] = []
    it = iter(args)
    for p in pieces:
        if p.kind == "text":
            calls.append(("printk_str", (p.text,)))
            continue
        a = next(it)
        if p.kind == "s":
            if not isinstance(a, str):
                raise TypeError(f"kprint %s takes a str, not {type(a).__name__}")
            calls.append(("printk_str", (a,)))
        elif p.kind == "c":
            calls.append(("printk_char", (u8(_raw(a, u8, "kprint %c")),)))
        else:
            if not isinstance(a, _Fixed):
                raise TypeError(f"kprint %{p.kind} takes a fixed-width integer, not {type(a).__name__}")
            if p.kind == "u":
                calls.append(("printk_udec", (u64(a),)))
            elif p.kind == "d":
                calls.append(("printk_sdec", (i64(a),)))
            else:
                # %x prints the bits of the argument's own width, as the C does (i8(-1) is ff, not 16 f's).
                calls.append(("printk_hex", (u64(a._v & type(a).MASK), u32(p.width))))
    _printer("printk_begin")()
    for name, call_args in calls:
        _printer(name)(*call_args)
    _printer("printk_end")()


# --- functions implemented in runtime/asm -------------------------------------------------------------

_F = TypeVar("_F", bound=Callable[..., object])


def asm_function(fn: _F) -> _F:
    """Declares a function written in assembly (body `...`). Under CPython a call runs the mock registered
    in `current_node().asm_mocks[name]`, and panics if there is none."""
    name: str = getattr(fn, "__name__")

    @functools.wraps(fn)
    def call(*args: object) -> object:
        mock = current_node().asm_mocks.get(name)
        if mock is None:
            raise Panic(f"asm function {name} has no mock registered on {current_node()}")
        return mock(*args)

    setattr(call, "__pyhv_asm_function__", True)
    return cast(_F, call)
