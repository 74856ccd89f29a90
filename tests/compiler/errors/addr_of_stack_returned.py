# The address of a T() local dangles in C once the function returns; CPython keeps the storage alive.
from pyhv.lang import Struct, addr_of, u64


class Box(Struct):
    x: u64


def f() -> u64:
    b = Box()
    a = addr_of(b) + 8
    return a  # error@12: the address of this function's stack storage cannot be returned: it dangles in C once the function returns (CPython keeps the storage alive)
