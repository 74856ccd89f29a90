# Public function names are unique across the image; both positions are reported.
from pyhv.lang import u32

from dup_helper import shared_name


def shared_name() -> u32:  # error@1: 'shared_name' is already defined at duplicate_public.py:4:24
    return u32(1)
