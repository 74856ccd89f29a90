"""Golden sample: structs, arrays, static and per-CPU storage, atomics, spinlocks, ops tables, intrinsics."""
from typing import Annotated, Callable, Final

from pyhv.lang import (
    ACQUIRE, RELEASE, Array, Atomic, Ops, OpsSlot, PerCpu, SpinLock, Static, Struct, addr_of, dsb,
    mmio_read32, mmio_write32, sizeof, struct_at, struct_copy, struct_zero, sysreg_read, sysreg_write, u8, u32,
    u64, range,
)


class Header(Struct, packed=True):  # nested in the packed Packet: packed too
    magic: u32
    length: u64


class Packet(Struct, packed=True):
    kind: u8
    hdr: Header
    payload: Annotated[Array[u8], 16]


class Stats(Struct):
    lock: SpinLock
    packets: u64
    ticks: Atomic[u32]
    last: Header


class CpuLocal(Struct):
    traps: u64
    scratch: Annotated[Array[Header], 2]


class DevOps(Ops):
    probe: Callable[[u64], bool]
    read: Callable[[u64], u32]


def _fake_probe(base: u64) -> bool:
    return base != 0


def _fake_read(base: u64) -> u32:
    return mmio_read32(base + 4)


FAKE_OPS: Final = DevOps(probe=_fake_probe, read=_fake_read)
_dev: Final = OpsSlot(DevOps)
_stats: Final = Static(Stats)
_cpu: Final = PerCpu(CpuLocal)


def state_fill(p: Packet, n: u32) -> None:
    p.hdr.length = u64(n)
    p.payload[0] = u8(1)
    for i in range(u64(1), len(p.payload)):
        p.payload[i] = p.payload[i - 1] + 1


def state_count(p: Packet) -> u64:
    s = _stats.get()
    with s.lock:
        s.packets += 1
        struct_copy(s.last, p.hdr)
    s.ticks.fetch_add(u32(1), RELEASE)
    _cpu.get().traps += 1
    _cpu.get().scratch[1].magic = s.ticks.load(ACQUIRE)
    return s.packets


def state_local() -> u64:
    h = Header()
    h.magic = u32(0x1234_5678)
    buf = Array(u8, 8)
    buf[7] = u8(0xFF)
    struct_zero(h)
    view = struct_at(Header, addr_of(h))
    return view.length + sizeof(Header) + u64(buf[7])


def state_dev(base: u64) -> u32:
    _dev.set(FAKE_OPS)
    if not _dev.get().probe(base):
        return u32(0)
    sysreg_write("vbar_el2", sysreg_read("hcr_el2") | 1)
    dsb("sy")
    mmio_write32(base, u32(1))
    return _dev.get().read(base)
