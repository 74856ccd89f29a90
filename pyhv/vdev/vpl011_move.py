# The vPL011's state as one node hands it to another (pyhv/core/remote_uart.py moves the console UART to the
# node that uses it; docs/cluster-vm.md "The console UART moves"). Vpl011Image is everything a guest can
# observe of the device (docs/protocol.md gives its layout); the rest are the hooks the moving code needs on
# the console's node: its input source told to signal or hold, bytes and line levels computed elsewhere.

from pyhv.lang import Struct, struct_copy, u8, u16, u32

from pyhv.vdev.vpl011 import VPL011_FIFO_DEPTH, Vpl011Regs, vpl011_ops, vpl011_rx_fill_locked, vpl011_state


class Vpl011Image(Struct, packed=True):
    # Everything a guest can observe of the device, as one node hands it to another (docs/protocol.md).
    r: Vpl011Regs
    irq_level: u8
    rx_wanted: u8
    pad: u16
    pad2: u32


def vpl011_save(img: Vpl011Image) -> None:
    # The device's state, for the node that takes it over. The caller keeps every guest access and the
    # input away from this node's copy from now on (it no longer holds the device).
    st = vpl011_state()
    with st.lock:
        struct_copy(img.r, st.r)
        img.irq_level = u8(1) if st.irq_level else u8(0)
        img.rx_wanted = u8(1) if st.rx_wanted else u8(0)


def vpl011_image_ok(img: Vpl011Image) -> bool:
    # An image from another node: indices inside the FIFO (a malformed frame must not make us index past it).
    return img.r.rx_head < VPL011_FIFO_DEPTH and img.r.rx_count <= VPL011_FIFO_DEPTH and img.irq_level <= 1 \
        and img.rx_wanted <= 1


def vpl011_load(img: Vpl011Image, resync_input: bool) -> None:
    # Take the device over from `img` (checked with vpl011_image_ok). The interrupt line keeps the level
    # the image says it has (the sender's node told the distributor). resync_input: this node's console
    # input source was left in an unknown mask state while the device was away; tell it afresh.
    st = vpl011_state()
    with st.lock:
        struct_copy(st.r, img.r)
        st.irq_level = img.irq_level != 0
        st.rx_wanted = img.rx_wanted != 0
        if resync_input:
            st.rx_wanted = False
            vpl011_ops().rx_wanted(False)
        vpl011_rx_fill_locked(st)


def vpl011_watch_input() -> None:
    # The device left this node, which owns the console input: have the source signal every byte, so that
    # input brings the device back (remote_uart_input).
    vpl011_ops().rx_wanted(True)


def vpl011_hold_input() -> None:
    vpl011_ops().rx_wanted(False)


def vpl011_emit(c: u8) -> None:
    # A byte the guest transmitted on the node that holds the device, arriving at the console's node.
    st = vpl011_state()
    with st.lock:
        vpl011_ops().tx(c)


def vpl011_line(level: bool) -> None:
    # The interrupt line's level as the node that holds the device computed it, at the distributor's node.
    st = vpl011_state()
    with st.lock:
        vpl011_ops().irq(level)
