"""Golden sample: integer semantics, control flow, assert, kprint."""
from typing import Final

from pyhv.lang import i8, i32, kprint, range, sdiv, srem, u8, u16, u32, u64

PAGE_SHIFT: Final = 12
LIMIT: Final = u32(1000)


def arith_mix(a: u8, b: u8, c: u16, d: u32, e: u64) -> u64:
    x = a * b + 1
    y = c - u16(x)
    z = (d << 3) | u32(y)
    w = e >> PAGE_SHIFT
    return w + u64(z) // 7 + (e % u64(d))


def arith_signed(a: i32, b: i32, n: i8) -> i32:
    q = sdiv(a, b)
    r = srem(a, b)
    m = -n
    return q * 2 - r + i32(m) + (a >> 31)


def arith_shift_var(v: u32, c: u32, s: i32) -> u32:
    return (v << c) ^ (v >> s)


def arith_sum_to(n: u32) -> u32:
    total = u32(0)
    for i in range(n):
        if i == 3:
            continue
        elif i > LIMIT:
            break
        total += i
    assert total != 7, "seven is unlucky"
    k = u32(0)
    while k < n and total > 0:
        k += 1
    kprint("sum=%u k=%x neg=%d byte=%c [%08x]\n", total, k, i32(-1), u8(65), total)
    return total if k != 0 else u32(1)


def _arith_unused_helper(a: u32) -> u32:
    # Private and never called from C (CPython tests may call it): must not trip -Wunused-function.
    return a


def arith_wrap(x: u32) -> u64:
    # Conversions of out-of-range literals wrap like C casts: u32(-1) == 0xFFFF_FFFF.
    return u64(u32(-1) ^ x) + u64(u8(300)) + u64(-1)
