# A packed struct sits at any address: a reference to an unpacked nested struct could be misaligned in C.
from pyhv.lang import Struct, u8, u32


class Header(Struct):
    magic: u32


class Frame(Struct, packed=True):
    kind: u8
    hdr: Header  # error@5: field 'hdr' of packed struct Frame is struct Header, which is not packed: a reference to it could be misaligned (declare it packed=True)
