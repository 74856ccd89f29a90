"""Board record: QEMU `virt` (cortex-a72, EL2 via virtualization=on, GICv3 or GICv2, PSCI over SMC).

Addresses are QEMU's fixed virt memory map (hw/arm/virt.c, base_memmap). QEMU writes the host DTB and passes
it in x0 because the image carries an arm64 `Image` header.
"""

from pyhv.host.boards import (Board, BootMethod, DtbSource, Gic, OutputFormat, PowerOff, Region,
                              RegionKind)

GiB = 1 << 30

BOARD = Board(
    name="qemu-virt",
    qemu_machine="virt,virtualization=on",
    qemu_extra_args=(),
    cpu_model="cortex-a72",
    max_cpus=8,
    default_cpus=2,
    default_mem="512M",
    stack_size_bytes=16 * 1024,
    load_addr=0x4020_0000,          # QEMU loads an Image with text_offset 0 at RAM base + 2 MiB
    memory_map=(
        Region(0x0000_0000, 1 * GiB, RegionKind.DEVICE, "flash, GIC, UART, RTC, virtio-mmio, PCIe"),
        Region(0x4000_0000, 255 * GiB, RegionKind.RAM, "RAM (the DTB says how much exists)"),
        Region(256 * GiB, 256 * GiB, RegionKind.DEVICE, "high GIC redistributors, PCIe ECAM"),
    ),
    gics=(
        Gic(version=3, dist_base=0x0800_0000, redist_base=0x080A_0000),
        Gic(version=2, dist_base=0x0800_0000, cpu_base=0x0801_0000, hyp_base=0x0803_0000,
            vcpu_base=0x0804_0000),
    ),
    uart_base=0x0900_0000,
    uart_kind="pl011",
    nic_kind="virtio-net",
    boot_method=BootMethod.PSCI,
    power_off=PowerOff.PSCI_SYSTEM_OFF,
    dtb_source=DtbSource.QEMU,
    output_format=OutputFormat.IMAGE,
)
