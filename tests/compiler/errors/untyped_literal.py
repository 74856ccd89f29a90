# A local needs a type: plain int variables do not exist.
from pyhv.lang import u32


def f() -> u32:
    x = 5  # error@9: integer literal 5 needs a type here: write u64(5) or similar
    return u32(0)
