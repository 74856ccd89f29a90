# Only the prelude's decorators are dialect.
from pyhv.lang import u32


@staticmethod  # error@1: decorator 'staticmethod' is not dialect (only @asm_function)
def f() -> u32:
    return u32(0)
