"""The guest device tree built from a VmConfig: decoded by dtc and by an independent parser."""

from __future__ import annotations

import shutil
import struct
import subprocess

import pytest

from pyhv.lang import u32, u64

from pyhv.core.fdt_write import FDT_W_ERR_NOSPACE, FDT_W_OK, fdt_blob_size
from pyhv.core.guest_fdt import guest_fdt_build
from pyhv.core.vmconfig import VmConfig, vmconfig_add_hole

from .conftest import GIB, Node, two_node_config
from .fdtparse import DtNode, parse

BUF = 0x4800_0000


def _build(node: Node, cfg: VmConfig, size: int = 0x10000) -> bytes:
    assert guest_fdt_build(cfg, u64(BUF), u32(size)) == FDT_W_OK
    return node.node.ram.read(BUF, int(fdt_blob_size(u64(BUF))))


@pytest.fixture(scope="module")
def tree() -> DtNode:
    # Built once for the module's read-only checks (a build takes a noticeable fraction of a second).
    n = Node()
    with n.machine.on_cpu(n.node, 0):
        cfg = two_node_config()
        cfg.initrd_ipa = u64(0x4800_0000)
        cfg.initrd_size_bytes = u64(0x10_0000)
        return parse(_build(n, cfg))[2]


def test_root_cells_and_interrupt_parent(tree: DtNode) -> None:
    assert tree.u32s("#address-cells") == [2] and tree.u32s("#size-cells") == [2]
    assert tree.u32s("interrupt-parent") == tree.path("/intc@8000000").u32s("phandle")


def test_every_possible_vcpu_has_a_cpu_node_with_mpidr_psci_and_numa_node(tree: DtNode) -> None:
    cpus = tree.path("/cpus")
    assert cpus.u32s("#address-cells") == [1] and cpus.u32s("#size-cells") == [0]
    expected = {0x000: 0, 0x001: 0, 0x100: 1, 0x101: 1, 0x200: 1, 0x201: 1}
    assert sorted(cpus.children) == sorted(f"cpu@{m:x}" for m in expected)
    for mpidr, numa in expected.items():
        cpu = cpus.children[f"cpu@{mpidr:x}"]
        assert cpu.u32s("reg") == [mpidr]
        assert cpu.strs("device_type") == ["cpu"]
        assert cpu.strs("enable-method") == ["psci"]
        assert cpu.u32s("numa-node-id") == [numa]


def test_absent_vcpus_are_disabled_and_present_ones_have_no_status(tree: DtNode) -> None:
    cpus = tree.path("/cpus").children
    for name in ("cpu@0", "cpu@1", "cpu@100", "cpu@101"):
        assert "status" not in cpus[name].props
    for name in ("cpu@200", "cpu@201"):
        assert cpus[name].strs("status") == ["disabled"]


def test_one_memory_node_per_region_with_its_numa_node(tree: DtNode) -> None:
    m0 = tree.path("/memory@40000000")
    m1 = tree.path("/memory@80000000")
    assert struct.unpack(">QQ", m0.props["reg"]) == (0x4000_0000, GIB)
    assert struct.unpack(">QQ", m1.props["reg"]) == (0x8000_0000, GIB)
    assert m0.strs("device_type") == ["memory"] and m0.u32s("numa-node-id") == [0]
    assert m1.u32s("numa-node-id") == [1]


def test_distance_map_lists_every_pair(tree: DtNode) -> None:
    dm = tree.path("/distance-map")
    assert dm.strs("compatible") == ["numa-distance-map-v1"]
    assert dm.u32s("distance-matrix") == [0, 0, 10, 0, 1, 25, 1, 0, 25, 1, 1, 10]


def test_gicv3_node_covers_a_redistributor_per_possible_vcpu(tree: DtNode) -> None:
    gic = tree.path("/intc@8000000")
    assert gic.strs("compatible") == ["arm,gic-v3"]
    assert struct.unpack(">4Q", gic.props["reg"]) == (0x0800_0000, 0x10000, 0x080A_0000, 6 * 0x20000)
    assert gic.u32s("#interrupt-cells") == [3] and gic.props["interrupt-controller"] == b""


def test_gicv2_node_and_timer_cpu_mask(node: Node) -> None:
    cfg = two_node_config(gic_version=2)
    root = parse(_build(node, cfg))[2]
    gic = root.path("/intc@8000000")
    assert gic.strs("compatible") == ["arm,cortex-a15-gic"]
    assert struct.unpack(">4Q", gic.props["reg"]) == (0x0800_0000, 0x1000, 0x0801_0000, 0x2000)
    assert root.path("/timer").u32s("interrupts") == [1, 13, 0x3F04, 1, 14, 0x3F04, 1, 11, 0x3F04,
                                                      1, 10, 0x3F04]


def test_timer_ppis_on_gicv3_are_level_high(tree: DtNode) -> None:
    timer = tree.path("/timer")
    assert timer.strs("compatible") == ["arm,armv8-timer"]
    assert timer.u32s("interrupts") == [1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4]


def test_psci_node(tree: DtNode) -> None:
    psci = tree.path("/psci")
    assert psci.strs("compatible") == ["arm,psci-1.0", "arm,psci-0.2"]
    assert psci.strs("method") == ["hvc"]


def test_pl011_with_fixed_clock(tree: DtNode) -> None:
    uart = tree.path("/pl011@9000000")
    clk = tree.path("/apb-pclk")
    assert uart.strs("compatible") == ["arm,pl011", "arm,primecell"]
    assert struct.unpack(">QQ", uart.props["reg"]) == (0x0900_0000, 0x1000)
    assert uart.u32s("interrupts") == [0, 1, 4]
    assert uart.u32s("clocks") == clk.u32s("phandle") * 2
    assert uart.strs("clock-names") == ["uartclk", "apb_pclk"]
    assert clk.strs("compatible") == ["fixed-clock"] and clk.u32s("#clock-cells") == [0]
    assert clk.u32s("clock-frequency") == [24_000_000]


def test_virtio_slot(tree: DtNode) -> None:
    v = tree.path("/virtio_mmio@a000000")
    assert v.strs("compatible") == ["virtio,mmio"]
    assert struct.unpack(">QQ", v.props["reg"]) == (0x0A00_0000, 0x200)
    assert v.u32s("interrupts") == [0, 16, 1]


def test_chosen_has_bootargs_initrd_and_stdout(tree: DtNode) -> None:
    chosen = tree.path("/chosen")
    assert chosen.strs("bootargs") == ["console=ttyAMA0 earlycon"]
    assert struct.unpack(">Q", chosen.props["linux,initrd-start"]) == (0x4800_0000,)
    assert struct.unpack(">Q", chosen.props["linux,initrd-end"]) == (0x4810_0000,)
    assert chosen.strs("stdout-path") == ["/pl011@9000000"]
    assert tree.path("/aliases").strs("serial0") == ["/pl011@9000000"]


def test_no_initrd_means_no_initrd_properties_and_single_node_no_distance_map(node: Node) -> None:
    from pyhv.core.vmconfig import vmconfig_single_node
    cfg = VmConfig()
    vmconfig_single_node(cfg, u32(2), u32(4), u64(GIB), u32(3))
    root = parse(_build(node, cfg))[2]
    assert "linux,initrd-start" not in root.path("/chosen").props
    assert "distance-map" not in root.children
    assert "virtio_mmio@a000000" not in root.children


def test_holes_inside_ram_become_memory_reservations(node: Node) -> None:
    cfg = two_node_config()
    vmconfig_add_hole(cfg, u64(0x7C00_0000), u64(0x0400_0000))     # inside RAM
    vmconfig_add_hole(cfg, u64(0x1_0000_0000_0), u64(0x1000))      # outside RAM: nothing to reserve
    assert parse(_build(node, cfg))[1] == [(0x7C00_0000, 0x0400_0000)]


def test_a_too_small_buffer_is_refused(node: Node) -> None:
    assert guest_fdt_build(two_node_config(), u64(BUF), u32(512)) == FDT_W_ERR_NOSPACE


@pytest.mark.skipif(shutil.which("dtc") is None, reason="dtc not installed")
def test_dtc_decodes_the_blob_without_warnings(node: Node, tmp_path: object) -> None:
    cfg = two_node_config()
    blob = _build(node, cfg)
    out = subprocess.run(["dtc", "-I", "dtb", "-O", "dts", "-"], input=blob, capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr.decode()
    assert out.stderr == b"", out.stderr.decode()
    dts = out.stdout.decode()
    assert 'enable-method = "psci";' in dts
    assert 'compatible = "arm,pl011\\0arm,primecell";' in dts
    assert 'status = "disabled";' in dts
    assert "distance-matrix = <0x00 0x00 0x0a 0x00 0x01 0x19 0x01 0x00 0x19 0x01 0x01 0x0a>;" in dts
