# CPython reads a tab as up to 8 columns and refuses some mixes (TabError) but not others.
from pyhv.lang import u32


def f(x: u32) -> u32:
    if x == 1:
	return x  # error@1: indent with spaces: a tab in indentation is not dialect
    return x
