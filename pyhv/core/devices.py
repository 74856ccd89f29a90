# Driver choice: the probe tables. Each host device class (console, interrupt controller, power) is one
# slot of ops; the first row whose DTB `compatible` (or path) matches an enabled node wins. Adding a
# board means adding rows here and a driver file, never a branch on the board's name elsewhere.

from pyhv.lang import panic, u32, u64

from pyhv.arch.gic import GicOps, gic_set_driver
from pyhv.arch.psci import PSCI_POWER_OPS, psci_probe
from pyhv.core.fdt import FDT_NONE, fdt_find_compatible, fdt_is_compatible, fdt_prop_str_off
from pyhv.core.fdt_path import fdt_node_enabled, fdt_path, fdt_resolve_path_or_alias
from pyhv.core.fdt_reg import FdtReg, fdt_reg
from pyhv.core.power import HALT_POWER_OPS, power_set_driver
from pyhv.core.printk import printk_set_console
from pyhv.drivers.bcm2835_wdt import BCM2835_WDT_POWER_OPS, bcm2835_wdt_probe
from pyhv.drivers.gicv2 import GICV2_OPS
from pyhv.drivers.gicv3 import GICV3_OPS
from pyhv.drivers.pl011 import PL011_CONSOLE_OPS, pl011_init


def devices_find_enabled(compat: str) -> u32:
    # First enabled node compatible with `compat`, FDT_NONE if none.
    node = fdt_find_compatible(FDT_NONE, compat)
    while node != FDT_NONE and not fdt_node_enabled(node):
        node = fdt_find_compatible(node, compat)
    return node


# --- console ----------------------------------------------------------------------------------------------

def _stdout_node() -> u32:
    chosen = fdt_path("/chosen")
    if chosen == FDT_NONE:
        return FDT_NONE
    path = fdt_prop_str_off(chosen, "stdout-path")
    if path == FDT_NONE:
        return FDT_NONE
    return fdt_resolve_path_or_alias(path)


def devices_probe_console() -> u64:
    # The PL011 named by /chosen stdout-path, else the first enabled PL011. Returns its base (0: none,
    # output stays on the null console).
    node = _stdout_node()
    if node == FDT_NONE or not fdt_is_compatible(node, "arm,pl011") or not fdt_node_enabled(node):
        node = devices_find_enabled("arm,pl011")
    reg = FdtReg()
    if node == FDT_NONE or not fdt_reg(node, u32(0), reg):
        return u64(0)
    pl011_init(reg.addr)
    printk_set_console(PL011_CONSOLE_OPS)
    return reg.addr


# --- interrupt controller ---------------------------------------------------------------------------------

def _gic_try(compat: str, ops: GicOps) -> bool:
    node = devices_find_enabled(compat)
    if node == FDT_NONE or not ops.probe(node):
        return False
    gic_set_driver(ops)
    return True


def devices_probe_gic() -> None:
    # Probe table: (compatible, driver), first match wins.
    if _gic_try("arm,gic-v3", GICV3_OPS):
        return
    if _gic_try("arm,gic-400", GICV2_OPS):
        return
    if _gic_try("arm,cortex-a15-gic", GICV2_OPS):
        return
    panic("no supported interrupt controller (arm,gic-v3 / arm,gic-400 / arm,cortex-a15-gic) in the DTB")


# --- power ------------------------------------------------------------------------------------------------

def _wdt_try(compat: str) -> bool:
    node = devices_find_enabled(compat)
    if node == FDT_NONE or not bcm2835_wdt_probe(node):
        return False
    power_set_driver(BCM2835_WDT_POWER_OPS)
    return True


def devices_probe_power() -> None:
    # PSCI when the DTB has a usable /psci node; else the BCM2835 watchdog; else halt.
    psci = fdt_path("/psci")
    if psci != FDT_NONE and psci_probe(psci):
        power_set_driver(PSCI_POWER_OPS)
        return
    if _wdt_try("brcm,bcm2835-pm-wdt"):
        return
    if _wdt_try("brcm,bcm2835-pm"):
        return
    power_set_driver(HALT_POWER_OPS)
