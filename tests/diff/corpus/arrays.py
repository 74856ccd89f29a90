"""Differential corpus: fixed arrays — locals and struct fields, of ints and of structs — indexing with
different unsigned index types and literals, len(), bounds checks (out of range -> panic) and checksums."""
from typing import Annotated

from pyhv.lang import range, Array, Struct, u8, u16, u32, u64


class Slot(Struct):
    key: u32
    value: u16


class Table(Struct):
    count: u32
    slots: Annotated[Array[Slot], 8]
    raw: Annotated[Array[u8], 13]


def checksum_bytes(seed: u32, n: u8) -> u32:
    # Fill a 64-byte buffer from an LCG, then an Adler-like checksum over the first n bytes (clamped).
    buf = Array(u8, 64)
    x = seed
    for i in range(u64(64)):
        x = x * 1103515245 + 12345
        buf[i] = u8(x >> 16)
    lim = u64(n) if u64(n) < len(buf) else u64(len(buf))
    s1 = u32(1)
    s2 = u32(0)
    for i in range(u64(0), lim):
        s1 = (s1 + u32(buf[i])) % 65521
        s2 = (s2 + s1) % 65521
    return (s2 << 16) | s1


def array_index(seed: u32, idx: u64) -> u32:
    # idx >= 16 must panic in both worlds.
    a = Array(u32, 16)
    for i in range(u64(16)):
        a[i] = seed ^ u32(i * 0x9E3779B9)
    return a[idx]


def array_store_oob(idx: u8, v: u16) -> u16:
    a = Array(u16, 10)
    a[idx] = v
    return a[9] + a[0]


def array_u8_index(seed: u8, idx: u8) -> u8:
    a = Array(u8, 200)
    for i in range(u64(200)):
        a[i] = u8(i) * seed
    a[0] = u8(1)
    a[199] = u8(2)
    return a[idx]


def array_literal_index(a0: u32, a1: u32) -> u32:
    a = Array(u32, 3)
    a[0] = a0
    a[1] = a1
    a[2] = a[0] + a[1]
    return a[2] * 3 + u32(len(a))


def table_slots(seed: u32, idx: u16) -> u32:
    t = Table()
    for i in range(u64(8)):
        s = t.slots[i]
        s.key = seed + u32(i)
        s.value = u16(seed >> u32(i))
        t.count += 1
    t.slots[u64(idx) & 7].value += 1
    total = u32(0)
    for i in range(u64(0), len(t.slots)):
        total = total * 31 + t.slots[i].key + u32(t.slots[i].value)
    return total + t.count


def table_slot_oob(idx: u64) -> u32:
    t = Table()
    t.slots[idx].key = u32(5)
    return t.slots[7].key


def table_bytes(a: u8, idx: u8) -> u32:
    t = Table()
    t.raw[0] = a
    t.raw[12] = a + 1
    t.raw[idx] = u8(0xEE)
    r = u32(0)
    for i in range(u64(13)):
        r = (r << 2) ^ u32(t.raw[i])
    return r


def struct_array_local(seed: u32, k: u8) -> u32:
    arr = Array(Slot, 5)
    for i in range(u64(5)):
        arr[i].key = seed * u32(i + 1)
    arr[u64(k)].value = u16(seed)
    return arr[4].key + u32(arr[u64(k % 5)].value)
