"""The guest payload: packed by the host tool (pyhv/host/payload.py), parsed by pyhv (pyhv/core/payload.py)
from mock RAM. A malformed blob is an error code, never a read outside it."""

from __future__ import annotations

import struct

import pytest

from pyhv.lang import u64

from pyhv.core.payload import (
    PAYLOAD_ERR_BOOTARGS, PAYLOAD_ERR_BOUNDS, PAYLOAD_ERR_KIND, PAYLOAD_ERR_MAGIC, PAYLOAD_ERR_NO_KERNEL,
    PAYLOAD_ERR_SHORT, PAYLOAD_OK, Payload, payload_looks_valid, payload_parse,
)
from pyhv.host.payload import (
    ENTRY_BYTES, HEADER_BYTES, KIND_BOOTARGS, KIND_INITRD, PayloadError, pack_payload, read_entries,
)

from .conftest import Node

BASE = 0x4800_0000


def _load(node: Node, blob: bytes) -> None:
    node.node.ram.write(BASE, blob)


def _parse(node: Node, blob: bytes, size: int | None = None) -> tuple[int, Payload]:
    _load(node, blob)
    out = Payload()
    return int(payload_parse(u64(BASE), u64(len(blob) if size is None else size), out)), out


def test_every_part_is_found_where_the_packer_put_it(node: Node) -> None:
    kernel, initrd = b"K" * 5000, b"I" * 123
    blob = pack_payload(kernel, initrd, "console=ttyAMA0 quiet")
    err, p = _parse(node, blob)
    assert err == PAYLOAD_OK
    assert node.node.ram.read(int(p.kernel_addr), int(p.kernel_size)) == kernel
    assert node.node.ram.read(int(p.initrd_addr), int(p.initrd_size)) == initrd
    assert node.node.ram.read(int(p.bootargs_addr), int(p.bootargs_size)) == b"console=ttyAMA0 quiet\0"
    assert all(e.offset % 4096 == 0 for e in read_entries(blob))


def test_a_payload_without_initrd_has_an_empty_initrd(node: Node) -> None:
    err, p = _parse(node, pack_payload(b"\x00" * 64, None, ""))
    assert err == PAYLOAD_OK and int(p.initrd_size) == 0 and int(p.kernel_size) == 64


def test_a_plain_initramfs_is_not_mistaken_for_a_payload(node: Node) -> None:
    cpio = b"070701" + b"0" * 200
    _load(node, cpio)
    assert not payload_looks_valid(u64(BASE), u64(len(cpio)))
    assert _parse(node, cpio)[0] == PAYLOAD_ERR_MAGIC


def test_a_blob_shorter_than_its_header_says_is_rejected(node: Node) -> None:
    blob = pack_payload(b"K" * 100, b"I" * 100, "x")
    assert _parse(node, blob, size=len(blob) - 1)[0] == PAYLOAD_ERR_SHORT
    assert _parse(node, blob[:10], size=10)[0] == PAYLOAD_ERR_SHORT


def test_an_entry_reaching_past_the_blob_is_rejected(node: Node) -> None:
    blob = bytearray(pack_payload(b"K" * 100, None, "x"))
    struct.pack_into("<Q", blob, HEADER_BYTES + 16, 1 << 40)       # kernel size_bytes
    assert _parse(node, bytes(blob))[0] == PAYLOAD_ERR_BOUNDS
    struct.pack_into("<QQ", blob, HEADER_BYTES + 8, (1 << 64) - 8, 16)   # offset + size wraps around
    assert _parse(node, bytes(blob))[0] == PAYLOAD_ERR_BOUNDS


def test_bootargs_without_a_terminating_nul_are_rejected(node: Node) -> None:
    blob = bytearray(pack_payload(b"K" * 100, None, "abc"))
    off = next(e.offset for e in read_entries(bytes(blob)) if e.kind == KIND_BOOTARGS)
    blob[off + 3] = ord("d")
    assert _parse(node, bytes(blob))[0] == PAYLOAD_ERR_BOOTARGS


def test_a_payload_without_kernel_or_with_a_repeated_part_is_rejected(node: Node) -> None:
    blob = bytearray(pack_payload(b"K" * 100, b"I", "x"))
    struct.pack_into("<I", blob, HEADER_BYTES, KIND_INITRD)          # the kernel entry becomes an initrd
    assert _parse(node, bytes(blob))[0] == PAYLOAD_ERR_KIND
    struct.pack_into("<I", blob, HEADER_BYTES, 99)
    assert _parse(node, bytes(blob))[0] == PAYLOAD_ERR_KIND
    no_kernel = bytearray(pack_payload(b"K", None, "x"))
    struct.pack_into("<I", no_kernel, HEADER_BYTES, KIND_INITRD)
    assert _parse(node, bytes(no_kernel))[0] == PAYLOAD_ERR_NO_KERNEL


def test_the_packer_refuses_bootargs_pyhv_cannot_hold() -> None:
    with pytest.raises(PayloadError):
        pack_payload(b"K", None, "x" * 300)
    assert ENTRY_BYTES == 24
