# The echo service: a request/reply message used by the self-test, the soak and the simulator. A request
# carries a token and any payload up to a page; the reply is the same payload with the token plus one. Per
# source node it counts requests handled and sums their tokens, so a campaign can prove every request was
# handled exactly once.
#
# An ECHO with req_id 0 is one-way (requests always have a non-zero id): it is counted and not answered.
# The burst (pyhv/cluster/burst.py) sends those; its token is sender << 32 | sequence, and the
# message's last word is the token xor ECHO_ONEWAY_CHECK, so the handler checks per source that the
# sequences arrive 0, 1, 2, ... (exactly once, in order) and that each message arrived whole.

from typing import Annotated, Final

from pyhv.lang import Array, Static, Struct, struct_at, u8, u16, u32, u64

from pyhv.cluster.transport import transport_send
from pyhv.cluster.wire import F_REPLY, MSG_ECHO

ECHO_MIN_BYTES: Final = u32(8)
ECHO_ONEWAY_CHECK: Final = u64(0xA5A55A5AC3C33C3C)


class EchoHead(Struct, packed=True):
    token: u64


class EchoTail(Struct, packed=True):
    check: u64


class EchoStats(Struct):
    handled: Annotated[Array[u64], 16]      # requests handled, per source node
    token_sum: Annotated[Array[u64], 16]    # sum of their tokens, per source node
    oneway: Annotated[Array[u64], 16]       # one-way messages received in order and whole, per source
    oneway_bad: Annotated[Array[u64], 16]   # one-way messages out of sequence or damaged, per source


_echo: Final = Static(EchoStats)


def echo_stats() -> EchoStats:
    return _echo.get()


def echo_handler(src: u16, req_id: u32, payload: u64, length: u32) -> None:
    st = _echo.get()
    head = struct_at(EchoHead, payload)
    if req_id == 0:
        tail = struct_at(EchoTail, payload + u64(length) - 8)
        if (head.token & 0xFFFFFFFF) == st.oneway[src] and tail.check == head.token ^ ECHO_ONEWAY_CHECK:
            st.oneway[src] += 1
        else:
            st.oneway_bad[src] += 1
        return
    st.handled[src] += 1
    st.token_sum[src] += head.token
    head.token += 1
    transport_send(src, MSG_ECHO, F_REPLY, req_id, payload, length)
