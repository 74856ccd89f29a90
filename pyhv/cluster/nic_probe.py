# Which host NIC the cluster runs on (docs/boards.md): the drivers are tried in a fixed order, each finding
# its own device by the host DTB's `compatible` strings, never by board name: virtio-net (QEMU virt,
# "virtio,mmio") then GENET v5 (Raspberry Pi 4, "brcm,bcm2711-genet-v5"). The first that comes up fills the
# cluster's NicOps slot (nic.py) and this module's NicIrqOps slot (its interrupt and acknowledge). When
# none does, one console line says so and the caller carries on as a one-node cluster: QEMU raspi4b models
# no GENET, so the rpi4 image finds no NIC there.
#
# Interface for the boot flow (pyhv/cluster/boot.py): nic_probe() instead of virtio_net_probe() +
# nic_set(VIRTIO_NET_NIC_OPS); nic_irq_ops().intid() / .irq() instead of virtio_net_intid() /
# virtio_net_irq().

from typing import Callable, Final

from pyhv.lang import Ops, OpsSlot, kprint, u32

from pyhv.cluster.nic import nic_set
from pyhv.drivers.genet import GENET_NIC_OPS, genet_intid, genet_irq, genet_probe
from pyhv.drivers.virtio_net import VIRTIO_NET_NIC_OPS, virtio_net_intid, virtio_net_irq, virtio_net_probe


class NicIrqOps(Ops):
    intid: Callable[[], u32]        # GIC INTID of the NIC's receive interrupt (0: none known; poll it)
    irq: Callable[[], None]         # acknowledge at the device (CPU 0, before the GIC EOI)


VIRTIO_NET_IRQ_OPS: Final = NicIrqOps(intid=virtio_net_intid, irq=virtio_net_irq)
GENET_IRQ_OPS: Final = NicIrqOps(intid=genet_intid, irq=genet_irq)

_irq: Final = OpsSlot(NicIrqOps)


def nic_probe() -> bool:
    # Bring up the first NIC the host DTB describes and select it; False (said once) when there is none.
    if virtio_net_probe():
        nic_set(VIRTIO_NET_NIC_OPS)
        _irq.set(VIRTIO_NET_IRQ_OPS)
        return True
    if genet_probe():
        nic_set(GENET_NIC_OPS)
        _irq.set(GENET_IRQ_OPS)
        return True
    kprint("cluster: no NIC (no usable virtio-net or GENET v5 in the device tree): a one-node cluster\n")
    return False


def nic_irq_ops() -> NicIrqOps:
    return _irq.get()
