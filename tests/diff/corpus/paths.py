"""Differential corpus: the 'every path' rules (docs/dialect.md §2) and the constants that used to be emitted
as over-long C literals. Locals assigned on every path through if/elif/else, loops with break/continue and
`while True`, returns on every path, the most negative i64 literal, and shift counts far past the width."""
from pyhv.lang import range, u8, u32, u64, i64


def assigned_every_path(k: u8, n: u8) -> u32:
    if k < 10:
        x = u32(1)
    elif k < 100:
        x = u32(k) * 3
    else:
        x = u32(n)
    i = u32(0)
    for i in range(u32(n & 15)):
        if i == u32(k & 15):
            break
        if i == 3:
            continue
        x += i
    while True:
        if x > 50:
            y = x - 50
            break
        x += 7
    return x * 1000 + y * 10 + i


def returns_every_path(k: u8) -> u32:
    while True:
        for i in range(u32(k & 7), u32(12)):
            if i == 9:
                return i + u32(k)
        if k == 200:
            return u32(7)
        k += 1


def int64_min_literals(a: u32) -> u64:
    m = i64(-9223372036854775808)
    return u64(-9223372036854775808) ^ u64(m + i64(a)) ^ u64(a)


def shift_far_past_width(a: u64, b: i64) -> u64:
    big = u64(a << 4611686018427387904) | u64(b >> 18446744073709551615)
    return big ^ (a >> 0xFFFF_FFFF_FFFF_FFFF)
