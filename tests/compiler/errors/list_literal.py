# Lists are not dialect.
from pyhv.lang import u32


def f() -> u32:
    xs = [u32(1), u32(2)]  # error@10: lists are not dialect (use Annotated[Array[T], N] or Array(T, N))
    return u32(0)
