# An array is not a value: it cannot be bound to another name (pass the struct that holds it).
from typing import Annotated

from pyhv.lang import Array, Struct, u8


class Bytes13(Struct):
    raw: Annotated[Array[u8], 13]


def first(a: u8) -> u8:
    t = Bytes13()
    b = t.raw  # error@9: arrays are not assignable (copy elements, or struct_copy a struct)
    return b[0]
