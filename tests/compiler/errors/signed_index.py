# Array indexes are unsigned.
from typing import Annotated

from pyhv.lang import Array, Struct, i32, u8


class Buf(Struct):
    data: Annotated[Array[u8], 16]


def f(b: Buf, i: i32) -> u8:
    return b.data[i]  # error@19: an array index must be an unsigned integer, not i32
