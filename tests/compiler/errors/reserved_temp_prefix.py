# Locals may not start with pyhv_: the compiler's temporaries (pyhv_t1_bump) and runtime helpers use it.
from pyhv.lang import u32


def f(a: u32) -> u32:
    pyhv_t1_v = a + 1  # error@5: 'pyhv_t1_v': local names starting with 'pyhv_' are reserved for compiler temporaries
    return pyhv_t1_v
