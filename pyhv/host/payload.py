"""Pack a guest (kernel Image, initrd, bootargs) into one pyhv payload blob (host tooling, not dialect).

The format is parsed by pyhv/core/payload.py (the layout is documented there and in docs/vm-model.md):
a 24-byte header ("PYHV", version 1, header size, entry count, total size), one 24-byte entry per part
(kind, flags, offset, size), then the parts, each starting on a 4 KiB boundary so pyhv can copy them with
aligned 64-bit loads. QEMU virt loads the blob with `-initrd payload.bin`; on rpi4 it travels on the SD card.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

MAGIC = 0x56485950          # b"PYHV" read as a little-endian u32
VERSION = 1
HEADER_BYTES = 24
ENTRY_BYTES = 24
ALIGN = 4096
KIND_KERNEL = 1
KIND_INITRD = 2
KIND_BOOTARGS = 3
BOOTARGS_MAX = 256          # VM_BOOTARGS_MAX of pyhv/core/vmconfig.py, NUL included


class PayloadError(ValueError):
    """The parts cannot be packed (e.g. bootargs too long)."""


@dataclass(frozen=True)
class PayloadEntry:
    kind: int
    offset: int
    size: int


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def pack_payload(kernel: bytes, initrd: bytes | None = None, bootargs: str = "") -> bytes:
    """The payload blob for these parts (initrd optional; bootargs always present, maybe empty)."""
    args = bootargs.encode() + b"\0"
    if len(args) > BOOTARGS_MAX:
        raise PayloadError(f"bootargs are {len(args) - 1} bytes; pyhv accepts at most {BOOTARGS_MAX - 1}")
    if not kernel:
        raise PayloadError("the kernel is empty")
    parts = [(KIND_KERNEL, kernel)]
    if initrd is not None:
        parts.append((KIND_INITRD, initrd))
    parts.append((KIND_BOOTARGS, args))
    header_bytes = HEADER_BYTES + ENTRY_BYTES * len(parts)
    offset = _align(header_bytes)
    entries = []
    for kind, data in parts:
        entries.append(PayloadEntry(kind, offset, len(data)))
        offset = _align(offset + len(data))
    total = offset
    blob = bytearray(total)
    struct.pack_into("<IIIIQ", blob, 0, MAGIC, VERSION, header_bytes, len(parts), total)
    for i, (entry, (_, data)) in enumerate(zip(entries, parts)):
        struct.pack_into("<IIQQ", blob, HEADER_BYTES + i * ENTRY_BYTES, entry.kind, 0, entry.offset, entry.size)
        blob[entry.offset:entry.offset + len(data)] = data
    return bytes(blob)


def read_entries(blob: bytes) -> list[PayloadEntry]:
    """The entry table of a blob written by pack_payload (for tests and `pyhv` diagnostics)."""
    magic, version, _header, count, _total = struct.unpack_from("<IIIIQ", blob, 0)
    if magic != MAGIC or version != VERSION:
        raise PayloadError("not a pyhv payload")
    out = []
    for i in range(count):
        kind, _flags, off, size = struct.unpack_from("<IIQQ", blob, HEADER_BYTES + i * ENTRY_BYTES)
        out.append(PayloadEntry(kind, off, size))
    return out


def write_payload(path: Path, kernel: Path, initrd: Path | None, bootargs: str) -> Path:
    """Pack files into `path` (parent directories created); returns the path."""
    blob = pack_payload(kernel.read_bytes(), initrd.read_bytes() if initrd is not None else None, bootargs)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(blob)
    return path


def guest_qemu_args(out_dir: Path, kernel: Path, initrd: Path | None, bootargs: str,
                    log_name: str = "pyhv.log") -> tuple[str, ...]:
    """Pack the guest into out_dir/payload.bin; the QEMU arguments that hand it to pyhv: the payload as
    `-initrd` (pyhv finds it through /chosen linux,initrd-start/end) and a second serial port for pyhv's
    own log (out_dir/<log_name>), so the first one (stdout) carries only the guest's console."""
    for f in (kernel, initrd):
        if f is not None and not f.is_file():
            raise PayloadError(f"{f}: no such file")
    payload = write_payload(out_dir / "payload.bin", kernel, initrd, bootargs)
    return ("-serial", f"file:{out_dir / log_name}", "-initrd", str(payload))
