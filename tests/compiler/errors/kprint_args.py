# kprint formats are checked against their arguments.
from pyhv.lang import i32, kprint


def f(a: i32) -> None:
    kprint("a=%u\n", a)  # error@22: expected an unsigned integer, not i32
