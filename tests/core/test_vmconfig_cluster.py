"""The VM's shape from the cluster table (pyhv/core/vmconfig_cluster.py) and the guest FDT built from it,
decoded by an independent parser and by dtc and checked against Linux's bindings (numa.txt: memory nodes
with numa-node-id, cpus with numa-node-id, a numa-distance-map-v1 distance-map)."""

from __future__ import annotations

import shutil
import struct
import subprocess

import pytest

from pyhv.lang import u32, u64

from pyhv.cluster.table import ClusterTable
from pyhv.core.fdt_write import FDT_W_OK, fdt_blob_size
from pyhv.core.guest_fdt import guest_fdt_build
from pyhv.core.vmconfig import (
    VM_HOTPLUG_BASE, VM_HOTPLUG_SIZE, VMCFG_ERR_GICV2_VCPUS, VMCFG_ERR_NO_RAM, VMCFG_ERR_OVERLAP, VMCFG_ERR_TABLE,
    VMCFG_ERR_VCPUS, VMCFG_OK, VmConfig, vmconfig_distance, vmconfig_validate,
)
from pyhv.core.vmconfig_cluster import vmconfig_cluster, vmconfig_guest_ram_bytes

from .conftest import Node
from .fdtparse import DtNode, parse

MIB = 1 << 20
BUF = 0x4800_0000


def _table(cpus: list[int], ram_mib: list[int]) -> ClusterTable:
    t = ClusterTable()
    t.count = u32(len(cpus))
    base = 0
    for i, (c, r) in enumerate(zip(cpus, ram_mib)):
        e = t.entries[i]
        e.present, e.vcpu_base, e.vcpu_count, e.ram_bytes = u32(1), u32(base), u32(c), u64(r * MIB)
        base += c
    return t


def _cfg(cpus: list[int], ram_mib: list[int], max_vcpus: int = 8, future: int = 2, gic: int = 3) -> VmConfig:
    cfg = VmConfig()
    assert vmconfig_cluster(cfg, _table(cpus, ram_mib), u32(max_vcpus), u32(future), u32(gic)) == VMCFG_OK
    return cfg


def test_three_nodes_give_their_vcpus_in_table_order_with_node_affinity_and_numa_node(node: Node) -> None:
    cfg = _cfg([2, 1, 2], [372, 372, 500])
    assert (int(cfg.nr_vcpus), int(cfg.max_vcpus)) == (5, 8)
    mpidrs = [int(cfg.vcpus[i].mpidr) for i in range(8)]
    numa = [int(cfg.vcpus[i].numa_node) for i in range(8)]
    # present: node 0 CPUs 0-1, node 1 CPU 0, node 2 CPUs 0-1; absent: nodes 3 and 4 (2 CPUs each), NUMA 0
    assert mpidrs == [0x000, 0x001, 0x100, 0x200, 0x201, 0x300, 0x301, 0x400]
    assert numa == [0, 0, 1, 2, 2, 0, 0, 0]
    assert node.log == b""


def test_one_ram_region_per_node_contiguous_from_1_gib_on_its_numa_node(node: Node) -> None:
    cfg = _cfg([2, 2, 2], [372, 372, 500])
    regions = [(int(cfg.mem[i].ipa_base), int(cfg.mem[i].size_bytes), int(cfg.mem[i].numa_node))
               for i in range(int(cfg.nr_mem))]
    assert regions == [(0x4000_0000, 372 * MIB, 0), (0x4000_0000 + 372 * MIB, 372 * MIB, 1),
                       (0x4000_0000 + 744 * MIB, 500 * MIB, 2)]
    assert int(vmconfig_guest_ram_bytes(cfg)) == 1244 * MIB
    assert int(cfg.nr_numa_nodes) == 3
    for a in range(3):
        for b in range(3):
            assert int(vmconfig_distance(cfg, u32(a), u32(b))) == (10 if a == b else 20)
    # the hot-add window is reserved above the RAM window and counted by the overlap check
    assert (int(cfg.hotplug_base), int(cfg.hotplug_size_bytes)) == (int(VM_HOTPLUG_BASE), int(VM_HOTPLUG_SIZE))
    assert regions[-1][0] + regions[-1][1] <= int(cfg.hotplug_base)


def test_ram_reaching_into_the_hot_add_window_is_an_overlap(node: Node) -> None:
    cfg = _cfg([1], [64])
    cfg.mem[0].size_bytes = u64(int(VM_HOTPLUG_BASE))      # 0x4000_0000 + 256 GiB crosses the window
    assert vmconfig_validate(cfg) == VMCFG_ERR_OVERLAP


def test_gicv3_has_room_for_64_possible_vcpus_and_their_redistributors(node: Node) -> None:
    cfg = _cfg([4, 4], [64, 64], max_vcpus=64, future=4)
    assert (int(cfg.nr_vcpus), int(cfg.max_vcpus)) == (8, 64)
    assert int(cfg.vcpus[63].mpidr) == 0x0F03                    # node 15, CPU 3
    assert guest_fdt_build(cfg, u64(BUF), u32(0x10000)) == FDT_W_OK
    root = parse(node.node.ram.read(BUF, int(fdt_blob_size(u64(BUF)))))[2]
    gic = root.path("/intc@8000000")
    assert struct.unpack(">4Q", gic.props["reg"])[3] == 64 * 0x20000


def test_gicv2_caps_possible_vcpus_at_8_and_refuses_more_present(node: Node) -> None:
    cfg = _cfg([2, 2], [64, 64], max_vcpus=16, future=2, gic=2)
    assert (int(cfg.nr_vcpus), int(cfg.max_vcpus)) == (4, 8)
    cfg = VmConfig()
    assert vmconfig_cluster(cfg, _table([4, 4, 2], [64, 64, 64]), u32(16), u32(2), u32(2)) == VMCFG_ERR_GICV2_VCPUS
    assert b"GICv2 addresses at most 8 vCPUs" in node.log


def test_no_future_cpus_means_no_absent_vcpus(node: Node) -> None:
    cfg = _cfg([2, 2], [64, 64], max_vcpus=8, future=0)
    assert (int(cfg.nr_vcpus), int(cfg.max_vcpus)) == (4, 4)


@pytest.mark.parametrize("bad, code, message", [
    ("count0", VMCFG_ERR_TABLE, b"a cluster of 0 nodes"),
    ("absent", VMCFG_ERR_TABLE, b"entry 1 is not a member"),
    ("base", VMCFG_ERR_TABLE, b"node 1 starts at vCPU 5, expected 2"),
    ("nocpu", VMCFG_ERR_VCPUS, b"node 1 brings 0 vCPUs"),
    ("noram", VMCFG_ERR_NO_RAM, b"node 1 brings no guest RAM"),
    ("align", VMCFG_ERR_TABLE, b"not 2 MiB aligned"),
    ("window", VMCFG_ERR_TABLE, b"leaves the RAM window"),
])
def test_a_table_that_is_not_a_vm_is_refused_with_a_message(node: Node, bad: str, code: u32,
                                                             message: bytes) -> None:
    t = _table([2, 2], [64, 64])
    e = t.entries[1]
    if bad == "count0":
        t.count = u32(0)
    elif bad == "absent":
        e.present = u32(0)
    elif bad == "base":
        e.vcpu_base = u32(5)
    elif bad == "nocpu":
        e.vcpu_count = u32(0)
    elif bad == "noram":
        e.ram_bytes = u64(0)
    elif bad == "align":
        e.ram_bytes = u64(64 * MIB + 4096)
    else:
        e.ram_bytes = u64(256 << 30)
    assert vmconfig_cluster(VmConfig(), t, u32(8), u32(2), u32(3)) == code
    assert message in node.log


# --- the guest FDT of a 3-node VM ----------------------------------------------------------------------------

def _fdt(node: Node, cfg: VmConfig) -> bytes:
    assert guest_fdt_build(cfg, u64(BUF), u32(0x10000)) == FDT_W_OK
    return node.node.ram.read(BUF, int(fdt_blob_size(u64(BUF))))


def test_the_fdt_has_one_memory_node_per_cluster_node_named_by_its_address(node: Node) -> None:
    root = parse(_fdt(node, _cfg([2, 2, 2], [372, 372, 372])))[2]
    mems = {name: n for name, n in root.children.items() if name.startswith("memory")}
    assert len(mems) == 3
    seen = []
    for name, m in mems.items():
        base, size = struct.unpack(">QQ", m.props["reg"])
        assert name == f"memory@{base:x}"                 # unit address = first reg address (DT spec)
        assert m.strs("device_type") == ["memory"]
        seen.append((base, size, m.u32s("numa-node-id")))
    assert sorted(seen) == [(0x4000_0000 + i * 372 * MIB, 372 * MIB, [i]) for i in range(3)]


def test_the_fdt_cpus_carry_their_nodes_numa_id_and_absent_ones_are_disabled(node: Node) -> None:
    cpus = parse(_fdt(node, _cfg([2, 2, 2], [372, 372, 372])))[2].path("/cpus").children
    for mpidr, numa in {0x000: 0, 0x001: 0, 0x100: 1, 0x101: 1, 0x200: 2, 0x201: 2}.items():
        cpu = cpus[f"cpu@{mpidr:x}"]
        assert cpu.u32s("reg") == [mpidr] and cpu.u32s("numa-node-id") == [numa]
        assert "status" not in cpu.props
    for mpidr in (0x300, 0x301):
        assert cpus[f"cpu@{mpidr:x}"].strs("status") == ["disabled"]
        assert cpus[f"cpu@{mpidr:x}"].u32s("numa-node-id") == [0]


def _distance_entries(root: DtNode) -> list[tuple[int, int, int]]:
    dm = root.path("/distance-map")
    assert dm.strs("compatible") == ["numa-distance-map-v1"]
    m = dm.u32s("distance-matrix")
    assert len(m) % 3 == 0
    return [(m[i], m[i + 1], m[i + 2]) for i in range(0, len(m), 3)]


def test_the_distance_map_follows_the_numa_binding(node: Node) -> None:
    entries = _distance_entries(parse(_fdt(node, _cfg([2, 2, 2], [372, 372, 372])))[2])
    # numa.txt: <from to distance> triples; 10 to itself, more than 10 elsewhere, the same both ways
    assert sorted((a, b) for a, b, _ in entries) == [(a, b) for a in range(3) for b in range(3)]
    d = {(a, b): x for a, b, x in entries}
    assert all(d[(a, a)] == 10 for a in range(3))
    assert all(d[(a, b)] == 20 == d[(b, a)] for a in range(3) for b in range(3) if a != b)


@pytest.mark.skipif(shutil.which("dtc") is None, reason="dtc not installed")
def test_dtc_decodes_the_three_node_fdt_without_warnings(node: Node) -> None:
    blob = _fdt(node, _cfg([2, 2, 2], [372, 372, 372]))
    out = subprocess.run(["dtc", "-I", "dtb", "-O", "dts", "-"], input=blob, capture_output=True, timeout=30)
    assert out.returncode == 0 and out.stderr == b"", out.stderr.decode()
    dts = out.stdout.decode()
    for addr in (0x4000_0000, 0x4000_0000 + 372 * MIB, 0x4000_0000 + 744 * MIB):
        assert f"memory@{addr:x} {{" in dts
    assert dts.count("numa-node-id = <0x02>;") == 3           # node 2's memory and its two CPUs
    assert 'compatible = "numa-distance-map-v1";' in dts
