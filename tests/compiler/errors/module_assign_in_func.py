# Module-level names are not assignable from functions.
from typing import Final

from pyhv.lang import u32

LIMIT: Final = u32(4)


def f() -> None:
    LIMIT = u32(5)  # error@5: 'LIMIT' is a module-level name; module state is not assignable (use Static/PerCpu storage)
