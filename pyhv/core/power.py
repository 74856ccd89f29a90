# Powering the node off. Which mechanism a board has is data from the DTB: PSCI SYSTEM_OFF when there is a
# /psci node (pyhv/arch/psci.py), the BCM2835 power-management watchdog on a Raspberry Pi 4 without PSCI
# (pyhv/drivers/bcm2835_wdt.py); pyhv/core/devices.py puts the chosen table in the slot.

from typing import Callable, Final

from pyhv.lang import Ops, OpsSlot, kprint, wfe


class PowerOps(Ops):
    system_off: Callable[[], None]      # does not return on hardware


def _halt_system_off() -> None:
    kprint("power: no power-off method in the DTB; halting this CPU\n")
    while True:
        wfe()


HALT_POWER_OPS: Final = PowerOps(system_off=_halt_system_off)   # the "absent" implementation

_power: Final = OpsSlot(PowerOps)


def power_set_driver(ops: PowerOps) -> None:
    _power.set(ops)


def power_off() -> None:
    _power.get().system_off()
