"""The VM's stage-2 table pool size (pyhv/core/vm.py vm_stage2_pool_pages): the stage-2 bound of every RAM
region of the VmConfig, so the pool covers page-by-page mapping of all guest RAM (docs/vm-model.md)."""

from __future__ import annotations

from pyhv.lang import u32, u64

from pyhv.arch.stage2 import stage2_pool_pages_for
from pyhv.core.vm import vm_stage2_pool_pages
from pyhv.core.vmconfig import vmconfig_add_mem, vmconfig_single_node
from pyhv.core.vmstate import vm_state

from .conftest import Node

MiB = 1 << 20


def test_one_region_is_sized_by_the_stage2_bound(node: Node) -> None:
    cfg = vm_state().cfg
    vmconfig_single_node(cfg, u32(1), u32(1), u64(496 * MiB), u32(3))
    assert int(vm_stage2_pool_pages(cfg)) == int(stage2_pool_pages_for(u64(496 * MiB))) == 261


def _slots_touched(regions: list[tuple[int, int]], shift: int) -> int:
    return len({a >> shift for base, size in regions for a in (*range(base, base + size, 1 << shift),
                                                                  base + size - 1)})


def test_every_region_counts_with_slack_for_its_rounding_and_alignment(node: Node) -> None:
    cfg = vm_state().cfg
    vmconfig_single_node(cfg, u32(1), u32(1), u64(496 * MiB), u32(3))
    regions = [(0x4000_0000, 496 * MiB), (0x1_0000_0000 + 0x1000, 3 * MiB), (0x1_3FF0_0000, 5 * MiB)]
    for base, size in regions[1:]:
        assert vmconfig_add_mem(cfg, u64(base), u64(size), u32(0))
    # what page-by-page mapping of every page really needs: root, device allowance, one table per slot
    need = 2 + 8 + _slots_touched(regions, 30) + _slots_touched(regions, 21)
    got = int(vm_stage2_pool_pages(cfg))
    assert got >= need and got == int(stage2_pool_pages_for(u64(504 * MiB))) + 2 * 4
