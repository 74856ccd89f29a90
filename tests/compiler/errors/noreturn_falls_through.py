# A NoReturn function must not return.
from typing import NoReturn

from pyhv.lang import u32, kprint


def stop(n: u32) -> NoReturn:
    kprint("stop %u\n", n)  # error@5: stop() is declared NoReturn but can reach the end of its body
