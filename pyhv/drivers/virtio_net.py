# virtio-net host NIC driver (QEMU virt): OASIS "Virtual I/O Device (VIRTIO) Version 1.2", §5.1 (network
# device), over the version-2 virtio-mmio transport of virtio_mmio.py. Fills the cluster's NicOps slot
# (VIRTIO_NET_NIC_OPS). One device per node: the first "virtio,mmio" DTB node whose DeviceID is 1.
#
# Features: VIRTIO_F_VERSION_1 is required (a device without it is refused); VIRTIO_NET_F_MAC and
# VIRTIO_NET_F_MTU are taken when offered. No checksum/GSO offloads, no control queue, no event index.
#
# Receive buffers: one buffer per frame, each sized for the largest frame we accept (12-byte virtio-net
# header + 14-byte Ethernet header + a 9000-byte jumbo payload), rather than VIRTIO_NET_F_MRG_RXBUF.
# Why: a frame then always sits in one contiguous buffer, so the receive path is one copy with no
# reassembly across descriptors and no partially consumed chains; the cost is memory (RX_BUFS x 9 KiB),
# which a hypervisor with a fixed queue depth can afford. Without MRG_RXBUF a device drops a frame that
# does not fit one buffer (QEMU does), so an oversize frame can never overrun us; a device that *claims*
# a longer write than the buffer anyway is counted and its frame dropped.
#
# Memory: rings and buffers live in one Static pool, page-aligned at run time (a C static struct is only
# 8-byte aligned); pyhv runs identity-mapped, so their addresses are the physical addresses the device uses.
#
#   pool (page-aligned start P)
#   P + 0x0000  VirtqRings of the receive queue (queue 0)
#   P + 0x1000  VirtqRings of the transmit queue (queue 1)
#   P + 0x2000  RX_BUFS receive buffers, then TX_BUFS transmit buffers, NET_BUF_BYTES each
#
# Interrupts: the device's SPI (from the node's `interrupts` property, virtio_net_intid()) is routed to
# CPU 0, the CPU that runs the cluster code and owns the NIC (pyhv/cluster/boot.py; no locks: only that CPU
# calls into this driver). virtio_net_irq() acknowledges at the device (InterruptStatus -> InterruptACK) and
# counts; the frames themselves are taken by virtio_net_poll from the main loop, which the interrupt wakes
# from WFI (pyhv/cluster/idle.py). The transmit queue asks for no interrupts (VIRTQ_AVAIL_F_NO_INTERRUPT):
# completions are reclaimed on send.

from typing import Annotated, Final

from pyhv.lang import (
    range, Array, Static, Struct, addr_of, cpu_relax, kprint, mem_write8, mem_write32, mem_write64,
    struct_at, struct_zero, sysreg_read, u8, u16, u32, u64,
)

from pyhv.cluster.bytecopy import bytecopy
from pyhv.cluster.nic import NicOps
from pyhv.core.fdt import FDT_NONE, fdt_find_compatible
from pyhv.core.fdt_path import fdt_node_enabled
from pyhv.core.fdt_reg import FdtReg, fdt_intid, fdt_reg
from pyhv.drivers.virtio_mmio import (
    VIRTIO_F_VERSION_1, VIRTIO_IRQ_CONFIG_CHANGE, VIRTIO_MMIO_DEVICE_ID, VIRTIO_MMIO_MAGIC,
    VIRTIO_MMIO_MAGIC_VALUE, VIRTIO_MMIO_VERSION, VIRTIO_MMIO_VERSION_LEGACY, VIRTIO_MMIO_VERSION_MODERN,
    VIRTIO_STATUS_ACKNOWLEDGE, VIRTIO_STATUS_DRIVER, VIRTIO_STATUS_DRIVER_OK, VIRTIO_STATUS_FAILED,
    VIRTQ_AVAIL_F_NO_INTERRUPT, VIRTQ_BAD, VIRTQ_DESC_F_WRITE, VIRTQ_EMPTY, Virtq, VirtqRings, VirtqUsedElem,
    virtio_mmio_add_status, virtio_mmio_config_read16, virtio_mmio_config_read48, virtio_mmio_device_features,
    virtio_mmio_irq_ack, virtio_mmio_queue_setup, virtio_mmio_read, virtio_mmio_reset, virtio_mmio_set_features,
    virtq_add, virtq_pop_used, virtq_publish,
)

VIRTIO_ID_NET: Final = u32(1)                   # DeviceID of a network card (0: empty slot)
VIRTIO_NET_F_MTU: Final = u64(1) << 3           # config `mtu` is valid: the link's maximum MTU
VIRTIO_NET_F_MAC: Final = u64(1) << 5           # config `mac` is valid
VIRTIO_NET_CFG_MAC: Final = u64(0)              # config space: mac[6]
VIRTIO_NET_CFG_MTU: Final = u64(10)             # config space: mtu (u16, after status and max pairs)
VIRTIO_NET_RX_QUEUE: Final = u32(0)             # receiveq1
VIRTIO_NET_TX_QUEUE: Final = u32(1)             # transmitq1

NET_HDR_BYTES: Final = u32(12)                  # struct virtio_net_hdr with VERSION_1 (num_buffers included)
ETH_HDR_BYTES: Final = u32(14)
ETH_MIN_FRAME_BYTES: Final = u32(60)            # shorter frames are zero-padded on transmit (no FCS)
NET_MTU_DEFAULT: Final = u32(1500)
NET_MTU_MAX: Final = u32(9000)                  # largest jumbo MTU we size buffers for
NET_MTU_MIN: Final = u32(68)                    # RFC 791 minimum; a smaller config value is ignored
NET_BUF_BYTES: Final = u32(9216)                # >= NET_HDR_BYTES + ETH_HDR_BYTES + NET_MTU_MAX
RX_BUFS: Final = u32(32)                        # = VIRTQ_SIZE: every receive descriptor owns one buffer
TX_BUFS: Final = u32(32)
_PAGE: Final = u64(4096)
_RINGS_BYTES: Final = u64(0x2000)               # two ring pages
_TX_WAIT_POLLS: Final = u32(10000)              # polls of the used ring while every tx buffer is in flight

VIRTIO_NET_OK: Final = u32(0)
VIRTIO_NET_ERR_NOT_READY: Final = u32(1)        # send before a successful probe
VIRTIO_NET_ERR_LENGTH: Final = u32(2)           # empty frame or longer than the MTU allows
VIRTIO_NET_ERR_TX_FULL: Final = u32(3)          # every transmit buffer still owned by the device
VIRTIO_NET_ERR_NO_DEVICE: Final = u32(4)        # bad magic, empty slot or not a network card
VIRTIO_NET_ERR_LEGACY: Final = u32(5)           # a version-1 (legacy) virtio-mmio device
VIRTIO_NET_ERR_VERSION: Final = u32(6)          # an unknown virtio-mmio version
VIRTIO_NET_ERR_RESET: Final = u32(7)            # the device never finished its reset
VIRTIO_NET_ERR_FEATURES: Final = u32(8)         # no VERSION_1, or the device refused FEATURES_OK
VIRTIO_NET_ERR_QUEUE: Final = u32(9)            # a queue is missing or already live



class VirtioNetStats(Struct):
    tx_frames: u64          # frames handed to the device
    rx_frames: u64          # frames returned by poll
    tx_full: u64            # sends refused: no free transmit buffer
    tx_bad_length: u64      # sends refused: empty or longer than the MTU
    rx_errors: u64          # used entries dropped: unknown descriptor, runt or longer than the buffer
    rx_truncated: u64       # frames longer than the caller's buffer (cut to it)
    irqs: u64               # virtio_net_irq calls
    config_changes: u64     # interrupts that reported a configuration change


class VirtioNetState(Struct):
    base: u64               # virtio-mmio registers
    mac: u64                # low 48 bits, first byte most significant
    features: u64           # the negotiated feature bits
    rx_bufs: u64            # first receive buffer
    tx_bufs: u64            # first transmit buffer
    intid: u32              # GIC INTID of the device's interrupt (0: none known)
    mtu: u32                # Ethernet payload bytes (1500, or the device's jumbo MTU)
    ready: bool             # probe succeeded: send/poll may touch the device
    tx_nfree: u32           # entries of tx_free in use
    tx_free: Annotated[Array[u16], 32]  # stack of transmit descriptors (= buffers) we own
    rx: Virtq
    tx: Virtq
    stats: VirtioNetStats


class VirtioNetPool(Struct):
    # 4096 bytes of alignment slack + two ring pages + (RX_BUFS + TX_BUFS) * NET_BUF_BYTES
    raw: Annotated[Array[u8], 602112]


_net: Final = Static(VirtioNetState)
_pool: Final = Static(VirtioNetPool)


def virtio_net_stats() -> VirtioNetStats:
    return _net.get().stats


def virtio_net_intid() -> u32:
    # GIC INTID of the NIC's interrupt (0: the DTB named none; the cluster code then polls).
    return _net.get().intid


# --- probe and initialisation (§3.1.1, §5.1.5) --------------------------------------------------------------

def virtio_net_probe() -> bool:
    # Initialise the first enabled "virtio,mmio" node of the host DTB that holds a usable (version 2)
    # network device. Empty slots and other device types are skipped silently; refused network devices
    # (legacy, missing VERSION_1) are reported on the console and skipped.
    reg = FdtReg()
    node = fdt_find_compatible(FDT_NONE, "virtio,mmio")
    while node != FDT_NONE:
        if fdt_node_enabled(node) and fdt_reg(node, u32(0), reg):
            if virtio_net_init(reg.addr, fdt_intid(node)) == VIRTIO_NET_OK:
                return True
        node = fdt_find_compatible(node, "virtio,mmio")
    return False


def _fail(base: u64, code: u32) -> u32:
    virtio_mmio_add_status(base, VIRTIO_STATUS_FAILED)
    return code


def virtio_net_init(base: u64, intid: u32) -> u32:
    # Drive the virtio-mmio device at `base` if it is a version-2 network card: VIRTIO_NET_OK or the reason
    # (VIRTIO_NET_ERR_*) it was not taken.
    if virtio_mmio_read(base, VIRTIO_MMIO_MAGIC_VALUE) != VIRTIO_MMIO_MAGIC:
        return VIRTIO_NET_ERR_NO_DEVICE
    if virtio_mmio_read(base, VIRTIO_MMIO_DEVICE_ID) != VIRTIO_ID_NET:
        return VIRTIO_NET_ERR_NO_DEVICE
    version = virtio_mmio_read(base, VIRTIO_MMIO_VERSION)
    if version == VIRTIO_MMIO_VERSION_LEGACY:
        kprint("virtio-net: device at %x is a legacy (version 1) virtio-mmio device; pyhv needs version 2: "
               "run QEMU with -global virtio-mmio.force-legacy=false\n", base)
        return VIRTIO_NET_ERR_LEGACY
    if version != VIRTIO_MMIO_VERSION_MODERN:
        kprint("virtio-net: device at %x has unknown virtio-mmio version %u\n", base, version)
        return VIRTIO_NET_ERR_VERSION
    st = _net.get()
    st.ready = False
    if not virtio_mmio_reset(base):
        kprint("virtio-net: device at %x did not finish its reset\n", base)
        return VIRTIO_NET_ERR_RESET
    virtio_mmio_add_status(base, VIRTIO_STATUS_ACKNOWLEDGE)
    virtio_mmio_add_status(base, VIRTIO_STATUS_DRIVER)
    offered = virtio_mmio_device_features(base)
    if (offered & VIRTIO_F_VERSION_1) == 0:
        kprint("virtio-net: device at %x does not offer VIRTIO_F_VERSION_1 (virtio 1.x); refused\n", base)
        return _fail(base, VIRTIO_NET_ERR_FEATURES)
    features = VIRTIO_F_VERSION_1 | (offered & (VIRTIO_NET_F_MAC | VIRTIO_NET_F_MTU))
    if not virtio_mmio_set_features(base, features):
        kprint("virtio-net: device at %x refused features %x\n", base, features)
        return _fail(base, VIRTIO_NET_ERR_FEATURES)
    st.base = base
    st.intid = intid
    st.features = features
    _read_config(st, base)
    if not _setup_queues(st, base):
        kprint("virtio-net: device at %x lacks a usable receive or transmit queue\n", base)
        return _fail(base, VIRTIO_NET_ERR_QUEUE)
    virtio_mmio_add_status(base, VIRTIO_STATUS_DRIVER_OK)
    virtq_publish(st.rx, base)
    st.ready = True
    kprint("virtio-net: %x mac %012x mtu %u irq %u\n", base, st.mac, st.mtu, intid)
    return VIRTIO_NET_OK


def _read_config(st: VirtioNetState, base: u64) -> None:
    if (st.features & VIRTIO_NET_F_MAC) != 0:
        st.mac = virtio_mmio_config_read48(base, VIRTIO_NET_CFG_MAC)
    else:
        # Locally administered unicast 02:70:79:xx:xx:xx ("py"), varied by base and boot time. QEMU always
        # offers a MAC, so this only serves other devices.
        st.mac = u64(0x027079000000) | ((sysreg_read("cntpct_el0") ^ (base >> 9)) & 0xFFFFFF)
    st.mtu = NET_MTU_DEFAULT
    if (st.features & VIRTIO_NET_F_MTU) != 0:
        mtu = u32(virtio_mmio_config_read16(base, VIRTIO_NET_CFG_MTU))
        if mtu > NET_MTU_MAX:
            mtu = NET_MTU_MAX
        if mtu >= NET_MTU_MIN:
            st.mtu = mtu


def _setup_queues(st: VirtioNetState, base: u64) -> bool:
    pool = (addr_of(_pool.get().raw) + (_PAGE - 1)) & ~(_PAGE - 1)
    rx_rings = struct_at(VirtqRings, pool)
    tx_rings = struct_at(VirtqRings, pool + _PAGE)
    struct_zero(rx_rings)
    struct_zero(tx_rings)
    st.rx_bufs = pool + _RINGS_BYTES
    st.tx_bufs = st.rx_bufs + u64(RX_BUFS) * u64(NET_BUF_BYTES)
    if not virtio_mmio_queue_setup(base, st.rx, VIRTIO_NET_RX_QUEUE, addr_of(rx_rings)):
        return False
    if not virtio_mmio_queue_setup(base, st.tx, VIRTIO_NET_TX_QUEUE, addr_of(tx_rings)):
        return False
    tx_rings.avail.flags = VIRTQ_AVAIL_F_NO_INTERRUPT
    for i in range(u16(0), st.rx.size):
        virtq_add(st.rx, i, _rx_buf(st, u32(i)), NET_BUF_BYTES, VIRTQ_DESC_F_WRITE)
    st.tx_nfree = u32(0)
    for i in range(u16(0), st.tx.size):
        st.tx_free[st.tx_nfree] = i
        st.tx_nfree += 1
    return True


def _rx_buf(st: VirtioNetState, desc_id: u32) -> u64:
    return st.rx_bufs + u64(desc_id) * u64(NET_BUF_BYTES)


def _tx_buf(st: VirtioNetState, desc_id: u32) -> u64:
    return st.tx_bufs + u64(desc_id) * u64(NET_BUF_BYTES)


# --- transmit ---------------------------------------------------------------------------------------------

def _tx_reclaim(st: VirtioNetState) -> None:
    # Take back every transmit buffer the device has finished with (in whatever order it finished them).
    e = VirtqUsedElem()
    while True:
        code = virtq_pop_used(st.tx, e)
        if code == VIRTQ_EMPTY:
            return
        if code != VIRTQ_BAD:
            st.tx_free[st.tx_nfree] = u16(e.id)
            st.tx_nfree += 1


def virtio_net_send(addr: u64, length: u32) -> u32:
    # Copy the Ethernet frame at `addr` (no FCS) behind a zeroed virtio-net header into a transmit buffer
    # and hand it to the device. The caller keeps its buffer.
    st = _net.get()
    if not st.ready:
        return VIRTIO_NET_ERR_NOT_READY
    if length == 0 or length > ETH_HDR_BYTES + st.mtu:
        st.stats.tx_bad_length += 1
        return VIRTIO_NET_ERR_LENGTH
    _tx_reclaim(st)
    polls = u32(0)
    while st.tx_nfree == 0 and polls < _TX_WAIT_POLLS:
        cpu_relax()
        _tx_reclaim(st)
        polls += 1
    if st.tx_nfree == 0:
        st.stats.tx_full += 1
        return VIRTIO_NET_ERR_TX_FULL
    st.tx_nfree -= 1
    desc_id = st.tx_free[st.tx_nfree]
    buf = _tx_buf(st, u32(desc_id))
    mem_write64(buf, u64(0))                # flags, gso_type = NONE, hdr_len, gso_size: no offloads
    mem_write32(buf + 8, u32(0))            # csum_start, csum_offset; num_buffers (0 on transmit)
    bytecopy(buf + u64(NET_HDR_BYTES), addr, u64(length))
    wire = length
    while wire < ETH_MIN_FRAME_BYTES:
        mem_write8(buf + u64(NET_HDR_BYTES + wire), u8(0))
        wire += 1
    virtq_add(st.tx, desc_id, buf, NET_HDR_BYTES + wire, u16(0))
    virtq_publish(st.tx, st.base)
    st.stats.tx_frames += 1
    return VIRTIO_NET_OK


# --- receive ----------------------------------------------------------------------------------------------

def _rx_repost(st: VirtioNetState, desc_id: u16) -> None:
    virtq_add(st.rx, desc_id, _rx_buf(st, u32(desc_id)), NET_BUF_BYTES, VIRTQ_DESC_F_WRITE)
    virtq_publish(st.rx, st.base)


def virtio_net_poll(addr: u64, capacity: u32) -> u32:
    # Copy the next received frame (without the virtio-net header) to `addr`: its length, 0 if none is
    # waiting. A frame longer than `capacity` is cut to it and its real length returned. The buffer goes
    # straight back to the device.
    st = _net.get()
    if not st.ready:
        return u32(0)
    e = VirtqUsedElem()
    while True:
        code = virtq_pop_used(st.rx, e)
        if code == VIRTQ_EMPTY:
            return u32(0)
        if code == VIRTQ_BAD:
            st.stats.rx_errors += 1
            continue
        desc_id = u16(e.id)
        if e.len <= NET_HDR_BYTES or e.len > NET_BUF_BYTES:
            st.stats.rx_errors += 1
            _rx_repost(st, desc_id)
            continue
        frame = e.len - NET_HDR_BYTES
        n = frame
        if n > capacity:
            n = capacity
            st.stats.rx_truncated += 1
        bytecopy(addr, _rx_buf(st, u32(desc_id)) + u64(NET_HDR_BYTES), u64(n))
        _rx_repost(st, desc_id)
        st.stats.rx_frames += 1
        return frame


def virtio_net_irq() -> None:
    # The NIC's interrupt handler (called from the IRQ path on CPU 0, before the GIC EOI): acknowledge at
    # the device. Received frames stay in the used ring for virtio_net_poll.
    st = _net.get()
    if not st.ready:
        return
    status = virtio_mmio_irq_ack(st.base)
    st.stats.irqs += 1
    if (status & VIRTIO_IRQ_CONFIG_CHANGE) != 0:
        st.stats.config_changes += 1


def virtio_net_mtu() -> u32:
    return _net.get().mtu


def virtio_net_mac() -> u64:
    return _net.get().mac


VIRTIO_NET_NIC_OPS: Final = NicOps(send=virtio_net_send, poll=virtio_net_poll, mtu=virtio_net_mtu,
                                   mac=virtio_net_mac)
