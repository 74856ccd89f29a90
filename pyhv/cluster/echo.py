# The echo service: a request/reply message used by the self-test, the soak and the simulator. A request
# carries a token and any payload up to a page; the reply is the same payload with the token plus one. Per
# source node it counts requests handled and sums their tokens, so a campaign can prove every request was
# handled exactly once.

from typing import Annotated, Final

from pyhv.lang import Array, Static, Struct, struct_at, u8, u16, u32, u64

from pyhv.cluster.transport import transport_send
from pyhv.cluster.wire import F_REPLY, MSG_ECHO

ECHO_MIN_BYTES: Final = u32(8)


class EchoHead(Struct, packed=True):
    token: u64


class EchoStats(Struct):
    handled: Annotated[Array[u64], 16]      # requests handled, per source node
    token_sum: Annotated[Array[u64], 16]    # sum of their tokens, per source node


_echo: Final = Static(EchoStats)


def echo_stats() -> EchoStats:
    return _echo.get()


def echo_handler(src: u16, req_id: u32, payload: u64, length: u32) -> None:
    st = _echo.get()
    head = struct_at(EchoHead, payload)
    st.handled[src] += 1
    st.token_sum[src] += head.token
    head.token += 1
    transport_send(src, MSG_ECHO, F_REPLY, req_id, payload, length)
