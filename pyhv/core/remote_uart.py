# The guest's console UART moves to the node that uses it (docs/cluster-vm.md, "The console UART moves").
# Every other emulated device stays on node 0 and is reached by forwarding each access (one network round
# trip); for the console that is two round trips per character (Linux's pl011 reads FR before every DR
# write), so a node that prints — the boot log, a shell — would crawl at a few hundred characters a second
# and the guest's own lockup reports would flood it further. Instead the vPL011's state (Vpl011Image, its
# whole guest-visible state) moves, as one owner at a time:
#
#   home = the console's node (node 0): the host UART, the guest's SPI at the distributor. The device is
#     HERE or AWAY at one holder.
#   home gives it away after UART_MOVE_STREAK consecutive accesses from one other node (none from home's own
#     vCPUs, none from a third node in between): STATE (home -> holder) goes out before the reply to that
#     access, on the same in-order stream, so the holder has it when its vCPU runs on.
#   the holder runs every access locally. Its transmitted bytes are buffered and sent home (TX, printed
#     there in order); a change of the interrupt line goes home as LINE (home sets the SPI, as the device
#     would). Both are sent under the service lock, and before STATE when the device goes back.
#   home takes it back (RECALL -> STATE holder -> home) when a vCPU of home or of a third node accesses it,
#     or host input arrives (the input waits, masked at the host UART, until the device is home). An
#     access that finds the device away or in flight gets MMIO RETRY (a handler never waits) and is
#     sent again by its vCPU at once (each try is a round trip); a vCPU of home waits for STATE itself.
#
# Every access, the input and every message handler run under the node's service lock, so "is it here" and
# the access are one step on every node. The device is never in two places: home marks it away when it
# sends STATE and here only when STATE comes back; a holder marks it here on STATE and away when it sends
# it back. A holder that is declared lost takes the device's state with it: home then resets the device
# and says so (the guest sees a UART after reset, never a stale copy). docs/protocol.md lists UartMsg.

from typing import Annotated, Final

from pyhv.lang import Array, Static, Struct, addr_of, kprint, range, struct_at, u8, u16, u32, u64

from pyhv.arch.timer import timer_now
from pyhv.cluster.servicelock import service_cpu, service_state
from pyhv.cluster.table import ticks_from_us
from pyhv.cluster.transport import PEER_ACTIVE, TRANSPORT_ERR_BUSY, TRANSPORT_OK, transport_peer, transport_send
from pyhv.cluster.wire import MSG_UART
from pyhv.core.mmio import MmioAccess, mmio_dispatch
from pyhv.core.remote_map import REMOTE_DEVICE_OWNER, REMOTE_NO_NODE, remote_my_node
from pyhv.core.vmconfig import UART_SIZE
from pyhv.core.vmstate import vm_config
from pyhv.vdev.vpl011 import (
    Vpl011Ops, vpl011_no_input_get, vpl011_no_input_wanted, vpl011_reset, vpl011_rx_ready, vpl011_set_ops,
)
from pyhv.vdev.vpl011_move import (
    Vpl011Image, vpl011_emit, vpl011_hold_input, vpl011_image_ok, vpl011_line, vpl011_load, vpl011_save,
    vpl011_watch_input,
)

UART_OP_STATE: Final = u32(1)       # the device's state: home -> holder ("yours"), holder -> home ("back")
UART_OP_RECALL: Final = u32(2)      # home -> holder: send it back
UART_OP_TX: Final = u32(3)          # holder -> home: `count` console bytes
UART_OP_LINE: Final = u32(4)        # holder -> home: the interrupt line is now `count` (0 / 1)
UART_TX_BYTES: Final = u32(240)     # console bytes one TX message carries
UART_MSG_BYTES: Final = u32(336)    # sizeof(UartMsg)
UART_MOVE_STREAK: Final = u32(16)   # consecutive accesses of one other node that move the device there
UART_TX_FLUSH: Final = u32(64)      # a holder sends its bytes home once this many wait ...
UART_FLUSH_US: Final = u32(500)     # ... or the oldest is this old (the polls send the rest)

# what remote_uart_try tells the access path (beside MMIO_HANDLED / MMIO_UNHANDLED)
UART_FORWARD: Final = u32(0x100)    # not here and we are not home: forward the access to home
UART_WAIT: Final = u32(0x101)       # wait a round (the device is coming home, or the TX buffer is full)
REMOTE_MMIO_RETRY: Final = u32(2)   # MmioReply.status from home: the device is away or in flight, resend


class UartMsg(Struct, packed=True):
    op: u32
    count: u32                      # TX: bytes in tx; LINE: the level
    img: Vpl011Image                # STATE
    tx: Annotated[Array[u8], 240]   # TX


class RemoteUart(Struct):
    enabled: bool                   # a VM across nodes: accesses to the UART come here
    here: bool                      # this node holds the device
    away: u16                       # home: the holder (REMOTE_NO_NODE while here)
    recalling: bool                 # home: RECALL sent, STATE not back yet
    streak_node: u16                # home: the node of the latest accesses ...
    streak: u32                     # ... and how many in a row
    tx_len: u32                     # holder: buffered console bytes
    tx_first: u64                   # counter value when the oldest of them was written
    line_dirty: bool                # holder: the line changed since the last LINE
    line_level: bool
    moves_out: u64                  # home: times the device went to another node
    moves_in: u64                   # times it arrived here
    recalls: u64                    # home: RECALLs sent
    retries: u64                    # home: accesses answered RETRY
    tx_msgs: u64                    # holder: TX messages sent
    bad: u64                        # messages that did not fit the device's state (dropped)
    lost: u64                       # home: holders lost with the device
    gen: u32                        # bumped on every change a waiting access may be waiting for
    tx: Annotated[Array[u8], 240]
    msg: UartMsg                    # the one outgoing message (every send is under the service lock)


_u: Final = Static(RemoteUart)


def remote_uart_stats() -> RemoteUart:
    return _u.get()


# --- the holder's device hooks (a node other than home, while it holds the device) ------------------------

def _holder_tx(c: u8) -> None:
    u = _u.get()
    if u.tx_len == 0:
        u.tx_first = timer_now()
    u.tx[u.tx_len] = c                  # room: remote_uart_try flushes a full buffer before any access
    u.tx_len += 1


def _holder_irq(level: bool) -> None:
    u = _u.get()
    u.line_level = level
    u.line_dirty = True


UART_HOLDER_OPS: Final = Vpl011Ops(tx=_holder_tx, irq=_holder_irq, rx_get=vpl011_no_input_get,
                                   rx_wanted=vpl011_no_input_wanted)


def remote_uart_init() -> None:
    # On every node from remote_vm_init, after the vPL011 is set up and reset: home holds the device.
    u = _u.get()
    u.enabled = True
    u.here = remote_my_node() == REMOTE_DEVICE_OWNER
    u.away = REMOTE_NO_NODE
    u.recalling = False
    u.streak_node = REMOTE_NO_NODE
    u.streak = u32(0)
    u.tx_len = u32(0)
    u.line_dirty = False
    if not u.here:
        vpl011_set_ops(UART_HOLDER_OPS)


def remote_uart_gen() -> u32:
    # Read before remote_uart_try and again after service_wait_mark: unchanged means sleep (no lost wake-up:
    # a change after the mark comes with a poll that wakes the sleepers).
    return _u.get().gen


def remote_uart_covers(ipa: u64) -> bool:
    cfg = vm_config()
    return _u.get().enabled and ipa >= cfg.uart_base and ipa - cfg.uart_base < UART_SIZE


# --- sending (service lock held) --------------------------------------------------------------------------

def _send(dst: u16, op: u32, count: u32) -> u32:
    m = _u.get().msg
    m.op = op
    m.count = count
    return transport_send(dst, MSG_UART, u8(0), u32(0), addr_of(m), UART_MSG_BYTES)


def _flush_locked() -> bool:
    # Holder: send the buffered bytes and the line home. False if the send backlog is full (only outside
    # the receive path; the bytes stay buffered). A home that is gone takes nothing: the bytes are dropped.
    u = _u.get()
    if u.tx_len != 0:
        for i in range(u.tx_len):
            u.msg.tx[i] = u.tx[i]
        r = _send(REMOTE_DEVICE_OWNER, UART_OP_TX, u.tx_len)
        if r == TRANSPORT_ERR_BUSY:
            return False
        u.tx_len = u32(0)
        u.tx_msgs += 1
        u.gen += 1
    if u.line_dirty:
        r = _send(REMOTE_DEVICE_OWNER, UART_OP_LINE, u32(1) if u.line_level else u32(0))
        if r == TRANSPORT_ERR_BUSY:
            return False
        u.line_dirty = False
    return True


def _give_locked(dst: u16) -> None:
    # Home: the device goes to dst (from a handler: the send cannot be refused).
    u = _u.get()
    vpl011_save(u.msg.img)
    if _send(dst, UART_OP_STATE, u32(0)) != TRANSPORT_OK:
        return
    u.here = False
    u.away = dst
    u.recalling = False
    u.streak = u32(0)
    u.moves_out += 1
    vpl011_watch_input()                # host input now calls the device back


def _reclaim_if_lost_locked() -> None:
    # Home: a holder that was declared lost took the device's state with it.
    u = _u.get()
    if u.here or u.away == REMOTE_NO_NODE or transport_peer(u.away).state == PEER_ACTIVE:
        return
    kprint("remote: node %u was lost holding the console uart; the uart is reset\n", u.away)
    u.lost += 1
    u.here = True
    u.away = REMOTE_NO_NODE
    u.recalling = False
    u.gen += 1
    vpl011_reset()


def _recall_locked() -> None:
    # Home: ask the holder for the device (once per absence).
    u = _u.get()
    _reclaim_if_lost_locked()
    if u.here or u.recalling:
        return
    if _send(u.away, UART_OP_RECALL, u32(0)) == TRANSPORT_OK:
        u.recalling = True
        u.recalls += 1


# --- the access path (a vCPU's trap, any node; remote_call.py) ---------------------------------------------

def _try_locked(vcpu: u32, acc: MmioAccess) -> u32:
    u = _u.get()
    home = remote_my_node() == REMOTE_DEVICE_OWNER
    if not u.here:
        if not home:
            return UART_FORWARD
        _recall_locked()                # (a lost holder: the device is reset and here again)
        if not u.here:
            return UART_WAIT
    if not home and u.tx_len >= UART_TX_BYTES and not _flush_locked():
        return UART_WAIT
    status = mmio_dispatch(vcpu, acc)
    if home:
        u.streak_node = REMOTE_DEVICE_OWNER     # home's own vCPUs keep the device home
        u.streak = u32(0)
    elif u.line_dirty or u.tx_len >= UART_TX_FLUSH \
            or (u.tx_len != 0 and timer_now() - u.tx_first >= ticks_from_us(UART_FLUSH_US)):
        _flush_locked()
    return status


def remote_uart_try(vcpu: u32, acc: MmioAccess) -> u32:
    # One attempt at a guest access to the UART: MMIO_HANDLED / MMIO_UNHANDLED (done here), UART_FORWARD
    # or UART_WAIT (then wait a round and try again).
    st = service_state()
    r = UART_WAIT
    with st.lock:
        service_cpu().inside = True
        r = _try_locked(vcpu, acc)
        service_cpu().inside = False
    return r


def remote_uart_flush_try() -> bool:
    # Holder: try to send every buffered byte home; False while the send backlog is full (wait and retry:
    # remote_call.py's remote_power_all, whose power-off request must not overtake them).
    st = service_state()
    done = True
    with st.lock:
        service_cpu().inside = True
        if _u.get().here and remote_my_node() != REMOTE_DEVICE_OWNER:
            done = _flush_locked()
        service_cpu().inside = False
    return done


# --- home's side of a forwarded access (remote.py's MMIO handler, service lock held) -------------------------

def remote_uart_serve(src: u16, vcpu: u32, acc: MmioAccess) -> u32:
    # MMIO_HANDLED / MMIO_UNHANDLED, or REMOTE_MMIO_RETRY while the device is away (or on its way to src).
    u = _u.get()
    if not u.here:
        u.retries += 1
        if u.away != src:
            _recall_locked()
        if not u.here:
            return REMOTE_MMIO_RETRY
    status = mmio_dispatch(vcpu, acc)
    if src == u.streak_node:
        u.streak += 1
    else:
        u.streak_node = src
        u.streak = u32(1)
    if u.streak >= UART_MOVE_STREAK:
        _give_locked(src)
    return status


# --- host input and the polls ------------------------------------------------------------------------------

def remote_uart_input() -> None:
    # Home: the host UART has input (its interrupt, IRQs masked). Taken now if the device is here; else the
    # input is held at the host UART and the device called back (vpl011_load pulls it then).
    st = service_state()
    c = service_cpu()
    if c.inside:
        _input_locked()
        return
    with st.lock:
        c.inside = True
        _input_locked()
        c.inside = False


def _input_locked() -> None:
    if _u.get().here:
        vpl011_rx_ready()
        return
    vpl011_hold_input()
    _recall_locked()


def remote_uart_poll() -> None:
    # After every poll (service lock held): a holder sends what it buffered; home notices a lost holder.
    u = _u.get()
    if not u.enabled:
        return
    if remote_my_node() == REMOTE_DEVICE_OWNER:
        _reclaim_if_lost_locked()
    elif u.here and (u.tx_len != 0 or u.line_dirty):
        _flush_locked()


# --- the message (receive path, service lock held) -----------------------------------------------------------

def remote_uart_handler(src: u16, req_id: u32, payload: u64, length: u32) -> None:
    m = struct_at(UartMsg, payload)
    u = _u.get()
    home = remote_my_node() == REMOTE_DEVICE_OWNER
    if length < UART_MSG_BYTES:
        u.bad += 1
    elif m.op == UART_OP_STATE and home:
        if u.here or src != u.away or not vpl011_image_ok(m.img):
            u.bad += 1
            return
        vpl011_load(m.img, True)
        u.here = True
        u.away = REMOTE_NO_NODE
        u.recalling = False
        u.streak = u32(0)
        u.moves_in += 1
        u.gen += 1
    elif m.op == UART_OP_STATE:
        if u.here or src != REMOTE_DEVICE_OWNER or not vpl011_image_ok(m.img):
            u.bad += 1
            return
        u.tx_len = u32(0)
        u.line_dirty = False
        vpl011_load(m.img, False)
        u.here = True
        u.moves_in += 1
        u.gen += 1
    elif m.op == UART_OP_RECALL and not home:
        if not u.here or src != REMOTE_DEVICE_OWNER:
            u.bad += 1
            return
        _flush_locked()                 # the receive path: sends are not refused
        vpl011_save(u.msg.img)
        _send(REMOTE_DEVICE_OWNER, UART_OP_STATE, u32(0))
        u.here = False
        u.gen += 1
    elif m.op == UART_OP_TX and home and src == u.away and m.count <= UART_TX_BYTES:
        for i in range(m.count):
            vpl011_emit(m.tx[i])
    elif m.op == UART_OP_LINE and home and src == u.away and m.count <= 1:
        vpl011_line(m.count != 0)
    else:
        u.bad += 1
