# // and % exist only on unsigned types.
from pyhv.lang import i32


def f(a: i32, b: i32) -> i32:
    return a // b  # error@14: '//' is only for unsigned integers; use sdiv() for i32
