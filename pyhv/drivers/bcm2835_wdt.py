# BCM2835/BCM2711 power-management watchdog, used to end the Raspberry Pi 4 (no PSCI firmware there): a
# watchdog-triggered full reset. On QEMU raspi4b run with -no-reboot the reset ends QEMU with status 0.
# Register facts from the BCM2835 PM block as documented by the Linux bcm2835_wdt driver: every write must
# carry the 0x5a password in bits [31:24]. DTB: compatible "brcm,bcm2835-pm-wdt" or "brcm,bcm2835-pm".

from typing import Final

from pyhv.lang import Static, Struct, dsb, mmio_read32, mmio_write32, panic, u32, u64, wfe

from pyhv.core.fdt_reg import FdtReg, fdt_reg
from pyhv.core.power import PowerOps

PM_RSTC: Final = u64(0x1C)                      # reset control
PM_WDOG: Final = u64(0x24)                      # watchdog timer (16 ticks per ms), [19:0]
PM_PASSWORD: Final = u32(0x5A000000)            # required in [31:24] of every write
PM_RSTC_WRCFG_CLR: Final = u32(0xFFFFFFCF)      # RSTC: clears the reset-configuration field [5:4]
PM_RSTC_WRCFG_FULL_RESET: Final = u32(0x20)     # RSTC: full reset when the watchdog expires
PM_WDOG_TIME_MASK: Final = u32(0xFFFFF)
PM_WDOG_RESET_TICKS: Final = u32(10)            # fire after ~0.6 ms


class Bcm2835WdtState(Struct):
    base: u64


_wdt: Final = Static(Bcm2835WdtState)


def bcm2835_wdt_probe(node: u32) -> bool:
    reg = FdtReg()
    if not fdt_reg(node, u32(0), reg):
        return False
    _wdt.get().base = reg.addr
    return True


def bcm2835_wdt_system_off() -> None:
    base = _wdt.get().base
    if base == 0:
        panic("bcm2835-wdt: system_off before probe")
    mmio_write32(base + PM_WDOG, PM_PASSWORD | (PM_WDOG_RESET_TICKS & PM_WDOG_TIME_MASK))
    rstc = mmio_read32(base + PM_RSTC)
    mmio_write32(base + PM_RSTC, PM_PASSWORD | (rstc & PM_RSTC_WRCFG_CLR) | PM_RSTC_WRCFG_FULL_RESET)
    dsb("sy")
    while True:
        wfe()


BCM2835_WDT_POWER_OPS: Final = PowerOps(system_off=bcm2835_wdt_system_off)
