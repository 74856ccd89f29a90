# Helper module for duplicate_public.py / duplicate_image.py (valid on its own).
from pyhv.lang import u32


def shared_name() -> u32:
    return u32(2)
