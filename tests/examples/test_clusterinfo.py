"""The example module examples/clusterinfo (docs/writing-a-module.md) under CPython on the mock machine: the
guest's accesses go through pyhv's real MMIO dispatch (and once through the real trap path), every register
is checked against the VmConfig it reports, and writes are ignored and counted."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

import pytest

import pyhv
from pyhv.lang import u8, u32, u64
from pyhv.lang.machine import Machine, MockNode

from pyhv.arch.frame import TrapFrame
from pyhv.core.fdt_write import FDT_W_OK, fdt_blob_size
from pyhv.core.guest_fdt import guest_fdt_build
from pyhv.core.mmio import MMIO_HANDLED, MmioAccess, mmio_dispatch, mmio_raz_wi_count
from pyhv.core.printk import NULL_CONSOLE_OPS, printk_set_console
from pyhv.core.vcpu import vcpu_trap_sync
from pyhv.core.vm_devices import VM_OK, vm_setup_devices
from pyhv.core.vmconfig import (
    VM_CLUSTERINFO_BASE, VMCFG_ERR_OVERLAP, VMCFG_OK, vmconfig_add_mem, vmconfig_add_vcpu, vmconfig_add_virtio,
    vmconfig_set_numa_nodes, vmconfig_single_node, vmconfig_validate,
)
from pyhv.core.vmstate import vm_state

from examples.clusterinfo.clusterinfo import CLUSTERINFO_MAGIC, CLUSTERINFO_VERSION, clusterinfo_writes_ignored

BASE = 0x0A10_0000
MAGIC, VERSION, NR_NODES, NR_VCPUS, MAX_VCPUS, RAM_MIB, WRITES, NODE_OF_VCPU = (
    0x000, 0x004, 0x008, 0x00C, 0x010, 0x014, 0x018, 0x100)
RAM_BYTES = 496 << 20
PC = 0xFFFF_8000_1000_0000


@pytest.fixture
def node() -> Iterator[MockNode]:
    # One node, 2 of 4 possible vCPUs present, 496 MiB, GICv3: what `pyhv run --cpus 2` would build, plus
    # two absent vCPUs to show MAX_VCPUS and the NODE_OF_VCPU window's end.
    m = Machine()
    n = m.add_node(cpus=2)
    with m.on_cpu(n, 0):
        printk_set_console(NULL_CONSOLE_OPS)
        vmconfig_single_node(vm_state().cfg, u32(2), u32(4), u64(RAM_BYTES), u32(3))
        assert vmconfig_validate(vm_state().cfg) == VMCFG_OK
        assert vm_setup_devices() == VM_OK          # the VM's real catalogue registers the device
        yield n


def rd(off: int, width: int = 4) -> int:
    acc = MmioAccess()
    acc.ipa, acc.width_bytes, acc.is_write = u64(BASE + off), u8(width), False
    assert mmio_dispatch(u32(0), acc) == MMIO_HANDLED
    return int(acc.value)


def wr(off: int, value: int, width: int = 4) -> None:
    acc = MmioAccess()
    acc.ipa, acc.value, acc.width_bytes, acc.is_write = u64(BASE + off), u64(value), u8(width), True
    assert mmio_dispatch(u32(0), acc) == MMIO_HANDLED


def test_the_device_sits_at_its_documented_ipa() -> None:
    assert int(VM_CLUSTERINFO_BASE) == BASE


def test_magic_reads_as_the_bytes_pyhv(node: MockNode) -> None:
    assert rd(MAGIC).to_bytes(4, "little") == b"PYHV"
    assert int(CLUSTERINFO_MAGIC) == rd(MAGIC)


def test_version_packs_the_pyhv_version(node: MockNode) -> None:
    major, minor, patch = (int(x) for x in pyhv.VERSION.split("."))
    assert rd(VERSION) == major << 16 | minor << 8 | patch == int(CLUSTERINFO_VERSION)


def test_counts_come_from_the_vm_configuration(node: MockNode) -> None:
    assert (rd(NR_NODES), rd(NR_VCPUS), rd(MAX_VCPUS), rd(RAM_MIB)) == (1, 2, 4, 496)


def test_node_of_vcpu_is_node_zero_for_every_possible_vcpu_and_all_ones_past_them(node: MockNode) -> None:
    assert [rd(NODE_OF_VCPU + 4 * n) for n in range(4)] == [0, 0, 0, 0]
    assert rd(NODE_OF_VCPU + 4 * 4) == 0xFFFF_FFFF
    assert rd(NODE_OF_VCPU + 4 * 63) == 0xFFFF_FFFF


def test_registers_follow_a_live_change_of_the_configuration(node: MockNode) -> None:
    # A two-node VM: vCPUs 0-1 on node 0, 2-3 on node 1 (MPIDR Aff1), RAM split in two regions.
    cfg = vm_state().cfg
    cfg.max_vcpus = u32(0)
    cfg.nr_mem = u32(0)
    vmconfig_set_numa_nodes(cfg, u32(2))
    for node_id, cpu in ((0, 0), (0, 1), (1, 0), (1, 1)):
        vmconfig_add_vcpu(cfg, u32(node_id), u32(cpu), u32(node_id))
    cfg.nr_vcpus = u32(3)
    vmconfig_add_mem(cfg, u64(0x4000_0000), u64(256 << 20), u32(0))
    vmconfig_add_mem(cfg, u64(0x1_0000_0000), u64(1 << 30), u32(1))
    assert (rd(NR_NODES), rd(NR_VCPUS), rd(MAX_VCPUS), rd(RAM_MIB)) == (2, 3, 4, 256 + 1024)
    assert [rd(NODE_OF_VCPU + 4 * n) for n in range(5)] == [0, 0, 1, 1, 0xFFFF_FFFF]


def test_writes_are_ignored_and_counted(node: MockNode) -> None:
    assert clusterinfo_writes_ignored() == 0 and rd(WRITES) == 0
    wr(MAGIC, 0)
    wr(NR_VCPUS, 64)
    wr(NODE_OF_VCPU + 8, 7)
    assert rd(MAGIC) == 0x5648_5950 and rd(NR_VCPUS) == 2 and rd(NODE_OF_VCPU + 8) == 0
    assert clusterinfo_writes_ignored() == 3 and rd(WRITES) == 3


def test_registers_are_32_bit_only_other_widths_read_as_zero(node: MockNode) -> None:
    before = int(mmio_raz_wi_count())
    assert rd(MAGIC, 1) == 0 and rd(MAGIC, 2) == 0 and rd(MAGIC, 8) == 0
    wr(NR_VCPUS, 9, 2)                          # a 16-bit write is RAZ/WI, not a counted register write
    assert int(mmio_raz_wi_count()) == before + 4
    assert rd(NR_VCPUS) == 2 and rd(WRITES) == 0


def test_offsets_without_a_register_read_as_zero(node: MockNode) -> None:
    before = int(mmio_raz_wi_count())
    assert rd(0x01C) == 0 and rd(0x0FC) == 0 and rd(0xFFC) == 0
    wr(0x800, 1)
    assert int(mmio_raz_wi_count()) == before + 4 and rd(WRITES) == 0


def test_a_guest_load_trapped_as_a_data_abort_lands_in_the_register(node: MockNode) -> None:
    # `ldr w3, [x1]` at BASE + NR_VCPUS: ISV=1, SAS=2 (32 bits), SRT=3, read, translation fault level 3.
    f = TrapFrame()
    f.esr = u64(0x24 << 26 | 1 << 25 | 1 << 24 | 2 << 22 | 3 << 16 | 0x07)
    f.elr, f.spsr, f.far = u64(PC), u64(0x3C5), u64(0xFFFF_0000_0A10_000C)
    f.x[3] = u64(0xDEAD_BEEF_DEAD_BEEF)
    node.cpus[0].sysregs["hpfar_el2"] = ((BASE + NR_VCPUS) >> 12) << 4
    vcpu_trap_sync(f)
    assert int(f.x[3]) == 2 and int(f.elr) == PC + 4


def test_the_configuration_refuses_a_device_that_overlaps_the_cluster_info_window(node: MockNode) -> None:
    cfg = vm_state().cfg
    assert vmconfig_add_virtio(cfg, u64(BASE + 0x200), u32(16))
    assert vmconfig_validate(cfg) == VMCFG_ERR_OVERLAP


@pytest.mark.skipif(shutil.which("dtc") is None, reason="needs dtc")
def test_the_guest_fdt_describes_the_device(node: MockNode) -> None:
    buf = 0x4800_0000
    assert guest_fdt_build(vm_state().cfg, u64(buf), u32(0x10000)) == FDT_W_OK
    blob = node.ram.read(buf, int(fdt_blob_size(u64(buf))))
    dts = subprocess.run(["dtc", "-q", "-I", "dtb", "-O", "dts", "-"], input=blob, capture_output=True,
                         check=True).stdout.decode()
    body = dts.split("pyhv-clusterinfo@a100000 {", 1)[1].split("};", 1)[0]
    assert 'compatible = "pyhv,clusterinfo";' in body
    assert "reg = <0x00 0xa100000 0x00 0x1000>;" in body
