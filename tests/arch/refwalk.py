"""An independent stage-2 table walker for the tests, written from the ARM ARM rules (DDI 0487, D8:
VMSAv8-64, 4 KiB granule, 40-bit IPA, walk starting at level 1 with two concatenated tables), not from
pyhv's code. It reads the mock node's RAM directly."""

from __future__ import annotations

from dataclasses import dataclass

from pyhv.lang.machine import MockNode

OA_MASK = 0x0000_FFFF_FFFF_F000


@dataclass(frozen=True)
class Leaf:
    pa: int         # output address of the IPA (offset included)
    level: int
    s2ap: int       # [7:6]: bit 0 read, bit 1 write
    memattr: int    # [5:2]
    sh: int         # [9:8]
    af: int         # [10]
    xn: int         # [54]


def read64(node: MockNode, addr: int) -> int:
    return int.from_bytes(node.ram.read(addr, 8), "little")


def walk(node: MockNode, root: int, ipa: int) -> Leaf | None:
    assert ipa < 1 << 40
    table = root
    for level in (1, 2, 3):
        shift = 12 + 9 * (3 - level)
        index = (ipa >> shift) & (0x3FF if level == 1 else 0x1FF)
        d = read64(node, table + 8 * index)
        if d & 1 == 0:
            return None
        if level < 3 and d & 2:
            table = d & OA_MASK
            continue
        if level == 3 and d & 2 == 0:
            return None                 # 0b01 at level 3 is reserved (invalid)
        size = 1 << shift
        return Leaf(pa=(d & OA_MASK & ~(size - 1)) | (ipa & (size - 1)), level=level, s2ap=(d >> 6) & 3,
                    memattr=(d >> 2) & 0xF, sh=(d >> 8) & 3, af=(d >> 10) & 1, xn=(d >> 54) & 1)
    raise AssertionError("unreachable")
