# The guest's device tree, generated at run time from the VmConfig (docs/vm-model.md) with the dialect
# FDT writer (fdt_write.py). Bindings followed (Linux Documentation/devicetree/bindings): cpus/cpu,
# numa.txt (numa-node-id, numa-distance-map-v1), arm,gic-v3 / arm,gic (cortex-a15-gic), arm,arch_timer,
# arm,psci, fixed-clock, arm,pl011 + arm,primecell, virtio,mmio, chosen; and pyhv's own "pyhv,clusterinfo"
# (examples/clusterinfo: compatible + reg only, no interrupt).
#
# Possible-but-absent vCPUs: every possible vCPU gets a cpu node; absent ones carry status = "disabled".
# The DT spec reads "disabled" on a cpu as "quiescent, can be started through its enable-method". Linux
# (6.1, arm64: of_parse_and_init_cpus / of_get_next_cpu_node) does not skip disabled cpu nodes: they become
# possible and present, and the boot-time CPU_ON for them fails (vpsci answers INTERNAL_FAILURE while the
# vCPU is absent), so they stay offline. When their node joins, `echo 1 > /sys/devices/system/cpu/cpuN/
# online` (PSCI CPU_ON, now accepted) brings them up: that is the CPU hot-add path, and it needs the cpu
# nodes to exist from boot, since Linux sizes cpu_possible_mask only once.
#
# Interrupt specifiers are <type number flags>: type 0 = SPI (number relative to 32), 1 = PPI (relative to
# 16). Timer PPIs are level-high (flags 4, as QEMU's virt machine writes them); on GICv2 the flags also
# carry the mask of CPUs the PPI is wired to in bits [15:8].

from typing import Final

from pyhv.lang import range, u8, u32, u64

from pyhv.core.fdt_write import (
    FdtWriter, fdt_w_begin_node, fdt_w_begin_node_at, fdt_w_end_node, fdt_w_finish, fdt_w_init,
    fdt_w_prop_begin, fdt_w_prop_empty, fdt_w_prop_end, fdt_w_prop_reg, fdt_w_prop_str, fdt_w_prop_u32,
    fdt_w_put_byte, fdt_w_put_chars, fdt_w_put_hex, fdt_w_put_str, fdt_w_put_u32, fdt_w_put_u64, fdt_w_reserve,
)
from pyhv.core.vmconfig import (
    CLUSTERINFO_SIZE, GIC_DIST_SIZE, GICV2_CPU_SIZE, UART_SIZE, VIRTIO_MMIO_SIZE, VM_BOOTARGS_MAX, VmConfig,
    vmconfig_distance, vmconfig_gic_redist_size,
)

GUEST_FDT_PHANDLE_GIC: Final = u32(1)
GUEST_FDT_PHANDLE_CLOCK: Final = u32(2)
GUEST_FDT_UART_CLOCK_HZ: Final = u32(24000000)

GIC_FDT_SPI: Final = u32(0)
GIC_FDT_PPI: Final = u32(1)
IRQ_TYPE_EDGE_RISING: Final = u32(1)
IRQ_TYPE_LEVEL_HIGH: Final = u32(4)
TIMER_PPI_SEC_PHYS: Final = u32(13)     # INTID 29
TIMER_PPI_NONSEC_PHYS: Final = u32(14)  # INTID 30
TIMER_PPI_VIRT: Final = u32(11)         # INTID 27
TIMER_PPI_HYP_PHYS: Final = u32(10)     # INTID 26
GICV2_DIST_SIZE: Final = u64(0x1000)


def _put_irq(w: FdtWriter, kind: u32, number: u32, flags: u32) -> None:
    fdt_w_put_u32(w, kind)
    fdt_w_put_u32(w, number)
    fdt_w_put_u32(w, flags)


def _cpus(w: FdtWriter, cfg: VmConfig) -> None:
    fdt_w_begin_node(w, "cpus")
    fdt_w_prop_u32(w, "#address-cells", u32(1))    # Aff2..Aff0 fit one cell
    fdt_w_prop_u32(w, "#size-cells", u32(0))
    for i in range(u32(0), cfg.max_vcpus):
        vcpu = cfg.vcpus[i]
        fdt_w_begin_node_at(w, "cpu", vcpu.mpidr)
        fdt_w_prop_str(w, "device_type", "cpu")
        fdt_w_prop_str(w, "compatible", "arm,armv8")
        fdt_w_prop_u32(w, "reg", u32(vcpu.mpidr))
        fdt_w_prop_str(w, "enable-method", "psci")
        fdt_w_prop_u32(w, "numa-node-id", vcpu.numa_node)
        if u32(i) >= cfg.nr_vcpus:
            fdt_w_prop_str(w, "status", "disabled")
        fdt_w_end_node(w)
    fdt_w_end_node(w)


def _memory(w: FdtWriter, cfg: VmConfig) -> None:
    for i in range(u32(0), cfg.nr_mem):
        r = cfg.mem[i]
        fdt_w_begin_node_at(w, "memory", r.ipa_base)
        fdt_w_prop_str(w, "device_type", "memory")
        fdt_w_prop_reg(w, r.ipa_base, r.size_bytes)
        fdt_w_prop_u32(w, "numa-node-id", r.numa_node)
        fdt_w_end_node(w)


def _distance_map(w: FdtWriter, cfg: VmConfig) -> None:
    # Only meaningful with more than one node; Linux assumes 10/20 without it.
    if cfg.nr_numa_nodes < 2:
        return
    fdt_w_begin_node(w, "distance-map")
    fdt_w_prop_str(w, "compatible", "numa-distance-map-v1")
    fdt_w_prop_begin(w, "distance-matrix")
    for a in range(u32(0), cfg.nr_numa_nodes):
        for b in range(u32(0), cfg.nr_numa_nodes):
            fdt_w_put_u32(w, u32(a))
            fdt_w_put_u32(w, u32(b))
            fdt_w_put_u32(w, u32(vmconfig_distance(cfg, u32(a), u32(b))))
    fdt_w_prop_end(w)
    fdt_w_end_node(w)


def _gic(w: FdtWriter, cfg: VmConfig) -> None:
    fdt_w_begin_node_at(w, "intc", cfg.gicd_base)
    if cfg.gic_version == 3:
        fdt_w_prop_str(w, "compatible", "arm,gic-v3")
        fdt_w_prop_begin(w, "reg")
        fdt_w_put_u64(w, cfg.gicd_base)
        fdt_w_put_u64(w, GIC_DIST_SIZE)
        fdt_w_put_u64(w, cfg.gicr_base)
        fdt_w_put_u64(w, vmconfig_gic_redist_size(cfg))   # one redistributor per POSSIBLE vCPU
        fdt_w_prop_end(w)
        fdt_w_prop_u32(w, "#redistributor-regions", u32(1))
    else:
        fdt_w_prop_str(w, "compatible", "arm,cortex-a15-gic")
        fdt_w_prop_begin(w, "reg")
        fdt_w_put_u64(w, cfg.gicd_base)
        fdt_w_put_u64(w, GICV2_DIST_SIZE)
        fdt_w_put_u64(w, cfg.gicc_base)
        fdt_w_put_u64(w, GICV2_CPU_SIZE)
        fdt_w_prop_end(w)
    fdt_w_prop_u32(w, "#interrupt-cells", u32(3))
    fdt_w_prop_u32(w, "#address-cells", u32(0))     # no child nodes (no ITS)
    fdt_w_prop_empty(w, "interrupt-controller")
    fdt_w_prop_u32(w, "phandle", GUEST_FDT_PHANDLE_GIC)
    fdt_w_end_node(w)


def _timer(w: FdtWriter, cfg: VmConfig) -> None:
    flags = IRQ_TYPE_LEVEL_HIGH
    if cfg.gic_version == 2:
        flags = flags | ((((u32(1) << cfg.max_vcpus) - 1) & 0xFF) << 8)
    fdt_w_begin_node(w, "timer")
    fdt_w_prop_str(w, "compatible", "arm,armv8-timer")
    fdt_w_prop_begin(w, "interrupts")
    _put_irq(w, GIC_FDT_PPI, TIMER_PPI_SEC_PHYS, flags)
    _put_irq(w, GIC_FDT_PPI, TIMER_PPI_NONSEC_PHYS, flags)
    _put_irq(w, GIC_FDT_PPI, TIMER_PPI_VIRT, flags)
    _put_irq(w, GIC_FDT_PPI, TIMER_PPI_HYP_PHYS, flags)
    fdt_w_prop_end(w)
    fdt_w_end_node(w)


def _psci(w: FdtWriter) -> None:
    fdt_w_begin_node(w, "psci")
    fdt_w_prop_begin(w, "compatible")
    fdt_w_put_str(w, "arm,psci-1.0")
    fdt_w_put_str(w, "arm,psci-0.2")
    fdt_w_prop_end(w)
    fdt_w_prop_str(w, "method", "hvc")
    fdt_w_end_node(w)


def _uart_path(w: FdtWriter, cfg: VmConfig) -> None:
    # "/pl011@<base>" as one NUL-terminated string value.
    fdt_w_put_chars(w, "/pl011@")
    fdt_w_put_hex(w, cfg.uart_base)
    fdt_w_put_byte(w, u8(0))


def _uart(w: FdtWriter, cfg: VmConfig) -> None:
    fdt_w_begin_node(w, "apb-pclk")
    fdt_w_prop_str(w, "compatible", "fixed-clock")
    fdt_w_prop_u32(w, "#clock-cells", u32(0))
    fdt_w_prop_u32(w, "clock-frequency", GUEST_FDT_UART_CLOCK_HZ)
    fdt_w_prop_str(w, "clock-output-names", "clk24mhz")
    fdt_w_prop_u32(w, "phandle", GUEST_FDT_PHANDLE_CLOCK)
    fdt_w_end_node(w)
    fdt_w_begin_node_at(w, "pl011", cfg.uart_base)
    fdt_w_prop_begin(w, "compatible")
    fdt_w_put_str(w, "arm,pl011")
    fdt_w_put_str(w, "arm,primecell")
    fdt_w_prop_end(w)
    fdt_w_prop_reg(w, cfg.uart_base, UART_SIZE)
    fdt_w_prop_begin(w, "interrupts")
    _put_irq(w, GIC_FDT_SPI, cfg.uart_spi, IRQ_TYPE_LEVEL_HIGH)
    fdt_w_prop_end(w)
    fdt_w_prop_begin(w, "clocks")                  # uartclk, apb_pclk: the same fixed clock
    fdt_w_put_u32(w, GUEST_FDT_PHANDLE_CLOCK)
    fdt_w_put_u32(w, GUEST_FDT_PHANDLE_CLOCK)
    fdt_w_prop_end(w)
    fdt_w_prop_begin(w, "clock-names")
    fdt_w_put_str(w, "uartclk")
    fdt_w_put_str(w, "apb_pclk")
    fdt_w_prop_end(w)
    fdt_w_end_node(w)


def _virtio(w: FdtWriter, cfg: VmConfig) -> None:
    for i in range(u32(0), cfg.nr_virtio):
        slot = cfg.virtio[i]
        fdt_w_begin_node_at(w, "virtio_mmio", slot.base)
        fdt_w_prop_str(w, "compatible", "virtio,mmio")
        fdt_w_prop_reg(w, slot.base, VIRTIO_MMIO_SIZE)
        fdt_w_prop_begin(w, "interrupts")
        _put_irq(w, GIC_FDT_SPI, slot.spi, IRQ_TYPE_EDGE_RISING)
        fdt_w_prop_end(w)
        fdt_w_prop_empty(w, "dma-coherent")
        fdt_w_end_node(w)


def _clusterinfo(w: FdtWriter, cfg: VmConfig) -> None:
    if cfg.clusterinfo_base == 0:
        return
    fdt_w_begin_node_at(w, "pyhv-clusterinfo", cfg.clusterinfo_base)
    fdt_w_prop_str(w, "compatible", "pyhv,clusterinfo")
    fdt_w_prop_reg(w, cfg.clusterinfo_base, CLUSTERINFO_SIZE)
    fdt_w_end_node(w)


def _chosen(w: FdtWriter, cfg: VmConfig) -> None:
    fdt_w_begin_node(w, "chosen")
    fdt_w_prop_begin(w, "bootargs")
    i = u32(0)
    while i < VM_BOOTARGS_MAX - 1 and cfg.bootargs[i] != 0:
        fdt_w_put_byte(w, cfg.bootargs[i])
        i += 1
    fdt_w_put_byte(w, u8(0))
    fdt_w_prop_end(w)
    if cfg.initrd_size_bytes != 0:
        fdt_w_prop_begin(w, "linux,initrd-start")
        fdt_w_put_u64(w, cfg.initrd_ipa)
        fdt_w_prop_end(w)
        fdt_w_prop_begin(w, "linux,initrd-end")
        fdt_w_put_u64(w, cfg.initrd_ipa + cfg.initrd_size_bytes)
        fdt_w_prop_end(w)
    fdt_w_prop_begin(w, "stdout-path")
    _uart_path(w, cfg)
    fdt_w_prop_end(w)
    fdt_w_end_node(w)
    fdt_w_begin_node(w, "aliases")
    fdt_w_prop_begin(w, "serial0")
    _uart_path(w, cfg)
    fdt_w_prop_end(w)
    fdt_w_end_node(w)


def _reserve_holes(w: FdtWriter, cfg: VmConfig) -> None:
    # Holes inside guest RAM (firmware or device windows) must never be allocated by the guest.
    for h in range(u32(0), cfg.nr_holes):
        hole = cfg.holes[h]
        for i in range(u32(0), cfg.nr_mem):
            r = cfg.mem[i]
            if hole.base < r.ipa_base + r.size_bytes and r.ipa_base < hole.base + hole.size_bytes:
                fdt_w_reserve(w, hole.base, hole.size_bytes)
                break


def guest_fdt_build(cfg: VmConfig, buf: u64, size: u32) -> u32:
    # Write the guest DTB for `cfg` into [buf, buf + size) (host address, 8-byte aligned). Returns FDT_W_OK
    # or the writer's error (FDT_W_ERR_NOSPACE when the buffer is too small); fdt_blob_size(buf) is its size.
    w = FdtWriter()
    fdt_w_init(w, buf, size)
    _reserve_holes(w, cfg)
    fdt_w_begin_node(w, "")
    fdt_w_prop_u32(w, "#address-cells", u32(2))
    fdt_w_prop_u32(w, "#size-cells", u32(2))
    fdt_w_prop_str(w, "compatible", "pyhv,virt")
    fdt_w_prop_str(w, "model", "pyhv virtual machine")
    fdt_w_prop_u32(w, "interrupt-parent", GUEST_FDT_PHANDLE_GIC)
    _cpus(w, cfg)
    _memory(w, cfg)
    _distance_map(w, cfg)
    _gic(w, cfg)
    _timer(w, cfg)
    _psci(w)
    _uart(w, cfg)
    _virtio(w, cfg)
    _clusterinfo(w, cfg)
    _chosen(w, cfg)
    fdt_w_end_node(w)
    return fdt_w_finish(w)
