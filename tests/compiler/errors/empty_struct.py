# C has no empty struct (GNU C: size 0, two locals may share an address).
from pyhv.lang import Struct


class Empty(Struct):  # error@1: struct Empty has no fields: a struct needs at least one
    pass
