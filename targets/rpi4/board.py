"""Board record: Raspberry Pi 4 model B (BCM2711: 4x cortex-a72, GIC-400, PL011 UART0, spin-table SMP).

Facts from the BCM2711 peripherals datasheet (§1.2 address map, "low peripheral" mode) and QEMU's model of it
(hw/arm/bcm2838.c: GIC-400 at 0xff840000 with GICD +0x1000, GICC +0x2000, GICH +0x4000, GICV +0x6000;
secondaries spin on 0xd8/0xe0/0xe8/0xf0). The firmware (or QEMU's -kernel loader) starts every core at EL2.
The device tree is generated from this record by the build (build/rpi4/host.dtb).

RAM as the guest gets it: QEMU raspi4b (2 GiB) rewrites /memory to 0..0x3c000000 (960 MiB: RAM below the
VideoCore's 64 MiB carve-out; the rest is not described); the firmware on a real board writes several ranges
and pyhv uses the first (below the carve-out). pyhv keeps the first 16 MiB, so the guest has 944 MiB under
QEMU. The guest payload is loaded at payload_addr, above pyhv's reservation and the guest's kernel/initrd
destinations (pyhv copies forwards and checks that every destination lies below its source).
"""

from pyhv.host.boards import (Board, BootMethod, DtbSource, Gic, OutputFormat, PowerOff, Region,
                              RegionKind)

MiB = 1 << 20

BOARD = Board(
    name="rpi4",
    qemu_machine="raspi4b",
    qemu_extra_args=(),
    cpu_model="cortex-a72",
    max_cpus=4,
    default_cpus=4,
    default_mem="",                 # raspi4b has fixed RAM (2 GiB)
    stack_size_bytes=16 * 1024,
    load_addr=0x0020_0000,          # QEMU loads an Image with text_offset 0 at 2 MiB; config.txt says so too
    memory_map=(
        Region(0x0000_0000, 0xFC00_0000, RegionKind.RAM, "low RAM (up to 4 GiB boards; VC carve-out inside)"),
        Region(0xFC00_0000, 64 * MiB, RegionKind.DEVICE, "peripherals, ARM local, GIC-400"),
    ),
    gics=(
        Gic(version=2, dist_base=0xFF84_1000, cpu_base=0xFF84_2000, hyp_base=0xFF84_4000,
            vcpu_base=0xFF84_6000),
    ),
    uart_base=0xFE20_1000,
    uart_kind="pl011",
    nic_kind="genet",
    boot_method=BootMethod.SPIN_TABLE,
    power_off=PowerOff.BCM2835_WATCHDOG,
    dtb_source=DtbSource.GENERATED,
    output_format=OutputFormat.SD_CARD,
    watchdog_base=0xFE10_0000,
    spin_table_release_addrs=(0xD8, 0xE0, 0xE8, 0xF0),
    dtb_ram_bytes=1 << 30,          # smallest RPi4; QEMU and the firmware rewrite /memory with the real size
    log_uart_base=0xFE21_5040,      # mini UART (UART1): pyhv's log once the guest owns UART0; QEMU serial 1
    payload_addr=0x0800_0000,       # guest payload (config.txt `initramfs payload.bin 0x8000000`); QEMU's
                                    # -initrd lands at the same place (RAM base + 128 MiB)
)
