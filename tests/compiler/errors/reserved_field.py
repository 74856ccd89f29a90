# Field names may not contain `__` either: the C spells a field named `int` as `int__`.
from pyhv.lang import Struct, u32


class K(Struct):
    int: u32
    int__: u32  # error@5: 'int__': field names containing '__' are reserved (the C spelling of fields named like C keywords)
