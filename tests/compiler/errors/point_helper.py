# Helper for duplicate_class.py: defines class Point (valid on its own).
from pyhv.lang import Struct, u32


class Point(Struct):
    x: u32
