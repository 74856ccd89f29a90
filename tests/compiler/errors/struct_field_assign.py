# Struct values are copied explicitly.
from pyhv.lang import Struct, u32


class In(Struct):
    a: u32


class Out(Struct):
    inner: In


def f(o: Out, i: In) -> None:
    o.inner = i  # error@5: cannot assign a In field (use struct_copy)
