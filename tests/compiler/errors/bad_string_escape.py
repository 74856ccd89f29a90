# A malformed escape in a string literal.
from pyhv.lang import kprint


def f() -> None:
    kprint("\x4\n")  # error@12: invalid string literal ((unicode error) 'unicodeescape' codec can't decode bytes in position 0-2: truncated \xXX escape)
