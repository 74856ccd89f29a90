# An array is not a value: it cannot be a parameter (pass the struct that holds it).
from typing import Annotated

from pyhv.lang import Array, u8


def fill(buf: Annotated[Array[u8], 8], v: u8) -> None:  # error@15: a parameter cannot have type Array[u8, 8]
    buf[0] = v
