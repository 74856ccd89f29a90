"""A node's host RAM split into pyhv's reservation, its home share of guest RAM and a cache pool
(pyhv/core/vmlayout.py, docs/dsm.md "Memory layout")."""

from __future__ import annotations

import pytest

from pyhv.lang import u32, u64

from pyhv.core.vmlayout import (
    VMLAYOUT_ERR_POOL, VMLAYOUT_ERR_TOO_SMALL, VMLAYOUT_OK, NodeLayout, vm_layout_node, vm_layout_print,
)

from .conftest import Node

MIB = 1 << 20
KIB = 1 << 10
PAGE = 4096
FIXED = 0x533000                 # _end - ram_base of today's qemu-virt image (low 2 MiB + 3.2 MiB)


def _layout(ram_mib: int, nodes: int, hint_pages: int = 0, s2_pages: int = 768, meta: int = 3 * MIB,
            fixed: int = FIXED) -> tuple[int, NodeLayout]:
    lay = NodeLayout()
    err = vm_layout_node(u64(ram_mib * MIB), u64(hint_pages), u32(nodes), u64(fixed), u64(s2_pages), u64(meta), lay)
    return int(err), lay


def _check_fits(lay: NodeLayout) -> None:
    ram = int(lay.ram_bytes)
    reserved, home, pool = int(lay.reserved_bytes), int(lay.home_bytes), int(lay.pool_pages) * PAGE
    assert reserved % (2 * MIB) == 0 and home % (2 * MIB) == 0 and int(lay.home_offset) % (2 * MIB) == 0
    assert reserved >= int(lay.fixed_bytes) + int(lay.s2_pool_bytes) + int(lay.dsm_meta_bytes)
    assert int(lay.home_offset) == reserved and int(lay.pool_offset) == reserved + home
    assert reserved + home + pool + int(lay.slack_bytes) == ram       # every byte accounted for, none twice


@pytest.mark.parametrize("nodes", [2, 3])
def test_the_guest_ram_of_several_512_mib_nodes_exceeds_any_nodes_host_ram(node: Node, nodes: int) -> None:
    err, lay = _layout(512, nodes)
    assert err == int(VMLAYOUT_OK)
    _check_fits(lay)
    guest = nodes * int(lay.home_bytes)
    assert guest > 512 * MIB
    assert int(lay.pool_pages) * PAGE >= 100 * MIB      # a real cache for the remote part
    if nodes == 3:
        assert 1.05 * (1 << 30) < guest < 1.15 * (1 << 30)


def test_one_node_gets_everything_after_the_reservation_and_no_pool(node: Node) -> None:
    err, lay = _layout(512, 1, s2_pages=256, meta=0)
    assert err == int(VMLAYOUT_OK)
    _check_fits(lay)
    assert int(lay.pool_pages) == 0 and int(lay.slack_bytes) == 0
    assert int(lay.reserved_bytes) == 8 * MIB          # 5.2 MiB + 1 MiB of tables, rounded up to 2 MiB
    assert int(lay.home_bytes) == 504 * MIB


def test_the_reservation_grows_with_the_metadata_and_table_pool_it_is_given(node: Node) -> None:
    small = _layout(1024, 2, s2_pages=256, meta=MIB)[1]
    big = _layout(1024, 2, s2_pages=4096, meta=20 * MIB)[1]
    assert int(big.reserved_bytes) - int(small.reserved_bytes) >= 19 * MIB + 15 * MIB
    _check_fits(small)
    _check_fits(big)


def test_the_pool_is_capped_at_the_guest_ram_homed_elsewhere(node: Node) -> None:
    err, lay = _layout(512, 2, hint_pages=(372 + 8) * MIB // PAGE)     # the other node homes only 8 MiB
    assert err == int(VMLAYOUT_OK)
    _check_fits(lay)
    assert int(lay.pool_pages) == (380 * MIB - int(lay.home_bytes)) // PAGE
    assert int(lay.slack_bytes) > 100 * MIB


def test_a_node_too_small_for_pyhv_is_refused_with_the_numbers(node: Node) -> None:
    err, _ = _layout(8, 2, s2_pages=768, meta=3 * MIB)
    assert err == int(VMLAYOUT_ERR_TOO_SMALL)
    assert b"node RAM of 8 MiB is too small" in node.log and b"stage-2 pool 768 pages" in node.log


def test_a_node_whose_pool_would_be_tiny_is_refused(node: Node) -> None:
    err, _ = _layout(18, 3, s2_pages=256, meta=4 * MIB)
    assert err == int(VMLAYOUT_ERR_POOL)
    assert b"cache pool of" in node.log and b"3-node VM" in node.log


def test_absurd_inputs_do_not_wrap_into_a_layout(node: Node) -> None:
    lay = NodeLayout()
    huge = u64((1 << 64) - MIB)
    assert vm_layout_node(u64(512 * MIB), u64(0), u32(2), u64(FIXED), u64(1 << 52), huge, lay) == VMLAYOUT_ERR_TOO_SMALL


def test_the_layout_is_printed(node: Node) -> None:
    _, lay = _layout(512, 3)
    vm_layout_print(lay)
    assert f"vm: host RAM 512 MiB: pyhv keeps {int(lay.reserved_bytes) // KIB} KiB, guest home " \
           f"{int(lay.home_bytes) // MIB} MiB, cache pool {int(lay.pool_pages)} pages".encode() in node.log
