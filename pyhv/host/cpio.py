"""A writer for the cpio "newc" format (the one the Linux initramfs unpacker reads).

Each entry is a 110-byte ASCII header (magic 070701 then 13 eight-digit hex fields), the NUL-terminated name
padded to 4 bytes, then the data padded to 4 bytes; the archive ends with an entry named TRAILER!!!.
Written here so the guest build needs no `cpio` binary and produces byte-identical archives for equal inputs
(fixed inode numbers and mtimes).
"""

from __future__ import annotations

S_IFDIR = 0o040000
S_IFREG = 0o100000
S_IFLNK = 0o120000


def _pad4(n: int) -> bytes:
    return b"\0" * ((4 - n % 4) % 4)


class CpioWriter:
    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._ino = 1
        self._names: set[str] = set()

    def _entry(self, name: str, mode: int, data: bytes) -> None:
        if name in self._names:
            raise ValueError(f"cpio: duplicate entry {name}")
        self._names.add(name)
        fields = [self._ino, mode, 0, 0, 2 if mode & S_IFDIR else 1, 0, len(data), 0, 0, 0, 0,
                  len(name) + 1, 0]
        header = b"070701" + b"".join(b"%08X" % f for f in fields)
        encoded = name.encode() + b"\0"
        self._parts += [header, encoded, _pad4(len(header) + len(encoded)), data, _pad4(len(data))]
        self._ino += 1

    def add_dir(self, name: str, perm: int = 0o755) -> None:
        self._entry(name, S_IFDIR | perm, b"")

    def add_file(self, name: str, data: bytes, perm: int = 0o644) -> None:
        self._entry(name, S_IFREG | perm, data)

    def add_symlink(self, name: str, target: str) -> None:
        self._entry(name, S_IFLNK | 0o777, target.encode())

    def finish(self) -> bytes:
        self._ino = 0
        self._entry("TRAILER!!!", 0, b"")
        return b"".join(self._parts)
