# Struct class names are C type names, unique across the image; both positions are reported.
from pyhv.lang import Struct, u32

import point_helper


class Point(Struct):  # error@1: class name 'Point' is also defined at point_helper.py:5:1 (struct and ops class names are C type names: unique across the image)
    y: u32


def f(p: point_helper.Point) -> u32:
    return p.x
