"""VmConfig: the single-node builder and every vmconfig_validate refusal, with its message."""

from __future__ import annotations

from pyhv.lang import u8, u32, u64

from pyhv.core.vmconfig import (
    VMCFG_ERR_GIC_VERSION, VMCFG_ERR_GICV2_VCPUS, VMCFG_ERR_MPIDR, VMCFG_ERR_NO_RAM, VMCFG_ERR_NUMA,
    VMCFG_ERR_OVERLAP, VMCFG_ERR_SPI, VMCFG_ERR_VCPUS, VMCFG_OK, VmConfig, vmconfig_add_mem, vmconfig_add_vcpu,
    vmconfig_add_virtio, vmconfig_find_mpidr, vmconfig_mpidr, vmconfig_set_bootargs, vmconfig_set_distance,
    vmconfig_single_node, vmconfig_validate,
)

from .conftest import GIB, Node, two_node_config


def test_mpidr_is_aff1_node_aff0_cpu() -> None:
    assert int(vmconfig_mpidr(u32(3), u32(2))) == 0x302


def test_single_node_builder_gives_a_valid_config(node: Node) -> None:
    cfg = VmConfig()
    vmconfig_single_node(cfg, u32(4), u32(8), u64(GIB), u32(2))
    assert vmconfig_validate(cfg) == VMCFG_OK
    assert (int(cfg.nr_vcpus), int(cfg.max_vcpus), int(cfg.nr_mem)) == (4, 8, 1)
    assert int(vmconfig_find_mpidr(cfg, u64(0x7))) == 7


def test_two_node_config_is_valid(node: Node) -> None:
    assert vmconfig_validate(two_node_config()) == VMCFG_OK
    assert node.log == b""


def test_gicv2_refuses_more_than_8_vcpus(node: Node) -> None:
    cfg = VmConfig()
    vmconfig_single_node(cfg, u32(4), u32(9), u64(GIB), u32(2))
    assert vmconfig_validate(cfg) == VMCFG_ERR_GICV2_VCPUS
    assert b"GICv2 addresses at most 8 vCPUs" in node.log


def test_bad_gic_version(node: Node) -> None:
    cfg = VmConfig()
    vmconfig_single_node(cfg, u32(1), u32(1), u64(GIB), u32(4))
    assert vmconfig_validate(cfg) == VMCFG_ERR_GIC_VERSION


def test_zero_ram_is_refused(node: Node) -> None:
    cfg = VmConfig()
    vmconfig_single_node(cfg, u32(1), u32(1), u64(0), u32(3))
    assert vmconfig_validate(cfg) == VMCFG_ERR_NO_RAM
    assert b"zero RAM" in node.log
    cfg.nr_mem = u32(0)
    assert vmconfig_validate(cfg) == VMCFG_ERR_NO_RAM


def test_vcpu_counts(node: Node) -> None:
    cfg = two_node_config()
    cfg.nr_vcpus = u32(7)
    assert vmconfig_validate(cfg) == VMCFG_ERR_VCPUS
    cfg.nr_vcpus = u32(0)
    assert vmconfig_validate(cfg) == VMCFG_ERR_VCPUS


def test_duplicate_mpidr_is_refused(node: Node) -> None:
    cfg = two_node_config()
    vmconfig_add_vcpu(cfg, u32(0), u32(1), u32(0))
    assert vmconfig_validate(cfg) == VMCFG_ERR_MPIDR


def test_overlapping_ram_regions_are_refused(node: Node) -> None:
    cfg = two_node_config()
    vmconfig_add_mem(cfg, u64(0x7000_0000), u64(GIB), u32(0))
    assert vmconfig_validate(cfg) == VMCFG_ERR_OVERLAP
    assert b"overlap" in node.log


def test_ram_over_a_device_is_refused(node: Node) -> None:
    cfg = two_node_config()
    vmconfig_add_mem(cfg, u64(0x0900_0000), u64(0x1000), u32(0))    # the UART
    assert vmconfig_validate(cfg) == VMCFG_ERR_OVERLAP


def test_redistributors_for_all_possible_vcpus_must_fit_before_the_uart(node: Node) -> None:
    cfg = two_node_config()
    cfg.gicr_base = u64(0x0900_0000 - 0x20000 * 5)                 # room for 5 of the 6
    assert vmconfig_validate(cfg) == VMCFG_ERR_OVERLAP


def test_numa_rules(node: Node) -> None:
    cfg = two_node_config()
    vmconfig_set_distance(cfg, u32(0), u32(1), u8(10))
    assert vmconfig_validate(cfg) == VMCFG_ERR_NUMA
    cfg = two_node_config()
    cfg.distance[1] = u8(30)                                        # 0->1 differs from 1->0
    assert vmconfig_validate(cfg) == VMCFG_ERR_NUMA
    cfg = two_node_config()
    cfg.vcpus[0].numa_node = u32(2)
    assert vmconfig_validate(cfg) == VMCFG_ERR_NUMA
    cfg = two_node_config()
    cfg.mem[1].numa_node = u32(5)
    assert vmconfig_validate(cfg) == VMCFG_ERR_NUMA


def test_spis_must_be_in_range_and_unshared(node: Node) -> None:
    cfg = two_node_config()
    vmconfig_add_virtio(cfg, u64(0x0A00_0200), u32(16))
    assert vmconfig_validate(cfg) == VMCFG_ERR_SPI
    cfg = two_node_config()
    cfg.uart_spi = u32(64)
    assert vmconfig_validate(cfg) == VMCFG_ERR_SPI


def test_bootargs_that_do_not_fit_are_cut_and_reported() -> None:
    cfg = VmConfig()
    assert vmconfig_set_bootargs(cfg, "console=ttyAMA0")
    assert not vmconfig_set_bootargs(cfg, "x" * 300)
    assert int(cfg.bootargs[255]) == 0 and int(cfg.bootargs[254]) == ord("x")
