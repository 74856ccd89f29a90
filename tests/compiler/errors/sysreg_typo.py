# System register names are checked with keystone at the call site.
from pyhv.lang import sysreg_read, u64


def f() -> u64:
    return sysreg_read("hcr_el3x")  # error@12: invalid system register 'hcr_el3x'
