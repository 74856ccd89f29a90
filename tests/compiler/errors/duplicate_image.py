# Two modules defining the same public function name collide in C; both positions are reported.
from pyhv.lang import u32

import dup_helper


def shared_name() -> u32:  # error@1: public name 'shared_name' is also defined at dup_helper.py:5:1 (public names must be unique across the image)
    return dup_helper.shared_name()
