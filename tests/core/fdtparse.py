"""A tiny FDT decoder for tests, independent of pyhv's reader: blob -> (reservations, tree of dicts)."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field


@dataclass
class DtNode:
    name: str
    props: dict[str, bytes] = field(default_factory=dict)
    children: dict[str, DtNode] = field(default_factory=dict)

    def path(self, p: str) -> DtNode:
        node = self
        for part in [x for x in p.split("/") if x]:
            node = node.children[part]
        return node

    def u32s(self, name: str) -> list[int]:
        v = self.props[name]
        return list(struct.unpack(f">{len(v) // 4}I", v))

    def strs(self, name: str) -> list[str]:
        v = self.props[name]
        assert v.endswith(b"\0"), f"{name} is not NUL-terminated"
        return v[:-1].decode().split("\0")


def parse(blob: bytes) -> tuple[dict[str, int], list[tuple[int, int]], DtNode]:
    """Header fields, /memreserve/ entries, and the root node. Asserts the structural rules."""
    keys = ["magic", "totalsize", "off_dt_struct", "off_dt_strings", "off_mem_rsvmap", "version",
            "last_comp_version", "boot_cpuid_phys", "size_dt_strings", "size_dt_struct"]
    hdr = dict(zip(keys, struct.unpack(">10I", blob[:40])))
    assert hdr["magic"] == 0xD00DFEED and hdr["totalsize"] == len(blob)
    rsv, off = [], hdr["off_mem_rsvmap"]
    while True:
        a, s = struct.unpack(">QQ", blob[off:off + 16])
        off += 16
        if a == 0 and s == 0:
            break
        rsv.append((a, s))
    strings = blob[hdr["off_dt_strings"]:hdr["off_dt_strings"] + hdr["size_dt_strings"]]
    off = hdr["off_dt_struct"]
    end = off + hdr["size_dt_struct"]
    stack: list[DtNode] = []
    root: DtNode | None = None
    while off < end:
        (tok,) = struct.unpack(">I", blob[off:off + 4])
        off += 4
        if tok == 1:
            nul = blob.index(b"\0", off)
            node = DtNode(blob[off:nul].decode())
            off = (nul + 4) & ~3
            if stack:
                assert node.name not in stack[-1].children, f"duplicate node {node.name}"
                stack[-1].children[node.name] = node
            else:
                assert root is None, "two root nodes"
                root = node
            stack.append(node)
        elif tok == 3:
            length, nameoff = struct.unpack(">II", blob[off:off + 8])
            off += 8
            name = strings[nameoff:strings.index(b"\0", nameoff)].decode()
            assert name not in stack[-1].props, f"duplicate property {name}"
            stack[-1].props[name] = blob[off:off + length]
            off = (off + length + 3) & ~3
        elif tok == 2:
            stack.pop()
        elif tok == 9:
            assert off == end and not stack
            break
        else:
            raise AssertionError(f"bad token {tok} at {off - 4}")
    assert root is not None
    return hdr, rsv, root
