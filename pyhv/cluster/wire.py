# The pyhv cluster wire format (docs/protocol.md): Ethernet II frames with EtherType 0x88B5 (IEEE 802
# "local experimental EtherType 1"), a versioned 32-byte packed header, then one message payload (or one
# fragment of it). Headers are pushed into / pulled from the frame buffer in place (struct views on the
# buffer); payloads are never copied on receive. Every received frame is validated here before anything
# else looks at it: a malformed or foreign frame is dropped and counted per reason, never a panic.
#
#   frame buffer: [2 pad][dst mac 6][src mac 6][type 0x88B5][WireHeader 32][payload ...]
#                 the pad makes the payload 8-byte aligned when the buffer is.
#
# All header fields are little-endian except the EtherType (big-endian, as Ethernet requires).

from typing import Annotated, Callable, Final

from pyhv.lang import Array, range, Ops, Static, Struct, struct_at, u8, u16, u32, u64

ETH_P_PYHV: Final = u16(0x88B5)         # IEEE 802 local experimental EtherType 1
WIRE_MAGIC: Final = u16(0x4850)         # "PH"
WIRE_VERSION: Final = u8(2)             # bump on any incompatible header or message change
NODE_NONE: Final = u16(0xFFFF)          # source: "no node id yet"; destination: broadcast / by MAC only
MAC_BROADCAST: Final = u64(0xFFFFFFFFFFFF)
MAX_NODES: Final = u32(16)              # cluster table capacity (node ids 0..15)

FRAME_PAD: Final = u64(2)               # bytes before the Ethernet header in every frame buffer
ETH_HDR_BYTES: Final = u32(14)
WIRE_HDR_BYTES: Final = u32(32)
HDRS_BYTES: Final = u32(46)             # Ethernet + pyhv header
MSG_MAX_BYTES: Final = u32(4160)        # largest message: a 4 KiB page plus a 64-byte message header
FRAME_BUF_BYTES: Final = u32(4224)      # one frame buffer: pad + headers + MSG_MAX_BYTES, rounded up
FRAME_MAX_BYTES: Final = u32(4206)      # HDRS_BYTES + MSG_MAX_BYTES: the longest frame pyhv sends
MTU_STANDARD: Final = u32(1500)         # Ethernet payload bytes (the pyhv header counts against it)
MTU_JUMBO_MIN: Final = u32(4192)        # WIRE_HDR_BYTES + MSG_MAX_BYTES: a whole page in one frame
WIRE_MAX_FRAGS: Final = u8(4)           # a page at a 1500-byte MTU takes 3

# Message types: the index of the type's row in MSG_TABLE (pyhv/cluster/msgtable.py).
MSG_ACK: Final = u32(0)                 # pure cumulative ack (control)
MSG_KEEPALIVE: Final = u32(1)           # reliable no-op: its ack proves the peer is alive
MSG_ANNOUNCE: Final = u32(2)            # bootstrap -> broadcast: "cluster X is here"
MSG_JOIN: Final = u32(3)                # joiner -> bootstrap MAC: "admit me"
MSG_WELCOME: Final = u32(4)             # bootstrap -> joiner MAC: your node id (or a refusal)
MSG_CLUSTER_TABLE: Final = u32(5)               # bootstrap -> member: the whole cluster table
MSG_SETUP_DONE: Final = u32(6)          # member -> bootstrap: table applied, clock synchronised
MSG_BOOT: Final = u32(7)                # bootstrap -> member: start the guest
MSG_CLOCK_PROBE: Final = u32(8)         # member -> bootstrap: clock probe
MSG_CLOCK_REPLY: Final = u32(9)         # bootstrap -> member: the bootstrap's guest counter
MSG_ECHO: Final = u32(10)               # request/reply self-test and soak payload
MSG_MARKER: Final = u32(11)             # host switch -> broadcast: skew marker (never sent by a node)
MSG_DSM_GET_S: Final = u32(12)          # requester -> home: a read copy, please (pyhv/dsm, docs/dsm.md)
MSG_DSM_GET_X: Final = u32(13)          # requester -> home: an exclusive copy (or an upgrade of ours)
MSG_DSM_DATA: Final = u32(14)           # home -> requester: the page, shared or exclusive
MSG_DSM_GRANT_X: Final = u32(15)        # home -> requester: upgrade granted, keep your data
MSG_DSM_INV: Final = u32(16)            # home -> sharer: drop your READ copy
MSG_DSM_INV_ACK: Final = u32(17)        # sharer -> home: dropped
MSG_DSM_RECALL: Final = u32(18)         # home -> owner: send the page back, downgrade or drop it
MSG_DSM_RECALL_DATA: Final = u32(19)    # owner -> home: the page
MSG_DSM_PUT_S: Final = u32(20)          # sharer -> home: clean copy evicted (no answer)
MSG_DSM_PUT_X: Final = u32(21)          # owner -> home: dirty copy written back
MSG_DSM_PUT_ACK: Final = u32(22)        # home -> owner: write-back applied
MSG_DSM_LOST: Final = u32(23)           # home -> requester: the page's only copy died with a node
# The cross-node half of the VM (docs/cluster-vm.md): pyhv/core/remote*.py, pyhv/vdev/vgic_remote.py.
MSG_MMIO: Final = u32(24)               # request/reply: a guest MMIO access executed on the device's owner
MSG_SGI: Final = u32(25)                # one-way: SGIs for vCPUs of the receiving node
MSG_SPI: Final = u32(26)                # one-way, distributor -> target node: an SPI's state for its vCPU
MSG_GICD_CTLR: Final = u32(27)          # one-way, distributor -> every node: the group enables
MSG_KICK: Final = u32(28)               # one-way: make a vCPU of the receiving node exit and flush
MSG_PSCI: Final = u32(29)               # request/reply: CPU_ON / state of a vCPU of the receiving node
MSG_POWER: Final = u32(30)              # request/reply: the guest powered the VM off (or asked for a reset)
MSG_VM_READY: Final = u32(31)           # a joiner set its part of the VM up (pyhv/core/vmready.py)
MSG_UART: Final = u32(32)               # one-way: the console UART moving between nodes (pyhv/core/remote_uart.py)
MSG_TYPES: Final = u32(33)

# WireHeader.flags
F_RELIABLE: Final = u8(1)               # seq is valid: the frame is part of the peer's reliable stream
F_ACK: Final = u8(2)                    # ack is valid (cumulative: the next seq the sender expects)
F_REPLY: Final = u8(4)                  # a reply to the request req_id (goes to the request table)

# MsgRow.kind
KIND_DATAGRAM: Final = u32(0)           # discovery: unreliable, may come from a node without an id
KIND_RELIABLE: Final = u32(1)           # carried by the reliable transport, only from cluster members
KIND_CONTROL: Final = u32(2)            # transport control (pure ack, keepalive): members only, unreliable

# Drop reasons: index into WireStats.drops (docs/protocol.md lists them).
DROP_NONE: Final = u32(0)
DROP_ETHERTYPE: Final = u32(1)          # not our EtherType (foreign traffic)
DROP_MAGIC: Final = u32(2)
DROP_VERSION: Final = u32(3)
DROP_TRUNCATED: Final = u32(4)          # shorter than its headers or its payload_len
DROP_OVERSIZE: Final = u32(5)           # longer than any frame pyhv sends
DROP_CHECKSUM: Final = u32(6)
DROP_FOREIGN_CLUSTER: Final = u32(7)    # our EtherType, another cluster name
DROP_UNKNOWN_TYPE: Final = u32(8)
DROP_SHORT_MSG: Final = u32(9)          # message shorter than its type's minimum
DROP_WRONG_DST: Final = u32(10)
DROP_NOT_MEMBER: Final = u32(11)        # source node id not in the cluster table
DROP_BAD_FRAGMENT: Final = u32(12)      # fragment fields inconsistent, or out of sequence in reassembly
DROP_DUPLICATE: Final = u32(13)         # seq already delivered
DROP_OUT_OF_ORDER: Final = u32(14)      # seq beyond the next expected (go-back-N: resent later)
DROP_STRAY_REPLY: Final = u32(15)       # reply to no outstanding request
DROP_PEER_LOST: Final = u32(16)         # from a peer already declared lost
DROP_BAD_KIND: Final = u32(17)          # flags do not match the type's kind (e.g. a reliable datagram)
DROP_STALE_STREAM: Final = u32(18)      # stream epochs are not the current ones: from / to a node's earlier life
DROP_BACKLOG_FULL: Final = u32(19)      # in order, but the send backlog is too low for its handler: resent later
DROP_SPOOFED: Final = u32(20)           # Ethernet source is not the sender's MAC (table entry, JOIN / ANNOUNCE
                                        # mac field, the bootstrap heard in ANNOUNCE for a WELCOME)
DROP_BAD_FIELD: Final = u32(21)         # a well-formed message with a field out of range or contradicting
                                        # what we know (a node id not in the table, an epoch 0, a table
                                        # without us, a JOIN with our / a broadcast MAC, ...)
DROP_RATE_LIMITED: Final = u32(22)      # a JOIN that would admit or readmit a node beyond ADMIT_BURST per second
DROP_REASONS: Final = u32(23)


class MacAddr(Struct, packed=True):
    b: Annotated[Array[u8], 6]              # transmission order: b[0] is the most significant byte


class EthHeader(Struct, packed=True):
    dst: MacAddr
    src: MacAddr
    ethertype: Annotated[Array[u8], 2]      # big-endian


class WireHeader(Struct, packed=True):
    magic: u16
    version: u8
    msg_type: u8
    flags: u8               # F_RELIABLE | F_ACK | F_REPLY
    frag_index: u8          # this fragment, 0-based
    frag_count: u8          # fragments of the message, 1..WIRE_MAX_FRAGS
    epochs: u8              # reliable/control: sender's stream epoch << 4 | receiver's (1..15); 0 otherwise
    src_node: u16           # NODE_NONE before the node has an id
    dst_node: u16           # NODE_NONE: broadcast / by MAC
    seq: u32                # reliable stream position (F_RELIABLE)
    ack: u32                # next seq the sender expects from us (F_ACK)
    req_id: u32             # request id (request and its reply), 0 if none
    payload_len: u16        # payload bytes in this frame
    msg_len: u16            # bytes of the whole message (all fragments)
    hdr_csum: u16           # ones' complement sum of the header with this field 0 (payload: Ethernet FCS)
    cluster_id: u16         # hash of the cluster name: two clusters can share a LAN


class Frame(Struct, packed=True):
    eth: EthHeader
    hdr: WireHeader


class _HeaderWords(Struct, packed=True):
    w: Annotated[Array[u16], 16]            # the WireHeader as halfwords, for the checksum


class FrameBuf(Struct):
    data: Annotated[Array[u8], 4224]        # FRAME_BUF_BYTES; the frame starts at FRAME_PAD


class MsgRow(Ops):
    msg_type: u32                               # equals the row's index in MSG_TABLE (checked at init)
    kind: u32                                   # KIND_DATAGRAM / KIND_RELIABLE / KIND_CONTROL
    min_len: u32                                # shortest valid message of this type, bytes
    handler: Callable[[u16, u32, u64, u32], None]   # (src node, req_id, payload address, length)


class WireStats(Struct):
    # Every received frame lands in exactly one bucket: rx_frames = rx_ok + sum(drops). rx_ok counts frames
    # taken (a datagram handled, a reliable frame delivered or kept as a fragment, a pure ack applied).
    rx_frames: u64
    rx_ok: u64
    tx_frames: u64
    rx_src_mac: u64         # Ethernet source of the frame being handled (datagram handlers compare it)
    frame_dropped: bool     # the frame being handled was counted as a drop (it is then not rx_ok)
    drops: Annotated[Array[u64], 23]        # DROP_REASONS


_stats: Final = Static(WireStats)


def wire_stats() -> WireStats:
    return _stats.get()


def wire_count_drop(reason: u32) -> None:
    # The frame being handled is dropped for `reason` (at most once per frame: cluster_handle_frame then
    # does not count it as rx_ok).
    st = _stats.get()
    st.drops[reason] += 1
    st.frame_dropped = True


def wire_rx_src_mac() -> u64:
    # The Ethernet source MAC of the frame being handled (for datagram handlers, which have no node id).
    return _stats.get().rx_src_mac


def wire_mac_is_unicast(mac: u64) -> bool:
    # A MAC a node can have: not zero, not broadcast, not multicast (I/G bit, the first octet's bit 0).
    return mac != 0 and mac != MAC_BROADCAST and ((mac >> 40) & 1) == 0


def wire_frame(buf_addr: u64) -> Frame:
    # The frame inside a frame buffer (headers pulled in place, nothing copied).
    return struct_at(Frame, buf_addr + FRAME_PAD)


def wire_payload_addr(buf_addr: u64) -> u64:
    return buf_addr + FRAME_PAD + u64(HDRS_BYTES)


def wire_put_mac(m: MacAddr, mac: u64) -> None:
    for i in range(u32(6)):
        m.b[i] = u8(mac >> (u32(40) - i * 8))


def wire_get_mac(m: MacAddr) -> u64:
    mac = u64(0)
    for i in range(u32(6)):
        mac = (mac << 8) | u64(m.b[i])
    return mac


def wire_header_csum(hdr_addr: u64) -> u16:
    # Ones' complement sum of the 16 header halfwords, hdr_csum (halfword 14) taken as 0.
    words = struct_at(_HeaderWords, hdr_addr)
    total = u32(0)
    for i in range(u32(16)):
        if i != 14:
            total += u32(words.w[i])
    while (total >> 16) != 0:
        total = (total & 0xFFFF) + (total >> 16)
    return ~u16(total)


def wire_push_headers(buf_addr: u64, dst_mac: u64, src_mac: u64, msg_type: u32, flags: u8,
                      src_node: u16, dst_node: u16, req_id: u32, payload_len: u32, msg_len: u32,
                      cluster_id: u16) -> WireHeader:
    # Write both headers in front of a payload already in place; seq/ack/fragment fields are zero and the
    # checksum is left for wire_seal() (the transport fills seq/ack at transmit time).
    f = wire_frame(buf_addr)
    wire_put_mac(f.eth.dst, dst_mac)
    wire_put_mac(f.eth.src, src_mac)
    f.eth.ethertype[0] = u8(ETH_P_PYHV >> 8)
    f.eth.ethertype[1] = u8(ETH_P_PYHV)
    h = f.hdr
    h.magic = WIRE_MAGIC
    h.version = WIRE_VERSION
    h.msg_type = u8(msg_type)
    h.flags = flags
    h.frag_index = u8(0)
    h.frag_count = u8(1)
    h.epochs = u8(0)
    h.src_node = src_node
    h.dst_node = dst_node
    h.seq = u32(0)
    h.ack = u32(0)
    h.req_id = req_id
    h.payload_len = u16(payload_len)
    h.msg_len = u16(msg_len)
    h.hdr_csum = u16(0)
    h.cluster_id = cluster_id
    return h


def wire_seal(buf_addr: u64) -> None:
    # Compute the header checksum after the last header change.
    hdr_addr = buf_addr + FRAME_PAD + u64(ETH_HDR_BYTES)
    struct_at(WireHeader, hdr_addr).hdr_csum = wire_header_csum(hdr_addr)


def wire_frag_payload_bytes(mtu: u32) -> u32:
    # Payload bytes per frame at this MTU (a whole message when the MTU allows it).
    if mtu >= MTU_JUMBO_MIN:
        return MSG_MAX_BYTES
    return mtu - WIRE_HDR_BYTES


def wire_validate(buf_addr: u64, frame_len: u32, my_node: u16, cluster_id: u16, max_mtu: u32,
                  row_kind: u32, row_min_len: u32) -> u32:
    # Structural checks of a received frame (the header and its length). Returns DROP_NONE or the reason.
    # row_kind/row_min_len describe hdr.msg_type's MsgRow; the caller passes KIND_* = 0xFFFFFFFF for an
    # unknown type (it only reads the type after the first checks passed; see wire_peek_type).
    if frame_len < ETH_HDR_BYTES:
        return DROP_TRUNCATED
    f = wire_frame(buf_addr)
    if f.eth.ethertype[0] != u8(ETH_P_PYHV >> 8) or f.eth.ethertype[1] != u8(ETH_P_PYHV):
        return DROP_ETHERTYPE
    if frame_len < HDRS_BYTES:
        return DROP_TRUNCATED
    if frame_len > ETH_HDR_BYTES + max_mtu or frame_len > FRAME_MAX_BYTES:
        return DROP_OVERSIZE
    h = f.hdr
    if h.magic != WIRE_MAGIC:
        return DROP_MAGIC
    if h.version != WIRE_VERSION:
        return DROP_VERSION
    if h.hdr_csum != wire_header_csum(buf_addr + FRAME_PAD + u64(ETH_HDR_BYTES)):
        return DROP_CHECKSUM
    if h.cluster_id != cluster_id:
        return DROP_FOREIGN_CLUSTER
    if u32(h.payload_len) + HDRS_BYTES > frame_len:
        return DROP_TRUNCATED
    if row_kind == u32(0xFFFFFFFF):
        return DROP_UNKNOWN_TYPE
    if u32(h.msg_len) > MSG_MAX_BYTES:
        return DROP_OVERSIZE
    if u32(h.msg_len) < row_min_len:
        return DROP_SHORT_MSG
    count = h.frag_count
    if count == 0 or count > WIRE_MAX_FRAGS or h.frag_index >= count or h.payload_len > h.msg_len:
        return DROP_BAD_FRAGMENT
    if count == 1 and h.payload_len != h.msg_len:
        return DROP_BAD_FRAGMENT
    reliable = (h.flags & F_RELIABLE) != 0
    if row_kind == KIND_RELIABLE:
        if not reliable:
            return DROP_BAD_KIND
        if h.dst_node != my_node:
            return DROP_WRONG_DST
    else:
        if reliable or count != 1:
            return DROP_BAD_KIND
        if row_kind == KIND_CONTROL and h.dst_node != my_node:
            return DROP_WRONG_DST
        if row_kind == KIND_DATAGRAM and h.dst_node != NODE_NONE and h.dst_node != my_node:
            return DROP_WRONG_DST
    return DROP_NONE


def wire_peek_type(buf_addr: u64) -> u32:
    # The message type byte (valid once the frame is long enough for its headers).
    return u32(wire_frame(buf_addr).hdr.msg_type)
