# A literal index is checked against the array length.
from typing import Annotated

from pyhv.lang import Array, Struct, u8


class Buf(Struct):
    data: Annotated[Array[u8], 16]


def f(b: Buf) -> u8:
    return b.data[16]  # error@19: index 16 out of range for Array[u8, 16]
