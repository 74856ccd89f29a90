# kprint needs one argument per conversion.
from pyhv.lang import kprint, u32


def f(a: u32) -> None:
    kprint("a=%u b=%u\n", a)  # error@5: kprint format has 2 conversion(s) but 1 argument(s) were given
