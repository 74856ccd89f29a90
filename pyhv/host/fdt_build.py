"""Flattened device tree writer for host tooling (Devicetree Specification v0.4, chapter 5).

Used by the build to write the host DTB of boards whose loader does not make one (rpi4 under QEMU's -dtb, or
an SD card). Plain CPython, not dialect. Usage:

    fdt = FdtBuilder()
    fdt.begin_node("")                      # the root
    fdt.prop_u32("#address-cells", 2)
    fdt.begin_node("memory@0"); fdt.prop_str("device_type", "memory"); fdt.end_node()
    fdt.end_node()
    blob = fdt.finish()
"""

from __future__ import annotations

import struct

FDT_MAGIC = 0xD00DFEED
FDT_BEGIN_NODE = 1
FDT_END_NODE = 2
FDT_PROP = 3
FDT_END = 9
_HEADER_SIZE = 40


def _pad4(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


class FdtBuilder:
    """Accumulates nodes and properties in order; `finish()` returns the blob (version 17)."""

    def __init__(self, boot_cpuid: int = 0) -> None:
        self._struct = bytearray()
        self._strings = bytearray()
        self._string_offsets: dict[str, int] = {}
        self._reserved: list[tuple[int, int]] = []
        self._depth = 0
        self._boot_cpuid = boot_cpuid

    def reserve(self, address: int, size: int) -> None:
        """Add a memory reservation block entry (/memreserve/)."""
        self._reserved.append((address, size))

    def begin_node(self, name: str) -> None:
        self._struct += struct.pack(">I", FDT_BEGIN_NODE) + _pad4(name.encode() + b"\0")
        self._depth += 1

    def end_node(self) -> None:
        if self._depth == 0:
            raise ValueError("end_node without begin_node")
        self._struct += struct.pack(">I", FDT_END_NODE)
        self._depth -= 1

    def prop(self, name: str, value: bytes) -> None:
        if self._depth == 0:
            raise ValueError(f"property {name} outside any node")
        if name not in self._string_offsets:
            self._string_offsets[name] = len(self._strings)
            self._strings += name.encode() + b"\0"
        self._struct += struct.pack(">III", FDT_PROP, len(value), self._string_offsets[name])
        self._struct += _pad4(value)

    def prop_empty(self, name: str) -> None:
        self.prop(name, b"")

    def prop_u32(self, name: str, *values: int) -> None:
        self.prop(name, b"".join(struct.pack(">I", v) for v in values))

    def prop_u64(self, name: str, *values: int) -> None:
        self.prop(name, b"".join(struct.pack(">Q", v) for v in values))

    def prop_str(self, name: str, *values: str) -> None:
        """One string, or a string list (each NUL-terminated), e.g. compatible."""
        self.prop(name, b"".join(v.encode() + b"\0" for v in values))

    def prop_cells(self, name: str, cells: list[tuple[int, int]]) -> None:
        """Cells given as (value, number of 32-bit cells) pairs, e.g. reg with #address-cells = 2."""
        data = b""
        for value, ncells in cells:
            for i in reversed(range(ncells)):
                data += struct.pack(">I", (value >> (32 * i)) & 0xFFFFFFFF)
        self.prop(name, data)

    def finish(self) -> bytes:
        if self._depth != 0:
            raise ValueError(f"{self._depth} node(s) left open")
        rsvmap = b"".join(struct.pack(">QQ", a, s) for a, s in self._reserved) + struct.pack(">QQ", 0, 0)
        dt_struct = bytes(self._struct) + struct.pack(">I", FDT_END)
        off_rsvmap = _HEADER_SIZE
        off_struct = off_rsvmap + len(rsvmap)
        off_strings = off_struct + len(dt_struct)
        total = off_strings + len(self._strings)
        header = struct.pack(">10I", FDT_MAGIC, total, off_struct, off_strings, off_rsvmap, 17, 16,
                             self._boot_cpuid, len(self._strings), len(dt_struct))
        return header + rsvmap + dt_struct + bytes(self._strings)
