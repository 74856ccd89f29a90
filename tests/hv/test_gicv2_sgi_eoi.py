"""GICv2 host driver: the EOI of an SGI carries the source CPU ID its acknowledge returned (IHI 0048B
§4.4.5). A real GIC-400 leaves an SGI active when EOIR names another source, after which that source's
kicks (pyhv's VCPU_KICK_SGI) would never arrive again; QEMU's model ignores the field, so only this register
model can tell."""

from __future__ import annotations

from pyhv.lang import u32

from pyhv.arch.gic import gic_ack, gic_eoi
from pyhv.core.devices import devices_probe_gic

from .conftest import Board
from .dtbs import GICC_BASE, GICD_BASE, virt_dtb


class Regs:
    """GICD/GICC stand-in: IAR returns the queued raw values in turn, EOIR writes are recorded raw."""

    def __init__(self, iars: list[int]) -> None:
        self.iars = iars
        self.eoirs: list[int] = []

    def read(self, offset: int, width_bytes: int) -> int:
        if offset == 0x00C:
            return self.iars.pop(0) if self.iars else 0x3FF
        return 0

    def write(self, offset: int, width_bytes: int, value: int) -> None:
        if offset == 0x010:
            self.eoirs.append(value)


def test_sgi_eoi_carries_the_source_cpu_and_other_interrupts_their_intid(board: Board) -> None:
    gicc = Regs([(3 << 10) | 8, 27, (1 << 10) | 8])
    board.node.mmio.map(GICD_BASE, 0x10000, Regs([]))
    board.node.mmio.map(GICC_BASE, 0x10000, gicc)
    board.load_dtb(virt_dtb(gic=2))
    devices_probe_gic()
    for _ in range(3):
        intid = gic_ack()
        gic_eoi(intid)
    assert gicc.eoirs == [(3 << 10) | 8, 27, (1 << 10) | 8]
    gic_eoi(u32(26))                                    # an EOI for something not just acknowledged
    assert gicc.eoirs[-1] == 26
