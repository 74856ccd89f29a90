"""The mock machine: what the dialect's hardware intrinsics touch when hypervisor code runs under CPython.

A `Machine` holds `MockNode`s (one per simulated board); each node has sparse RAM (page-granular, any u64
address), an MMIO bus of device models, `MockCpu`s with system registers, console capture, SMC/HVC handlers,
a symbol table and `@asm_function` mocks. Static/per-CPU/ops-slot storage of `pyhv.lang.state` lives here too,
so one process can host several independent nodes.

    m = Machine(); node = m.add_node(cpus=4)
    with m.on_cpu(node, 0):
        ...  # current_node() is node, current_cpu() is node.cpus[0]

Structs allocated with `T()` live in "local" buffers with fake addresses at LOCAL_BASE and above (no RAM uses
that range); `read_memory`/`write_memory`/`memory_window` resolve both kinds of address.
"""

from __future__ import annotations

import bisect
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

from pyhv.lang.errors import Panic

PAGE_SIZE = 4096
LOCAL_BASE = 0xFFFF_0000_0000_0000
_U64_MASK = (1 << 64) - 1


class MockBusError(Exception):
    """An MMIO access hit no mapped device (on hardware: an external abort)."""

    def __init__(self, addr: int, width_bytes: int, write: bool) -> None:
        super().__init__(f"MMIO {'write' if write else 'read'} of {width_bytes} bytes at {addr:#x}: no device")
        self.addr = addr


class MockMachineError(RuntimeError):
    """The test harness used the mock machine wrongly (e.g. no current CPU)."""


class MmioDevice(Protocol):
    """A device model: offsets are relative to the mapped base."""

    def read(self, offset: int, width_bytes: int) -> int: ...

    def write(self, offset: int, width_bytes: int, value: int) -> None: ...


def check_aligned(addr: int, width_bytes: int) -> None:
    if addr % width_bytes != 0:
        raise Panic(f"misaligned {width_bytes}-byte access at {addr:#x}")


class MmioBus:
    """Address decoder of one node: `map(base, size, device)`; unmapped accesses raise MockBusError."""

    def __init__(self) -> None:
        self._bases: list[int] = []
        self._regions: list[tuple[int, int, MmioDevice]] = []

    def map(self, base: int, size: int, device: MmioDevice) -> None:
        if size <= 0:
            raise ValueError("MMIO region size must be positive")
        for b, s, _ in self._regions:
            if base < b + s and b < base + size:
                raise ValueError(f"MMIO region {base:#x}+{size:#x} overlaps {b:#x}+{s:#x}")
        i = bisect.bisect(self._bases, base)
        self._bases.insert(i, base)
        self._regions.insert(i, (base, size, device))

    def _find(self, addr: int, width_bytes: int, write: bool) -> tuple[MmioDevice, int]:
        i = bisect.bisect(self._bases, addr) - 1
        if i >= 0:
            base, size, dev = self._regions[i]
            if addr + width_bytes <= base + size:
                return dev, addr - base
        raise MockBusError(addr, width_bytes, write)

    def read(self, addr: int, width_bytes: int) -> int:
        check_aligned(addr, width_bytes)
        dev, off = self._find(addr, width_bytes, False)
        return dev.read(off, width_bytes) & ((1 << (8 * width_bytes)) - 1)

    def write(self, addr: int, width_bytes: int, value: int) -> None:
        check_aligned(addr, width_bytes)
        dev, off = self._find(addr, width_bytes, True)
        dev.write(off, width_bytes, value & ((1 << (8 * width_bytes)) - 1))


class SparseRam:
    """Byte-addressed RAM over the whole u64 space, allocated (zeroed) one page at a time on first touch.

    Slicing with absolute addresses (`ram[a:b]`, `ram[a:b] = data`) lets structs view it like a bytearray.
    """

    def __init__(self) -> None:
        self.pages: dict[int, bytearray] = {}

    def _page(self, n: int) -> bytearray:
        p = self.pages.get(n)
        if p is None:
            p = self.pages[n] = bytearray(PAGE_SIZE)
        return p

    def read(self, addr: int, n: int) -> bytes:
        out = bytearray()
        while n > 0:
            off = addr % PAGE_SIZE
            take = min(n, PAGE_SIZE - off)
            out += self._page(addr // PAGE_SIZE)[off:off + take]
            addr, n = addr + take, n - take
        return bytes(out)

    def write(self, addr: int, data: bytes) -> None:
        pos = 0
        while pos < len(data):
            off = addr % PAGE_SIZE
            take = min(len(data) - pos, PAGE_SIZE - off)
            self._page(addr // PAGE_SIZE)[off:off + take] = data[pos:pos + take]
            addr, pos = addr + take, pos + take

    def __getitem__(self, s: slice) -> bytes:
        return self.read(s.start, s.stop - s.start)

    def __setitem__(self, s: slice, data: bytes) -> None:
        if len(data) != s.stop - s.start:
            raise ValueError("RAM slice assignment must not change the size")
        self.write(s.start, data)


# --- local buffers (storage of `T()` / `Array(T, n)`) with fake, unique addresses ------------------------

class LocalBuffer(bytearray):
    """Backing bytes of a struct/array created under CPython; `base` is its fake address."""

    __slots__ = ("base", "__weakref__")
    base: int


_local_next = LOCAL_BASE
_local_bases: list[int] = []
_local_live: weakref.WeakValueDictionary[int, LocalBuffer] = weakref.WeakValueDictionary()


def alloc_local(size: int) -> LocalBuffer:
    """Zeroed storage with a fresh fake address (64-byte aligned, never reused, never in RAM)."""
    global _local_next
    buf = LocalBuffer(size)
    buf.base = _local_next
    _local_next += (size + 63) // 64 * 64 + 64
    if len(_local_bases) > 2 * len(_local_live) + 4096:
        _local_bases[:] = sorted(_local_live.keys())
    _local_bases.append(buf.base)
    _local_live[buf.base] = buf
    return buf


def _find_local(addr: int, n: int) -> LocalBuffer:
    i = bisect.bisect(_local_bases, addr) - 1
    buf = _local_live.get(_local_bases[i]) if i >= 0 else None
    if buf is None or addr + n > buf.base + len(buf):
        raise Panic(f"access of {n} bytes at {addr:#x}: not inside any live local struct or array")
    return buf


def memory_window(addr: int, n: int) -> tuple[bytearray | SparseRam, int]:
    """(backing, base) such that backing[addr - base : addr - base + n] are the n bytes at `addr`."""
    if addr >= LOCAL_BASE:
        buf = _find_local(addr, n)
        return buf, buf.base
    return current_node().ram, 0


def read_memory(addr: int, n: int) -> bytes:
    backing, base = memory_window(addr, n)
    return bytes(backing[addr - base:addr - base + n])


def write_memory(addr: int, data: bytes) -> None:
    backing, base = memory_window(addr, len(data))
    backing[addr - base:addr - base + len(data)] = data


# --- CPUs, nodes, machine ----------------------------------------------------------------------------

class MockCpu:
    """One CPU: system registers (default 0) with optional per-name read/write hooks, per-CPU storage."""

    def __init__(self, node: MockNode, index: int) -> None:
        self.node = node
        self.index = index
        self.sysregs: dict[str, int] = {}
        self.read_hooks: dict[str, Callable[[], int]] = {}
        self.write_hooks: dict[str, Callable[[int], None]] = {}
        self.percpu: dict[object, object] = {}
        self.trace: list[tuple[str, str, int]] | None = None  # set to [] to record barriers/maintenance/waits

    def sysreg_read(self, name: str) -> int:
        name = name.lower()
        hook = self.read_hooks.get(name)
        value = hook() if hook is not None else self.sysregs.get(name, 0)
        return value & _U64_MASK

    def sysreg_write(self, name: str, value: int) -> None:
        name = name.lower()
        hook = self.write_hooks.get(name)
        if hook is not None:
            hook(value & _U64_MASK)
        else:
            self.sysregs[name] = value & _U64_MASK

    def record(self, kind: str, op: str = "", value: int = 0) -> None:
        if self.trace is not None:
            self.trace.append((kind, op, value))

    def __repr__(self) -> str:
        return f"MockCpu(node={self.node.node_id}, index={self.index})"


class MockNode:
    """One board: RAM, MMIO bus, CPUs, console, firmware-call handlers, symbols, asm mocks, dialect state."""

    def __init__(self, machine: Machine, node_id: int, cpus: int) -> None:
        self.machine = machine
        self.node_id = node_id
        self.ram = SparseRam()
        self.mmio = MmioBus()
        self.cpus = [MockCpu(self, i) for i in range(cpus)]
        self.console = bytearray()
        self.smc_handler: Callable[[int, int, int, int], int] | None = None
        self.hvc_handler: Callable[[int, int, int, int], int] | None = None
        self.symbols: dict[str, int] = {}
        self.asm_mocks: dict[str, Callable[..., object]] = {}
        # Observer of data-cache maintenance (`dc_op`): (op, address). A test's model of the CPU cache and
        # non-coherent DMA installs one (tests/drivers/models/dma_cache.py); None: maintenance is a no-op.
        self.dc_hook: Callable[[str, int], None] | None = None
        self.statics: dict[object, object] = {}
        self.ops_slots: dict[object, object] = {}

    def console_text(self) -> str:
        return self.console.decode("utf-8", errors="replace")

    def __repr__(self) -> str:
        return f"MockNode({self.node_id}, cpus={len(self.cpus)})"


class ConsoleDevice:
    """Minimal PL011-shaped UART: bytes written to DR (offset 0) go to the node's console; FR reads 0."""

    def __init__(self, node: MockNode) -> None:
        self.node = node

    def read(self, offset: int, width_bytes: int) -> int:
        return 0

    def write(self, offset: int, width_bytes: int, value: int) -> None:
        if offset == 0:
            self.node.console.append(value & 0xFF)


class Machine:
    """A set of nodes plus the scheduling hook the simulator installs (None in plain unit tests)."""

    def __init__(self) -> None:
        self.nodes: list[MockNode] = []
        # Called at every scheduling point (wfe/wfi/cpu_relax/wait_event/irq_wait/contended lock) with the
        # waiting CPU and the kind of wait. None: waits return at once and a contended lock panics.
        self.wait_hook: Callable[[MockCpu, str], None] | None = None

    def add_node(self, cpus: int = 1) -> MockNode:
        node = MockNode(self, len(self.nodes), cpus)
        self.nodes.append(node)
        return node

    @contextmanager
    def on_cpu(self, node: MockNode, cpu_index: int = 0) -> Iterator[MockCpu]:
        """Run the body as `node.cpus[cpu_index]` (re-entrant: the previous CPU is restored on exit)."""
        if node.machine is not self:
            raise MockMachineError("node belongs to another Machine")
        cpu = node.cpus[cpu_index]
        _current.append(cpu)
        try:
            yield cpu
        finally:
            _current.pop()


_current: list[MockCpu] = []


def current_cpu() -> MockCpu:
    if not _current:
        raise MockMachineError("no current CPU: wrap the call in `with machine.on_cpu(node, i):`")
    return _current[-1]


def current_node() -> MockNode:
    return current_cpu().node
