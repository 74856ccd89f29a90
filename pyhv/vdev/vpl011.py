# The guest's UART: an emulated Arm PrimeCell PL011 (Arm DDI 0183, "PrimeCell UART (PL011) Technical
# Reference Manual", §3 registers, §2.9 interrupts), described by ONE register table (VPL011_ROWS).
#
# Transmit: a byte written to DR goes at once to the output hook (the host console, or on a node that holds
# the device for a while, a buffer sent to the console's node: pyhv/core/remote_uart.py), so the TX FIFO
# is always empty: FR.TXFE = 1, TXFF = BUSY = 0. Every DR write therefore drains the FIFO past its trigger
# level, which sets TXRIS, as it does when TX becomes enabled (CR.UARTEN and CR.TXE); ICR clears it.
# Linux's amba-pl011 driver writes until FR.TXFF and, with characters left, unmasks TXIM and waits for
# that interrupt: without it, console output would stall.
# Receive: a 16-byte FIFO (1 byte with LCR_H.FEN clear), the real PL011's depth, so a guest driver sees
# the FIFO it was written for. It is filled by PULLING bytes from the console input (Vpl011Ops.rx_get:
# the host UART on one node, pyhv/core/console_rx.py) whenever it has room and the receiver is on
# (CR.UARTEN and CR.RXE): when the host signals input (vpl011_rx_ready), after each DR read, on an FR read
# (a polling guest) and when the receiver is switched on. While the FIFO is full or the receiver off,
# rx_wanted(False) asks the source to hold its bytes (the host UART keeps them in its own FIFO and QEMU
# stops reading stdin): nothing is dropped, however fast the input comes. RXRIS follows "FIFO at or above
# the IFLS trigger level"; a non-empty FIFO below the level raises the receive timeout RTRIS at once (the
# 32-bit-period timer is not modelled); both clear when reads take the FIFO below the level / empty, or
# through ICR. DR reads return the byte with the error bits [11:8] zero (no framing, parity, break or
# overrun errors: input is never overrun), RSR/ECR reads 0.
# Interrupt output: level (RIS & IMSC) != 0, sent to the vGIC through the Vpl011Ops slot on every change.
# Accesses may be 8, 16 or 32 bits wide (Linux uses 16-bit accesses for "arm,pl011", 32-bit for its ID
# registers and its earlycon). Modem lines, errors, IrDA and DMA are not modelled (DMACR is stored).
# Locking: the host input interrupt (on the console's CPU) and guest accesses (any vCPU) meet in the state
# below; `lock` covers it and every call into Vpl011Ops. Lock order: vpl011 lock -> vGIC irq lock (the irq
# hook), never the reverse.

from typing import Annotated, Callable, Final

from pyhv.lang import Array, Ops, OpsSlot, SpinLock, Static, Struct, u8, u32, u64

from pyhv.core.mmio import MMIO_W8, MMIO_W16, MMIO_W32, MmioDevice, RegRow, mmio_raz_read, mmio_wi_write

VPL011_SIZE: Final = u64(0x1000)
VPL011_FIFO_DEPTH: Final = u32(16)
VPL011_RX_NONE: Final = u32(0x100)      # rx_get: no byte waits

FR_BUSY: Final = u32(1 << 3)
FR_RXFE: Final = u32(1 << 4)
FR_TXFF: Final = u32(1 << 5)
FR_RXFF: Final = u32(1 << 6)
FR_TXFE: Final = u32(1 << 7)
LCR_H_FEN: Final = u32(1 << 4)
CR_UARTEN: Final = u32(1 << 0)
CR_TXE: Final = u32(1 << 8)
CR_RXE: Final = u32(1 << 9)
INT_RX: Final = u32(1 << 4)             # RXRIS / RXIM / RXIC
INT_TX: Final = u32(1 << 5)
INT_RT: Final = u32(1 << 6)             # receive timeout
INT_ALL: Final = u32(0x7FF)
CR_RESET: Final = u32(0x300)            # TXE | RXE, UART disabled
IFLS_RESET: Final = u32(0x12)           # both trigger levels at 1/2


class Vpl011Ops(Ops):
    tx: Callable[[u8], None]            # one byte the guest transmitted
    irq: Callable[[bool], None]         # the interrupt line's new level (to the vGIC: SPI uart_spi)
    rx_get: Callable[[], u32]           # the next input byte, or VPL011_RX_NONE
    rx_wanted: Callable[[bool], None]   # True: call vpl011_rx_ready when input arrives; False: hold it


class Vpl011Regs(Struct, packed=True):
    # The registers and the receive FIFO: what moves with the device (Vpl011Image, pyhv/vdev/vpl011_move.py).
    ibrd: u32
    fbrd: u32
    lcr_h: u32
    cr: u32
    ifls: u32
    imsc: u32
    ris: u32
    dmacr: u32
    rx_head: u32                        # index of the oldest byte in rx
    rx_count: u32
    rx_bytes: u64                       # input bytes taken into the FIFO
    rx_full_holds: u64                  # times the FIFO filled up and the source was told to hold
    tx_bytes: u64
    rx: Annotated[Array[u8], 16]


class Vpl011State(Struct):
    r: Vpl011Regs
    irq_level: bool
    rx_wanted: bool                     # the last rx_wanted() said True
    lock: SpinLock                      # see "Locking" above


_uart: Final = Static(Vpl011State)
_ops: Final = OpsSlot(Vpl011Ops)


def _update_irq(st: Vpl011State) -> None:
    level = (st.r.ris & st.r.imsc) != 0
    if level != st.irq_level:
        st.irq_level = level
        _ops.get().irq(level)


def _rx_capacity(st: Vpl011State) -> u32:
    return VPL011_FIFO_DEPTH if (st.r.lcr_h & LCR_H_FEN) != 0 else u32(1)


def _rx_trigger(st: Vpl011State) -> u32:
    # IFLS.RXIFLSEL [5:3]: 1/8, 1/4, 1/2, 3/4, 7/8 of the FIFO; 1 byte when the FIFO is off.
    if (st.r.lcr_h & LCR_H_FEN) == 0:
        return u32(1)
    sel = (st.r.ifls >> 3) & 7
    if sel == 0:
        return u32(2)
    if sel == 1:
        return u32(4)
    if sel == 2:
        return u32(8)
    if sel == 3:
        return u32(12)
    return u32(14)


def _rx_status(st: Vpl011State) -> None:
    # RXRIS at or above the trigger level; RTRIS while data waits below it; neither when empty.
    st.r.ris &= ~(INT_RX | INT_RT)
    if st.r.rx_count >= _rx_trigger(st):
        st.r.ris |= INT_RX
    elif st.r.rx_count > 0:
        st.r.ris |= INT_RT


def vpl011_no_input_get() -> u32:
    # The absent console input (a node that does not own the console, unit tests): never a byte.
    return VPL011_RX_NONE


def vpl011_no_input_wanted(on: bool) -> None:
    pass


def vpl011_set_ops(ops: Vpl011Ops) -> None:
    _ops.set(ops)


def _rx_on(st: Vpl011State) -> bool:
    on = CR_UARTEN | CR_RXE
    return (st.r.cr & on) == on


def _rx_fill(st: Vpl011State) -> None:
    # Pull input while the FIFO has room and the receiver is on; then tell the source whether to signal
    # more (only on a change: on the host that is a UART register write). Lock held.
    cap = _rx_capacity(st)
    if _rx_on(st):
        while st.r.rx_count < cap:
            c = _ops.get().rx_get()
            if c == VPL011_RX_NONE:
                break
            st.r.rx[(st.r.rx_head + st.r.rx_count) % VPL011_FIFO_DEPTH] = u8(c)
            st.r.rx_count += 1
            st.r.rx_bytes += 1
    wanted = _rx_on(st) and st.r.rx_count < cap
    if wanted != st.rx_wanted:
        st.rx_wanted = wanted
        if not wanted and _rx_on(st):
            st.r.rx_full_holds += 1
        _ops.get().rx_wanted(wanted)
    _rx_status(st)
    _update_irq(st)


def vpl011_reset() -> None:
    st = _uart.get()
    with st.lock:
        st.r.ibrd = u32(0)
        st.r.fbrd = u32(0)
        st.r.lcr_h = u32(0)
        st.r.cr = CR_RESET
        st.r.ifls = IFLS_RESET
        st.r.imsc = u32(0)
        st.r.ris = u32(0)
        st.r.dmacr = u32(0)
        st.r.rx_head = u32(0)
        st.r.rx_count = u32(0)
        st.rx_wanted = False
        _ops.get().rx_wanted(False)     # the receiver is off after reset: the source holds its input
        _update_irq(st)


def vpl011_rx_ready() -> None:
    # The console input has bytes (the host UART's receive interrupt): take what fits.
    st = _uart.get()
    with st.lock:
        _rx_fill(st)


def vpl011_rx_bytes() -> u64:
    return _uart.get().r.rx_bytes


def vpl011_rx_full_holds() -> u64:
    return _uart.get().r.rx_full_holds


def vpl011_tx_bytes() -> u64:
    return _uart.get().r.tx_bytes


# --- for pyhv/vdev/vpl011_move.py (the state leaving or joining this node) ----------------------------------

def vpl011_state() -> Vpl011State:
    return _uart.get()


def vpl011_ops() -> Vpl011Ops:
    return _ops.get()


def vpl011_rx_fill_locked(st: Vpl011State) -> None:
    # _rx_fill for a caller that holds st.lock.
    _rx_fill(st)


# --- register rows: read(vcpu, offset in row) / write(vcpu, offset in row, value) ----------------------

def _shift(off: u32) -> u32:
    return (off & 3) * 8


def _dr_read(vcpu: u32, off: u32) -> u64:
    # The oldest byte, error bits [11:8] zero; an empty FIFO reads 0. The freed slot is refilled at once.
    # Only an access that includes byte 0 pops (a byte read of the error bits at DR + 1 reads 0).
    st = _uart.get()
    with st.lock:
        if st.r.rx_count == 0 or (off & 3) != 0:
            return u64(0)
        c = st.r.rx[st.r.rx_head]
        st.r.rx_head = (st.r.rx_head + 1) % VPL011_FIFO_DEPTH
        st.r.rx_count -= 1
        _rx_fill(st)
        return u64(c)


def _dr_write(vcpu: u32, off: u32, v: u64) -> None:
    st = _uart.get()
    with st.lock:
        _ops.get().tx(u8(v))
        st.r.tx_bytes += 1
        st.r.ris |= INT_TX                # the byte left at once: the FIFO is below its level again
        _update_irq(st)


def _fr_read(vcpu: u32, off: u32) -> u64:
    st = _uart.get()
    with st.lock:
        _rx_fill(st)                    # a guest polling FR without interrupts still gets its input
        fr = FR_TXFE
        if st.r.rx_count == 0:
            fr |= FR_RXFE
        if st.r.rx_count >= _rx_capacity(st):
            fr |= FR_RXFF
        return u64(fr) >> _shift(off)


def _ibrd_read(vcpu: u32, off: u32) -> u64:
    return u64(_uart.get().r.ibrd) >> _shift(off)


def _ibrd_write(vcpu: u32, off: u32, v: u64) -> None:
    _uart.get().r.ibrd = u32(v << _shift(off)) & 0xFFFF


def _fbrd_read(vcpu: u32, off: u32) -> u64:
    return u64(_uart.get().r.fbrd) >> _shift(off)


def _fbrd_write(vcpu: u32, off: u32, v: u64) -> None:
    _uart.get().r.fbrd = u32(v << _shift(off)) & 0x3F


def _lcr_h_read(vcpu: u32, off: u32) -> u64:
    return u64(_uart.get().r.lcr_h) >> _shift(off)


def _lcr_h_write(vcpu: u32, off: u32, v: u64) -> None:
    st = _uart.get()
    with st.lock:
        st.r.lcr_h = u32(v << _shift(off)) & 0xFF
        if st.r.rx_count > _rx_capacity(st):  # FIFO switched off: keep the oldest byte only (as the PL011)
            st.r.rx_count = _rx_capacity(st)
        _rx_fill(st)


def _cr_read(vcpu: u32, off: u32) -> u64:
    return u64(_uart.get().r.cr) >> _shift(off)


def _cr_write(vcpu: u32, off: u32, v: u64) -> None:
    st = _uart.get()
    with st.lock:
        tx_on = CR_UARTEN | CR_TXE
        was_on = (st.r.cr & tx_on) == tx_on
        st.r.cr = u32(v << _shift(off)) & 0xFF87
        if not was_on and (st.r.cr & tx_on) == tx_on:
            st.r.ris |= INT_TX            # transmitter enabled with an empty FIFO
        _rx_fill(st)                    # the receiver may have been switched on (or off: hold the input)


def _ifls_read(vcpu: u32, off: u32) -> u64:
    return u64(_uart.get().r.ifls) >> _shift(off)


def _ifls_write(vcpu: u32, off: u32, v: u64) -> None:
    st = _uart.get()
    with st.lock:
        st.r.ifls = u32(v << _shift(off)) & 0x3F
        _rx_status(st)
        _update_irq(st)


def _imsc_read(vcpu: u32, off: u32) -> u64:
    return u64(_uart.get().r.imsc) >> _shift(off)


def _imsc_write(vcpu: u32, off: u32, v: u64) -> None:
    st = _uart.get()
    with st.lock:
        st.r.imsc = u32(v << _shift(off)) & INT_ALL
        _update_irq(st)


def _ris_read(vcpu: u32, off: u32) -> u64:
    return u64(_uart.get().r.ris) >> _shift(off)


def _mis_read(vcpu: u32, off: u32) -> u64:
    st = _uart.get()
    return u64(st.r.ris & st.r.imsc) >> _shift(off)


def _icr_write(vcpu: u32, off: u32, v: u64) -> None:
    st = _uart.get()
    with st.lock:
        st.r.ris &= ~(u32(v << _shift(off)) & INT_ALL)
        _update_irq(st)


def _dmacr_read(vcpu: u32, off: u32) -> u64:
    return u64(_uart.get().r.dmacr) >> _shift(off)


def _dmacr_write(vcpu: u32, off: u32, v: u64) -> None:
    _uart.get().r.dmacr = u32(v << _shift(off)) & 7


def _id_read(vcpu: u32, off: u32) -> u64:
    # PeriphID0-3 (0xFE0-0xFEC): part 0x011, designer Arm (0x41), revision 1; PCellID0-3 (0xFF0-0xFFC).
    if (off & 3) != 0:
        return u64(0)
    i = off >> 2
    if i == 0:
        return u64(0x11)
    if i == 1:
        return u64(0x10)
    if i == 2:
        return u64(0x14)
    if i == 3:
        return u64(0x00)
    if i == 4:
        return u64(0x0D)
    if i == 5:
        return u64(0xF0)
    if i == 6:
        return u64(0x05)
    return u64(0xB1)


_W: Final = MMIO_W8 | MMIO_W16 | MMIO_W32

# DR, RSR/ECR, FR, ILPR, IBRD, FBRD, LCR_H, CR, IFLS, IMSC, RIS, MIS, ICR, DMACR, PeriphID0-3 + PCellID0-3

VPL011_ROWS: Final = (
    RegRow(offset=u32(0x000), size_bytes=u32(4), widths=_W, read=_dr_read, write=_dr_write),
    RegRow(offset=u32(0x004), size_bytes=u32(4), widths=_W, read=mmio_raz_read, write=mmio_wi_write),
    RegRow(offset=u32(0x018), size_bytes=u32(4), widths=_W, read=_fr_read, write=mmio_wi_write),
    RegRow(offset=u32(0x020), size_bytes=u32(4), widths=_W, read=mmio_raz_read, write=mmio_wi_write),
    RegRow(offset=u32(0x024), size_bytes=u32(4), widths=_W, read=_ibrd_read, write=_ibrd_write),
    RegRow(offset=u32(0x028), size_bytes=u32(4), widths=_W, read=_fbrd_read, write=_fbrd_write),
    RegRow(offset=u32(0x02C), size_bytes=u32(4), widths=_W, read=_lcr_h_read, write=_lcr_h_write),
    RegRow(offset=u32(0x030), size_bytes=u32(4), widths=_W, read=_cr_read, write=_cr_write),
    RegRow(offset=u32(0x034), size_bytes=u32(4), widths=_W, read=_ifls_read, write=_ifls_write),
    RegRow(offset=u32(0x038), size_bytes=u32(4), widths=_W, read=_imsc_read, write=_imsc_write),
    RegRow(offset=u32(0x03C), size_bytes=u32(4), widths=_W, read=_ris_read, write=mmio_wi_write),
    RegRow(offset=u32(0x040), size_bytes=u32(4), widths=_W, read=_mis_read, write=mmio_wi_write),
    RegRow(offset=u32(0x044), size_bytes=u32(4), widths=_W, read=mmio_raz_read, write=_icr_write),
    RegRow(offset=u32(0x048), size_bytes=u32(4), widths=_W, read=_dmacr_read, write=_dmacr_write),
    RegRow(offset=u32(0xFE0), size_bytes=u32(0x20), widths=_W, read=_id_read, write=mmio_wi_write),
)


def _row_count() -> u32:
    return u32(len(VPL011_ROWS))


def _row(i: u32) -> RegRow:
    return VPL011_ROWS[i]


VPL011_DEVICE: Final = MmioDevice(row_count=_row_count, row=_row)
