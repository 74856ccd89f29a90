"""Host DTBs for the hypervisor tests, written with pyhv.host.fdt_build (shaped like QEMU virt's and a
Raspberry Pi 4's), plus helpers to place a blob in mock RAM."""

from __future__ import annotations

from pyhv.host.fdt_build import FdtBuilder

DTB_ADDR = 0x4800_0000
UART_BASE = 0x0900_0000
GICD_BASE = 0x0800_0000
GICC_BASE = 0x0801_0000
GICR_BASE = 0x080A_0000
RAM_BASE = 0x4000_0000
RAM_SIZE = 128 << 20


def virt_dtb(ncpus: int = 4, gic: int = 3, mpidrs: list[int] | None = None, psci_method: str = "smc",
             stdout_path: str | None = "/pl011@9000000", model: str | None = None,
             gicr_size: int = 0xF60000) -> bytes:
    """A QEMU-virt-like tree: 2-cell addresses, PSCI CPUs, GICv2 or v3, one PL011, one RAM bank."""
    mpidrs = mpidrs if mpidrs is not None else list(range(ncpus))
    f = FdtBuilder()
    f.begin_node("")
    f.prop_u32("#address-cells", 2)
    f.prop_u32("#size-cells", 2)
    f.prop_str("compatible", "linux,dummy-virt")
    if model is not None:
        f.prop_str("model", model)
    f.begin_node("psci")
    f.prop_str("compatible", "arm,psci-1.0", "arm,psci-0.2", "arm,psci")
    f.prop_str("method", psci_method)
    f.end_node()
    f.begin_node(f"memory@{RAM_BASE:x}")
    f.prop_cells("reg", [(RAM_BASE, 2), (RAM_SIZE, 2)])
    f.prop_str("device_type", "memory")
    f.end_node()
    f.begin_node("pl011@9001000")             # a second UART that is not the console
    f.prop_str("compatible", "arm,pl011", "arm,primecell")
    f.prop_cells("reg", [(0x0900_1000, 2), (0x1000, 2)])
    f.prop_str("status", "disabled")
    f.end_node()
    f.begin_node(f"pl011@{UART_BASE:x}")
    f.prop_str("compatible", "arm,pl011", "arm,primecell")
    f.prop_cells("reg", [(UART_BASE, 2), (0x1000, 2)])
    f.end_node()
    f.begin_node(f"intc@{GICD_BASE:x}")
    if gic == 3:
        f.prop_str("compatible", "arm,gic-v3")
        f.prop_cells("reg", [(GICD_BASE, 2), (0x10000, 2), (GICR_BASE, 2), (gicr_size, 2)])
    else:
        f.prop_str("compatible", "arm,cortex-a15-gic")
        f.prop_cells("reg", [(GICD_BASE, 2), (0x10000, 2), (GICC_BASE, 2), (0x10000, 2)])
    f.prop_u32("#interrupt-cells", 3)
    f.prop_empty("interrupt-controller")
    f.end_node()
    f.begin_node("timer")
    f.prop_str("compatible", "arm,armv8-timer", "arm,armv7-timer")
    f.prop_u32("interrupts", 1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4)
    f.end_node()
    cells = 2 if any(m >> 32 for m in mpidrs) else 1     # Aff3 needs a 2-cell reg
    f.begin_node("cpus")
    f.prop_u32("#address-cells", cells)
    f.prop_u32("#size-cells", 0)
    for i, mpidr in enumerate(mpidrs):
        f.begin_node(f"cpu@{mpidr:x}")
        f.prop_str("device_type", "cpu")
        f.prop_str("compatible", "arm,cortex-a72")
        f.prop_cells("reg", [(mpidr, cells)])
        f.prop_str("enable-method", "psci")
        f.end_node()
    f.end_node()
    f.begin_node("chosen")
    if stdout_path is not None:
        f.prop_str("stdout-path", stdout_path)
    f.end_node()
    f.end_node()
    return f.finish()


def rpi4_like_dtb() -> bytes:
    """A BCM2711-like tree: peripherals under /soc behind `ranges`, spin-table CPUs, GIC-400, the PM
    watchdog, no /psci, stdout-path through an alias."""
    f = FdtBuilder()
    f.begin_node("")
    f.prop_u32("#address-cells", 2)
    f.prop_u32("#size-cells", 1)
    f.prop_str("compatible", "raspberrypi,4-model-b", "brcm,bcm2711")
    f.prop_str("model", "Raspberry Pi 4 Model B")
    f.begin_node("aliases")
    f.prop_str("serial0", "/soc/serial@7e201000")
    f.end_node()
    f.begin_node("chosen")
    f.prop_str("stdout-path", "serial0:115200n8")
    f.end_node()
    f.begin_node("soc")
    f.prop_str("compatible", "simple-bus")
    f.prop_u32("#address-cells", 1)
    f.prop_u32("#size-cells", 1)
    f.prop_u32("ranges", 0x7E00_0000, 0, 0xFE00_0000, 0x0180_0000, 0x4000_0000, 0, 0xFF80_0000, 0x0080_0000)
    f.begin_node("serial@7e201000")
    f.prop_str("compatible", "arm,pl011", "arm,primecell")
    f.prop_u32("reg", 0x7E20_1000, 0x200)
    f.end_node()
    f.begin_node("watchdog@7e100000")
    f.prop_str("compatible", "brcm,bcm2835-pm", "brcm,bcm2835-pm-wdt")
    f.prop_u32("reg", 0x7E10_0000, 0x114)
    f.end_node()
    f.begin_node("interrupt-controller@40041000")
    f.prop_str("compatible", "arm,gic-400")
    f.prop_u32("reg", 0x4004_1000, 0x1000, 0x4004_2000, 0x2000)
    f.end_node()
    f.end_node()
    f.begin_node("cpus")
    f.prop_u32("#address-cells", 1)
    f.prop_u32("#size-cells", 0)
    for i in range(4):
        f.begin_node(f"cpu@{i}")
        f.prop_str("device_type", "cpu")
        f.prop_u32("reg", i)
        f.prop_str("enable-method", "spin-table")
        f.prop_u64("cpu-release-addr", 0xD8 + 8 * i)
        f.end_node()
    f.end_node()
    f.begin_node("memory@0")
    f.prop_str("device_type", "memory")
    f.prop_u32("reg", 0, 0, 0x3B40_0000)
    f.end_node()
    f.end_node()
    return f.finish()
