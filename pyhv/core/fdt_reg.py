# `reg` properties and bus address translation (Devicetree Specification v0.4, §2.3.6 reg, §2.3.8 ranges,
# §2.3.5 #address-cells/#size-cells). A `reg` entry is sized by the parent's cell counts and mapped up
# through every ancestor's `ranges` to a CPU physical address, as peripherals under /soc need on the
# Raspberry Pi 4. No recursion: ancestors are visited in a loop.

from pyhv.lang import Struct, panic, u32, u64

from pyhv.core.fdt import (
    FDT_NONE, fdt_be32, fdt_find_prop, fdt_parent, fdt_prop_len, fdt_prop_u32, fdt_prop_value, fdt_read_cells,
)


class FdtReg(Struct):
    addr: u64           # CPU physical address (after `ranges` translation)
    size: u64


# --- reg and address translation ------------------------------------------------------------------------

def fdt_address_cells(bus: u32) -> u32:
    return fdt_prop_u32(bus, "#address-cells", u32(2))


def fdt_size_cells(bus: u32) -> u32:
    return fdt_prop_u32(bus, "#size-cells", u32(1))


def _translate(bus: u32, addr: u64) -> u64:
    # Map a child-bus address up through every ancestor's `ranges` to a CPU physical address.
    # A bus without `ranges` (or with an empty one) maps 1:1, as /soc nodes of simple boards do.
    child = bus
    a = addr
    while child != FDT_NONE:
        parent = fdt_parent(child)
        if parent == FDT_NONE:
            return a
        prop = fdt_find_prop(child, "ranges")
        if prop != FDT_NONE and fdt_prop_len(prop) != 0:
            cac = fdt_address_cells(child)
            pac = fdt_address_cells(parent)
            csc = fdt_size_cells(child)
            entry = (cac + pac + csc) * 4
            off = fdt_prop_value(prop)
            end = off + fdt_prop_len(prop)
            found = False
            while off + entry <= end and not found:
                caddr = fdt_read_cells(off, cac)
                paddr = fdt_read_cells(off + cac * 4, pac)
                size = fdt_read_cells(off + (cac + pac) * 4, csc)
                if a >= caddr and a - caddr < size:
                    a = paddr + (a - caddr)
                    found = True
                off += entry
            if not found:
                panic("fdt: reg address not covered by the parent's ranges")
        child = parent
    return a


def fdt_reg(node: u32, index: u32, out: FdtReg) -> bool:
    # Entry `index` of the node's `reg`, sized by the parent's #address-cells/#size-cells and translated
    # to a CPU address. False if the node has fewer entries.
    parent = fdt_parent(node)
    if parent == FDT_NONE:
        return False
    ac = fdt_address_cells(parent)
    sc = fdt_size_cells(parent)
    prop = fdt_find_prop(node, "reg")
    if prop == FDT_NONE:
        return False
    entry = (ac + sc) * 4
    if entry == 0 or fdt_prop_len(prop) // entry <= index:
        return False
    off = fdt_prop_value(prop) + index * entry
    out.addr = _translate(parent, fdt_read_cells(off, ac))
    out.size = fdt_read_cells(off + ac * 4, sc) if sc != 0 else u64(0)
    return True


def fdt_intid(node: u32) -> u32:
    # The GIC INTID of the node's first interrupt, `interrupts = <type number flags>` of a GIC with 3
    # interrupt cells: SPI n is INTID 32 + n, PPI n 16 + n. 0 when the node has none in that form.
    prop = fdt_find_prop(node, "interrupts")
    if prop == FDT_NONE or fdt_prop_len(prop) < 12:
        return u32(0)
    kind = fdt_be32(fdt_prop_value(prop))
    number = fdt_be32(fdt_prop_value(prop) + 4)
    if kind == 0:
        return number + 32
    if kind == 1:
        return number + 16
    return u32(0)
