# Plain mutable module globals are not dialect.
from pyhv.lang import u32

counter = u32(0)  # error@1: plain mutable module globals are not dialect (use NAME: Final = ... or Static/PerCpu storage)
