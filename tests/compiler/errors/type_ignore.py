# `# type: ignore` is not allowed in dialect code.
from pyhv.lang import u32


def f(a: u32) -> u32:
    return a  # type: ignore  # error@15: '# type: ignore' is not allowed in dialect code
