"""Differential corpus: loops (while, for-range, break, continue, early return), branches, bool logic with
short-circuit evaluation, conditional expressions and assert. Every loop is bounded whatever the inputs."""
from pyhv.lang import range, i16, i32, panic, u8, u16, u32, u64


def popcount_u64(x: u64) -> u64:
    n = u64(0)
    v = x
    while v != 0:
        v &= v - 1
        n += 1
    return n


def gcd_u64(a: u64, b: u64) -> u64:
    x = a
    y = b
    while y != 0:
        t = x % y
        x = y
        y = t
    return x


def collatz_steps(n: u64) -> u32:
    # `v & 1 == 0` is `(v & 1) == 0` in Python: the C must keep the Python precedence.
    steps = u32(0)
    v = n
    while v > 1 and steps < 500:
        if v & 1 == 0:
            v = v >> 1
        else:
            v = v * 3 + 1
        steps += 1
    return steps


def bit_reverse_u32(x: u32) -> u32:
    r = u32(0)
    for i in range(u32(32)):
        r = (r << 1) | ((x >> i) & 1)
    return r


def isqrt_u64(n: u64) -> u64:
    lo = u64(0)
    hi = u64(0xFFFF_FFFF)
    while lo < hi:
        mid = hi - (hi - lo) // 2
        if mid * mid <= n and mid <= 0xFFFF_FFFF:
            lo = mid
        else:
            hi = mid - 1
    return lo


def sum_range_u32(a: u32, b: u32) -> u32:
    lo = a & 0xFF
    hi = b & 0x1FF
    s = u32(0)
    for i in range(lo, hi):
        if i % 7 == 0:
            continue
        if i > 400:
            break
        s += i * i
    return s


def range_signed_i32(a: i32, b: i32) -> i32:
    lo = a >> 24
    hi = b >> 24
    s = i32(1)
    for i in range(lo, hi):
        s = s * 3 + i
    return s


def range_u8_top(a: u8) -> u32:
    # Bounds near the top of u8: the loop variable must not wrap before the end test.
    n = u32(0)
    for i in range(a, u8(255)):
        n += u32(i)
    return n


def nested_loops(n: u8) -> u32:
    lim = n % 24
    count = u32(0)
    for i in range(lim):
        if i == 13:
            continue
        for j in range(i, lim):
            if (i ^ j) & 1 == 1:
                continue
            if j > 20:
                break
            count += 1
    return count


def first_multiple_of(a: u32, k: u32) -> u32:
    i = u32(0)
    while True:
        if i >= 1000:
            return u32(0xFFFF_FFFF)
        if (a + i) % (k | 1) == 0:
            return i
        i += 1


def max_u32(a: u32, b: u32) -> u32:
    if a > b:
        m = a
    else:
        m = b
    return m


def classify_i16(a: i16) -> u8:
    if a < -1000:
        return u8(0)
    elif a < 0:
        return u8(1)
    elif a == 0:
        return u8(2)
    elif a <= 1000:
        return u8(3)
    return u8(4)


def sign_i32(a: i32) -> i32:
    return i32(-1) if a < 0 else (i32(0) if a == 0 else i32(1))


def div_guarded(a: u32, b: u32) -> bool:
    # Short-circuit: a // b must not run (and panic) when b == 0.
    return b != 0 and a // b > 2


def mod_guarded(a: u32, b: u32) -> bool:
    return b == 0 or a % b == 0


def logic_mix(a: u8, b: u8, c: u8) -> u8:
    x = a > b
    y = not (b == c)
    z = x and y or a == c
    w = not x or not z
    r = u8(0)
    if z:
        r |= 1
    if w:
        r |= 2
    if x != y:
        r |= 4
    if (a & 1 == 1) == (c & 2 == 2):
        r |= 8
    return r


def annotated_locals(a: u16, b: u16) -> u16:
    x: u16 = a
    flag: bool = False
    for k in range(u8(4)):
        x = x * 5 + b + u16(k)
        flag = not flag
    return x if flag else ~x


def assert_positive(a: i32) -> i32:
    assert a > 0, "a must be positive"
    return a - 1


def assert_in_loop(a: u32) -> u32:
    s = u32(0)
    for i in range(u32(10)):
        s += a >> i
        assert s != 0x1234
    return s


def explicit_panic(a: u32) -> u32:
    if a % 13 == 0:
        panic("multiple of 13")
    return a + 1
