"""Classic pcap files (host tooling, not dialect): a writer for what the cluster switch forwards and a reader
for the tests.

Format: the 24-byte global header (magic 0xa1b2c3d4 = microsecond timestamps, version 2.4, snaplen,
LINKTYPE_ETHERNET = 1) in host byte order, then per frame a 16-byte record header (seconds, microseconds,
captured length, original length) and the frame bytes (Ethernet header first, no FCS).
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

PCAP_MAGIC_US = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D
LINKTYPE_ETHERNET = 1
DEFAULT_SNAPLEN = 65535

_GLOBAL = struct.Struct("<IHHiIII")
_RECORD = struct.Struct("<IIII")


@dataclass(frozen=True)
class PcapRecord:
    ts: float          # seconds since the epoch
    data: bytes        # the captured bytes (at most snaplen)
    orig_len: int      # the frame's length on the wire


class PcapWriter:
    """Appends frames to a new pcap file. Not thread-safe: one writer per thread (the switch's loop)."""

    def __init__(self, path: Path, snaplen: int = DEFAULT_SNAPLEN) -> None:
        self.path = path
        self.snaplen = snaplen
        self.records = 0
        self._file: BinaryIO | None = open(path, "wb")
        self._file.write(_GLOBAL.pack(PCAP_MAGIC_US, 2, 4, 0, 0, snaplen, LINKTYPE_ETHERNET))

    def write(self, frame: bytes, ts: float | None = None) -> None:
        if self._file is None:
            raise ValueError(f"{self.path}: pcap writer already closed")
        when = time.time() if ts is None else ts
        sec = int(when)
        usec = min(int(round((when - sec) * 1_000_000)), 999_999)
        data = frame[:self.snaplen]
        self._file.write(_RECORD.pack(sec, usec, len(data), len(frame)))
        self._file.write(data)
        self.records += 1

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> PcapWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class PcapError(Exception):
    """The file is not a classic pcap file we can read."""


def read_pcap(path: Path) -> tuple[int, list[PcapRecord]]:
    """(link type, records) of a classic pcap file in either byte order, µs or ns timestamps."""
    raw = path.read_bytes()
    if len(raw) < _GLOBAL.size:
        raise PcapError(f"{path}: {len(raw)} bytes, shorter than a pcap header")
    for order in ("<", ">"):
        magic = struct.unpack_from(order + "I", raw, 0)[0]
        if magic in (PCAP_MAGIC_US, PCAP_MAGIC_NS):
            break
    else:
        raise PcapError(f"{path}: not a classic pcap file (magic {raw[:4].hex()})")
    scale = 1e-6 if magic == PCAP_MAGIC_US else 1e-9
    _, major, _, _, _, _, linktype = struct.unpack_from(order + "IHHiIII", raw, 0)
    if major != 2:
        raise PcapError(f"{path}: pcap version {major}, expected 2")
    records: list[PcapRecord] = []
    off = _GLOBAL.size
    while off < len(raw):
        if off + _RECORD.size > len(raw):
            raise PcapError(f"{path}: truncated record header at offset {off}")
        sec, frac, incl, orig = struct.unpack_from(order + "IIII", raw, off)
        off += _RECORD.size
        if off + incl > len(raw):
            raise PcapError(f"{path}: truncated record at offset {off}")
        records.append(PcapRecord(sec + frac * scale, raw[off:off + incl], orig))
        off += incl
    return linktype, records
