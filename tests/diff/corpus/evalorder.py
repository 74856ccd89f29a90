"""Differential corpus: evaluation order and single evaluation (docs/dialect.md "Evaluation order"). A counter in
Static state is bumped by callees used inside expressions; each function returns a value that encodes the order
the calls ran in (`_bump` returns the counter after its increment, `_pair(a, b)` = a * 16 + b), so C that
evaluates in another order, or twice, gives a different result. Struct, array and state arguments go to the
private helpers; every public function resets the state it uses first."""
from typing import Annotated, Final

from pyhv.lang import Array, Static, Struct, range, u8, u32, u64


class Box(Struct):
    x: u32
    y: u32


class Ctr(Struct):
    n: u32
    trace: u64  # each _log(v) shifts v in: the order of the calls
    buf: Annotated[Array[u32], 8]
    boxes: Annotated[Array[Box], 4]


_c: Final = Static(Ctr)


def _reset() -> Ctr:
    c = _c.get()
    c.n = u32(0)
    c.trace = u64(0)
    for i in range(u32(8)):
        c.buf[i] = u32(0)
    for i in range(u32(4)):
        c.boxes[i].x = u32(0)
        c.boxes[i].y = u32(0)
    return c


def _bump(c: Ctr) -> u32:
    c.n += 1
    return c.n


def _log(c: Ctr, v: u32) -> u32:
    c.trace = (c.trace << 4) | u64(v & 15)
    return v


def _pair(a: u32, b: u32) -> u32:
    return a * 16 + b


def _triple(a: u32, b: u32, c: u32) -> u32:
    return (a * 16 + b) * 16 + c


def _getbox(c: Ctr, k: u32) -> Box:
    _bump(c)
    return c.boxes[k & 3]


def _slot(c: Ctr, k: u32) -> u32:
    c.buf[k & 7] = c.buf[k & 7] + 100
    return k & 7


def _is(c: Ctr, v: u32, answer: bool) -> bool:
    _log(c, v)
    return answer


def call_args_left_to_right(k: u8) -> u32:
    c = _reset()
    c.n = u32(k & 3)
    return _triple(_bump(c), _bump(c), _bump(c)) + _pair(_bump(c), c.n) * 4096


def binop_operands_in_order(k: u8) -> u32:
    c = _reset()
    c.n = u32(k & 7)
    a = _bump(c) * 16 + _bump(c)
    b = _bump(c) - _bump(c)  # Python: first - second = -1 (wraps)
    return a ^ b


def read_then_call(k: u8) -> u32:
    # The field is read before the call that changes it: c.n + _bump(c) is old n + (old n + 1).
    c = _reset()
    c.n = u32(k)
    v = c.n + _bump(c)
    w = _bump(c) + c.n  # the call first, then the read sees the new value
    return v * 65536 + w


def compare_operands_in_order(k: u8) -> u32:
    c = _reset()
    c.n = u32(k & 7)
    r = u32(0)
    if _bump(c) < _bump(c):
        r |= 1
    if c.n == _bump(c):  # read first: n == n + 1 is False
        r |= 2
    if _bump(c) == c.n:  # call first: True
        r |= 4
    return r * 256 + c.n


def subscript_store_value_first(k: u8) -> u32:
    # Python evaluates the value of `t[i] = v` before the target's index: the index call sees n bumped.
    c = _reset()
    c.n = u32(k & 3)
    c.buf[_bump(c)] = _bump(c) * 16
    total = u32(0)
    for i in range(u32(8)):
        total = total * 2 + c.buf[i]
    return total


def field_store_value_first(k: u8) -> u32:
    c = _reset()
    _getbox(c, u32(k)).x = _pair(_bump(c), u32(k & 15))
    b = c.boxes[k & 3]
    return b.x * 256 + c.n


def augassign_subscript_once(k: u8) -> u32:
    c = _reset()
    c.n = u32(k & 3)
    c.buf[_bump(c)] += 1
    c.buf[_bump(c)] += _bump(c) * 16
    total = u32(0)
    for i in range(u32(8)):
        total = total * 8 + c.buf[i]
    return total + c.n * 65536


def augassign_reads_before_value(k: u8) -> u32:
    # `t[i] += f()` reads t[i] before f runs, even when f changes t[i].
    c = _reset()
    i = u32(k & 7)
    c.buf[i] = u32(5)
    c.buf[i] += c.buf[_slot(c, i)] + _bump(c)
    return c.buf[i]


def augassign_call_target_once(k: u8) -> u32:
    c = _reset()
    _getbox(c, u32(k)).x += 1
    _getbox(c, u32(k)).y += _bump(c)
    b = c.boxes[k & 3]
    return (b.x * 256 + b.y) * 256 + c.n


def range_bounds_in_order(k: u8) -> u32:
    c = _reset()
    c.n = u32(k & 3)
    total = u32(0)
    for i in range(_bump(c), _bump(c) + 3):
        total = total * 16 + i
    return total


def and_or_short_circuit(k: u8) -> u64:
    c = _reset()
    if _is(c, u32(1), (k & 1) != 0) and _is(c, u32(2), (k & 2) != 0):
        _log(c, u32(3))
    if _is(c, u32(4), (k & 4) != 0) or _is(c, u32(5), (k & 8) != 0):
        _log(c, u32(6))
    ok = _is(c, u32(7), (k & 16) != 0) and _pair(_bump(c), _bump(c)) == 0x12
    if ok:
        _log(c, u32(8))
    return c.trace


def conditional_expression_one_branch(k: u8) -> u64:
    c = _reset()
    v = _log(c, u32(1)) if _is(c, u32(2), (k & 1) != 0) else _pair(_log(c, u32(3)), _bump(c))
    w = _pair(_bump(c), _bump(c)) if (k & 2) != 0 else _log(c, u32(4))
    return (c.trace << 16) | u64(v) << 8 | u64(w)


def while_condition_every_iteration(k: u8) -> u32:
    c = _reset()
    steps = u32(0)
    while _bump(c) < c.n + u32(k & 1) and steps < 10:
        steps += 1
    return steps * 256 + c.n


def elif_test_in_order(k: u8) -> u32:
    c = _reset()
    c.n = u32(k & 3)
    if _bump(c) == 2:
        return u32(100) + c.n
    elif _pair(c.n, _bump(c)) == 0x34:
        return u32(200) + c.n
    elif _bump(c) > 4:
        return u32(300) + c.n
    return c.n


def nested_calls_in_order(k: u8) -> u32:
    c = _reset()
    c.n = u32(k & 1)
    return _pair(_pair(_bump(c), _bump(c)), _triple(_bump(c), _pair(_bump(c), _bump(c)) & 15, _bump(c)))


def index_panics_before_later_call(k: u8) -> u32:
    # Out of range: the panic comes before the second call runs (a later call must see the state unchanged).
    c = _reset()
    i = u32(k)
    v = c.buf[i] + _bump(c)
    return v + c.n
