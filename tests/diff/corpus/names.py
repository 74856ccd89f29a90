"""Differential corpus: dialect names that are C keywords, typedefs or runtime functions (`switch`, `int` next
to `int_`, `uint64_t`, `panic_at` as a local in a function that asserts), as locals, parameters and fields: the
C spells them `name__` (dialect names cannot contain `__`), so nothing collides and the results agree."""
from pyhv.lang import Struct, range, u8, u32


class Kw(Struct):
    int: u32
    int_: u32
    default: u8


def keyword_locals(switch: u32, int_: u32) -> u32:
    uint64_t = switch ^ int_
    int = uint64_t * 3
    panic_at = int + 1
    assert panic_at != 0, "the local panic_at does not hide the runtime's panic_at"
    return int + int_ + panic_at


def keyword_fields(a: u32, b: u8) -> u32:
    k = Kw()
    k.int = a
    k.int_ = a + 7
    k.default = b
    total = u32(0)
    for case in range(u32(b & 7)):
        total += case
    return k.int ^ (k.int_ << 1) ^ u32(k.default) ^ total
