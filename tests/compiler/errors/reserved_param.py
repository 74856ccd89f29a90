# Parameters follow the local-name rules.
from pyhv.lang import u32


def f(pyhv_index: u32) -> u32:  # error@7: 'pyhv_index': local names starting with 'pyhv_' are reserved for compiler temporaries
    return pyhv_index
