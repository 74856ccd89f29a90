# THE message table: one row per message type, its kind, minimum length and handler (docs/protocol.md
# lists the payload structs). Row i handles type i, so dispatch is one index; msgtable_check (run by
# cluster_init, and by the tests) panics on a row out of place, which also catches a duplicate type.
# Handlers run from the receive path: they may send, never wait.
#
# Rows 12..23 are the DSM (docs/dsm.md; handlers in pyhv/dsm/home.py and local.py). Row 31 is the VM's start barrier
# (pyhv/core/vmready.py), row 32 the moving console UART (pyhv/core/remote_uart.py). Rows 24..30 are the
# cross-node VM (docs/cluster-vm.md); their handlers live in pyhv/core/remote.py and
# pyhv/vdev/vgic_remote.py, which is why this table (alone in pyhv/cluster) imports dsm, core and vdev. A request
# and its reply share a row: min_len is the shorter of the two (the handler checks the request's length).

from typing import Final

from pyhv.lang import Static, Struct, panic, range, u16, u32, u64

from pyhv.cluster.clocksync import clock_probe_handler, clock_reply_handler
from pyhv.cluster.echo import ECHO_MIN_BYTES, echo_handler
from pyhv.cluster.marker import MARKER_MSG_BYTES, marker_handler
from pyhv.cluster.membership import (
    JOIN_MSG_BYTES, TABLE_MSG_BYTES, WELCOME_MSG_BYTES, announce_handler, boot_handler, join_handler,
    setup_done_handler, table_handler,
    welcome_handler,
)
from pyhv.cluster.wire import (
    KIND_CONTROL, KIND_DATAGRAM, KIND_RELIABLE, MSG_ACK, MSG_ANNOUNCE, MSG_BOOT, MSG_CLOCK_PROBE,
    MSG_CLOCK_REPLY, MSG_ECHO, MSG_GICD_CTLR, MSG_JOIN, MSG_KEEPALIVE, MSG_KICK, MSG_MARKER, MSG_MMIO,
    MSG_POWER, MSG_PSCI, MSG_SETUP_DONE, MSG_SGI, MSG_SPI, MSG_CLUSTER_TABLE, MSG_TYPES, MSG_VM_READY,
    MSG_UART, MSG_WELCOME, MsgRow,
)
from pyhv.cluster.wire import (
    MSG_DSM_DATA, MSG_DSM_GET_S, MSG_DSM_GET_X, MSG_DSM_GRANT_X, MSG_DSM_INV, MSG_DSM_INV_ACK, MSG_DSM_LOST,
    MSG_DSM_PUT_ACK, MSG_DSM_PUT_S, MSG_DSM_PUT_X, MSG_DSM_RECALL, MSG_DSM_RECALL_DATA,
)
from pyhv.dsm.home import (
    dsm_get_s_handler, dsm_get_x_handler, dsm_inv_ack_handler, dsm_put_s_handler, dsm_put_x_handler,
    dsm_recall_data_handler,
)
from pyhv.dsm.local import (
    dsm_data_handler, dsm_grant_handler, dsm_inv_handler, dsm_lost_handler, dsm_put_ack_handler,
    dsm_recall_handler,
)
from pyhv.core.remote import (
    KICK_MSG_BYTES, MMIO_REPLY_BYTES, POWER_MSG_BYTES, PSCI_REPLY_BYTES, remote_kick_handler, remote_mmio_handler,
    remote_power_handler, remote_psci_handler,
)
from pyhv.core.remote_uart import UART_MSG_BYTES, remote_uart_handler
from pyhv.core.vmready import VM_READY_MSG_BYTES, vmready_handler
from pyhv.vdev.vgic_remote import (
    CTLR_MSG_BYTES, SGI_MSG_BYTES, SPI_MSG_BYTES, vgic_remote_ctlr_handler, vgic_remote_sgi_handler,
    vgic_remote_spi_handler,
)


def _no_handler(src: u16, req_id: u32, payload: u64, length: u32) -> None:
    pass


MSG_TABLE: Final = (
    MsgRow(msg_type=MSG_ACK, kind=KIND_CONTROL, min_len=u32(0), handler=_no_handler),
    MsgRow(msg_type=MSG_KEEPALIVE, kind=KIND_RELIABLE, min_len=u32(0), handler=_no_handler),
    MsgRow(msg_type=MSG_ANNOUNCE, kind=KIND_DATAGRAM, min_len=u32(24), handler=announce_handler),
    MsgRow(msg_type=MSG_JOIN, kind=KIND_DATAGRAM, min_len=JOIN_MSG_BYTES, handler=join_handler),
    MsgRow(msg_type=MSG_WELCOME, kind=KIND_DATAGRAM, min_len=WELCOME_MSG_BYTES, handler=welcome_handler),
    MsgRow(msg_type=MSG_CLUSTER_TABLE, kind=KIND_RELIABLE, min_len=TABLE_MSG_BYTES, handler=table_handler),
    MsgRow(msg_type=MSG_SETUP_DONE, kind=KIND_RELIABLE, min_len=u32(4), handler=setup_done_handler),
    MsgRow(msg_type=MSG_BOOT, kind=KIND_RELIABLE, min_len=u32(4), handler=boot_handler),
    MsgRow(msg_type=MSG_CLOCK_PROBE, kind=KIND_RELIABLE, min_len=u32(32), handler=clock_probe_handler),
    MsgRow(msg_type=MSG_CLOCK_REPLY, kind=KIND_RELIABLE, min_len=u32(32), handler=clock_reply_handler),
    MsgRow(msg_type=MSG_ECHO, kind=KIND_RELIABLE, min_len=ECHO_MIN_BYTES, handler=echo_handler),
    MsgRow(msg_type=MSG_MARKER, kind=KIND_DATAGRAM, min_len=MARKER_MSG_BYTES, handler=marker_handler),
    # pyhv/dsm: control messages are DsmCtlMsg (12 bytes), page messages DsmDataMsg (16 + 4096 bytes)
    MsgRow(msg_type=MSG_DSM_GET_S, kind=KIND_RELIABLE, min_len=u32(12), handler=dsm_get_s_handler),
    MsgRow(msg_type=MSG_DSM_GET_X, kind=KIND_RELIABLE, min_len=u32(12), handler=dsm_get_x_handler),
    MsgRow(msg_type=MSG_DSM_DATA, kind=KIND_RELIABLE, min_len=u32(4112), handler=dsm_data_handler),
    MsgRow(msg_type=MSG_DSM_GRANT_X, kind=KIND_RELIABLE, min_len=u32(12), handler=dsm_grant_handler),
    MsgRow(msg_type=MSG_DSM_INV, kind=KIND_RELIABLE, min_len=u32(12), handler=dsm_inv_handler),
    MsgRow(msg_type=MSG_DSM_INV_ACK, kind=KIND_RELIABLE, min_len=u32(12), handler=dsm_inv_ack_handler),
    MsgRow(msg_type=MSG_DSM_RECALL, kind=KIND_RELIABLE, min_len=u32(12), handler=dsm_recall_handler),
    MsgRow(msg_type=MSG_DSM_RECALL_DATA, kind=KIND_RELIABLE, min_len=u32(4112), handler=dsm_recall_data_handler),
    MsgRow(msg_type=MSG_DSM_PUT_S, kind=KIND_RELIABLE, min_len=u32(12), handler=dsm_put_s_handler),
    MsgRow(msg_type=MSG_DSM_PUT_X, kind=KIND_RELIABLE, min_len=u32(4112), handler=dsm_put_x_handler),
    MsgRow(msg_type=MSG_DSM_PUT_ACK, kind=KIND_RELIABLE, min_len=u32(12), handler=dsm_put_ack_handler),
    MsgRow(msg_type=MSG_DSM_LOST, kind=KIND_RELIABLE, min_len=u32(12), handler=dsm_lost_handler),
    MsgRow(msg_type=MSG_MMIO, kind=KIND_RELIABLE, min_len=MMIO_REPLY_BYTES, handler=remote_mmio_handler),
    MsgRow(msg_type=MSG_SGI, kind=KIND_RELIABLE, min_len=SGI_MSG_BYTES, handler=vgic_remote_sgi_handler),
    MsgRow(msg_type=MSG_SPI, kind=KIND_RELIABLE, min_len=SPI_MSG_BYTES, handler=vgic_remote_spi_handler),
    MsgRow(msg_type=MSG_GICD_CTLR, kind=KIND_RELIABLE, min_len=CTLR_MSG_BYTES, handler=vgic_remote_ctlr_handler),
    MsgRow(msg_type=MSG_KICK, kind=KIND_RELIABLE, min_len=KICK_MSG_BYTES, handler=remote_kick_handler),
    MsgRow(msg_type=MSG_PSCI, kind=KIND_RELIABLE, min_len=PSCI_REPLY_BYTES, handler=remote_psci_handler),
    MsgRow(msg_type=MSG_POWER, kind=KIND_RELIABLE, min_len=POWER_MSG_BYTES, handler=remote_power_handler),
    MsgRow(msg_type=MSG_VM_READY, kind=KIND_RELIABLE, min_len=VM_READY_MSG_BYTES, handler=vmready_handler),
    MsgRow(msg_type=MSG_UART, kind=KIND_RELIABLE, min_len=UART_MSG_BYTES, handler=remote_uart_handler),
)


def msgtable_check() -> None:
    if u32(len(MSG_TABLE)) != MSG_TYPES:
        panic("MSG_TABLE: one row per message type expected")
    for i in range(u32(0), u32(len(MSG_TABLE))):
        if MSG_TABLE[i].msg_type != i:
            panic("MSG_TABLE: row out of place or duplicate message type")


def msgtable_row(msg_type: u32) -> MsgRow:
    return MSG_TABLE[msg_type]
