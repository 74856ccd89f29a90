# Byte copies between buffers at host addresses (payload into a tx frame, a fragment into the reassembly
# buffer, a reply into the request table). Done as struct copies of fixed-size packed chunks, so the C is a
# handful of memcpy-sized assignments and CPython copies slices instead of looping over bytes.

from typing import Annotated, Final

from pyhv.lang import Array, Struct, struct_at, struct_copy, u8, u64


class _Chunk1024(Struct, packed=True):
    b: Annotated[Array[u8], 1024]


class _Chunk64(Struct, packed=True):
    b: Annotated[Array[u8], 64]


class _Chunk1(Struct, packed=True):
    b: u8


_K: Final = u64(1024)
_S: Final = u64(64)


def bytecopy(dst: u64, src: u64, n: u64) -> None:
    # Copy n bytes; the ranges must not overlap.
    done = u64(0)
    while n - done >= _K:
        struct_copy(struct_at(_Chunk1024, dst + done), struct_at(_Chunk1024, src + done))
        done += _K
    while n - done >= _S:
        struct_copy(struct_at(_Chunk64, dst + done), struct_at(_Chunk64, src + done))
        done += _S
    while done < n:
        struct_copy(struct_at(_Chunk1, dst + done), struct_at(_Chunk1, src + done))
        done += 1
