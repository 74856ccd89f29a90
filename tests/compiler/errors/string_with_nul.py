# A C string ends at its first NUL: str_byte and kprint would see less than CPython.
from pyhv.lang import kprint


def f() -> None:
    kprint("a\0b\n")  # error@12: a string literal cannot contain NUL (the C string would end there)
