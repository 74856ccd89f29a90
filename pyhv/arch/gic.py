# The host interrupt controller interface. One GicOps table per driver (pyhv/drivers/gicv2.py,
# pyhv/drivers/gicv3.py); pyhv/core/devices.py puts the one the DTB describes into the slot, and the rest
# of pyhv calls gic_*() without knowing which GIC it runs on.

from typing import Callable, Final

from pyhv.lang import Ops, OpsSlot, u8, u32, u64

GIC_SPURIOUS: Final = u32(1023)         # INTID returned by an acknowledge when nothing is pending
GIC_FIRST_SPECIAL: Final = u32(1020)    # INTIDs 1020-1023 are special: never acknowledge-and-EOI them
GIC_MAX_IRQS: Final = u32(1020)         # architectural limit of SGI+PPI+SPI INTIDs
GIC_PRIO_DEFAULT: Final = u8(0xA0)      # priority for everything we enable (lower value = more urgent)
GIC_PMR_ALLOW_ALL: Final = u32(0xF0)    # priority mask: let every priority < 0xF0 through


class GicOps(Ops):
    probe: Callable[[u32], bool]            # (DTB node) read the frame addresses; False if unusable
    init_dist: Callable[[], None]           # once per node, by the boot CPU
    init_cpu: Callable[[], None]            # on every CPU, before it takes interrupts
    enable_ppi: Callable[[u32, u8], None]   # (intid 16-31, priority) on the calling CPU
    ack: Callable[[], u32]                  # acknowledge: INTID of the highest pending interrupt
    eoi: Callable[[u32], None]              # end of interrupt (priority drop + deactivate)
    nr_irqs: Callable[[], u32]              # INTIDs the distributor implements (GICD_TYPER.ITLinesNumber)
    version: Callable[[], u32]              # 2 or 3
    enable_sgi: Callable[[u32, u8], None]   # (intid 0-15, priority) on the calling CPU
    send_sgi: Callable[[u64, u32], None]    # (target CPU's MPIDR affinity, intid 0-15)
    enable_spi: Callable[[u32, u8], None]   # (intid 32+, priority) level-sensitive, routed to the calling CPU
    disable_ppi: Callable[[u32], None]      # (intid 16-31) on the calling CPU: a level PPI pyhv forwards


_gic: Final = OpsSlot(GicOps)


def gic_set_driver(ops: GicOps) -> None:
    _gic.set(ops)


def gic_init_dist() -> None:
    _gic.get().init_dist()


def gic_init_cpu() -> None:
    _gic.get().init_cpu()


def gic_enable_ppi(intid: u32, prio: u8) -> None:
    _gic.get().enable_ppi(intid, prio)


def gic_disable_ppi(intid: u32) -> None:
    # Stop taking PPI `intid` on this CPU (gic_enable_ppi undoes it). vtimer.py holds a timer PPI off while
    # the guest's virtual line is up instead of masking the timer itself, so the guest's IMASK stays its own.
    _gic.get().disable_ppi(intid)


def gic_ack() -> u32:
    return _gic.get().ack()


def gic_eoi(intid: u32) -> None:
    _gic.get().eoi(intid)


def gic_enable_sgi(intid: u32, prio: u8) -> None:
    _gic.get().enable_sgi(intid, prio)


def gic_send_sgi(mpidr: u64, intid: u32) -> None:
    # Raise SGI `intid` on the CPU of this node whose MPIDR affinity is `mpidr` (wake-ups between CPUs).
    _gic.get().send_sgi(mpidr, intid)


def gic_enable_spi(intid: u32, prio: u8) -> None:
    # Enable shared peripheral interrupt `intid` as level-sensitive and route it to the calling CPU only
    # (the CPU that owns the device: its handler runs there and needs no lock against other CPUs).
    _gic.get().enable_spi(intid, prio)


def gic_nr_irqs() -> u32:
    return _gic.get().nr_irqs()


def gic_version() -> u32:
    return _gic.get().version()


def gic_typer_nr_irqs(typer: u32) -> u32:
    # GICD_TYPER.ITLinesNumber [4:0]: the distributor implements 32 * (N + 1) INTIDs, capped at 1020.
    n = ((typer & 0x1F) + 1) * 32
    return GIC_MAX_IRQS if n > GIC_MAX_IRQS else n
