# The NIC interface the cluster code talks to: one ops table per node, filled by the driver the board
# record picks (virtio-net on QEMU, GENET on the RPi4) or by the simulator's network model. Frames are
# passed by address: the driver copies (DMAs) them, the caller keeps its buffer.

from typing import Callable, Final

from pyhv.lang import Ops, OpsSlot, u32, u64


class NicOps(Ops):
    send: Callable[[u64, u32], u32]     # (frame address, length) -> 0 sent, else the driver's error code
    poll: Callable[[u64, u32], u32]     # (buffer address, capacity) -> frame length, 0 = nothing waiting;
                                        # a frame longer than the capacity is cut to it and its real
                                        # length returned (the caller drops it as oversize)
    mtu: Callable[[], u32]              # Ethernet payload bytes the link carries (1500, or jumbo)
    mac: Callable[[], u64]              # this NIC's MAC address, low 48 bits, first byte most significant


_nic: Final = OpsSlot(NicOps)


def nic_set(ops: NicOps) -> None:
    _nic.set(ops)


def nic() -> NicOps:
    return _nic.get()
