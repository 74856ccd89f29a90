# An Ops table must fill every field of its class.
from typing import Callable, Final

from pyhv.lang import Ops


class GicOps(Ops):
    init: Callable[[], None]
    eoi: Callable[[], None]


def _init() -> None:
    pass


GIC_OPS: Final = GicOps(init=_init)  # error@18: ops table GicOps is missing 'eoi'
