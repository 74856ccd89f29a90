"""CPython unit tests of the QEMU bring-up pieces: bootargs parsing (bounded, exact matches, defaults),
the MARKER message (handled as a datagram from the switch, recorded and printed), and the soak's page
checksum (detects a changed word)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from pyhv.lang import sizeof, u32, u64
from pyhv.lang.machine import Machine, write_memory

from pyhv.cluster.bootargs import (
    BOOTARGS_MAX, bootarg_eq, bootarg_find, bootarg_name_id, bootarg_u32,
)
from pyhv.cluster.clocksync import clocksync_guest_counter
from pyhv.cluster.marker import marker_state
from pyhv.cluster.node import cluster_handle_frame
from pyhv.cluster.soak import SOAK_MSG_BYTES, SoakMsg, soak_checksum, soak_fill
from pyhv.cluster.table import cluster_name_id
from pyhv.cluster.wire import DROP_UNKNOWN_TYPE, MSG_MARKER, MSG_TYPES, wire_stats
from pyhv.core.fdt import FDT_NONE, fdt_init
from pyhv.host.fdt_build import FdtBuilder
from pyhv.host.switch_frames import cluster_id, marker_frame

from .conftest import Bootstrap

DTB_ADDR = 0x4800_0000
Loader = Callable[[str | None], None]


def _dtb(bootargs: str | None) -> bytes:
    f = FdtBuilder()
    f.begin_node("")
    f.prop_u32("#address-cells", 2)
    f.prop_u32("#size-cells", 2)
    f.begin_node("chosen")
    if bootargs is not None:
        f.prop_str("bootargs", bootargs)
    f.end_node()
    f.end_node()
    return f.finish()


@pytest.fixture
def load() -> Iterator[Loader]:
    machine = Machine()
    node = machine.add_node(cpus=1)
    with machine.on_cpu(node, 0):
        def do(bootargs: str | None) -> None:
            node.ram.write(DTB_ADDR, _dtb(bootargs))
            fdt_init(u64(DTB_ADDR))
        yield do


def test_bootargs_values(load: Loader) -> None:
    load("console=ttyAMA0 pyhv.role=joiner  pyhv.cluster=lab-1 pyhv.nodes=3 xpyhv.soak=9 pyhv.soak=12")
    assert bootarg_eq("pyhv.role", "joiner")
    assert not bootarg_eq("pyhv.role", "join")
    assert not bootarg_eq("pyhv.role", "joiners")
    assert bootarg_u32("pyhv.nodes", u32(1)) == 3
    assert bootarg_u32("pyhv.soak", u32(0)) == 12          # "xpyhv.soak" is another key
    assert bootarg_u32("pyhv.markers", u32(7)) == 7        # absent: the default
    assert bootarg_find("pyhv.rol") == FDT_NONE            # a prefix of a key is not the key
    assert bootarg_name_id("pyhv.cluster") == cluster_name_id("lab-1") == cluster_id("lab-1")


@pytest.mark.parametrize("value", ["", "12x", "-1", "4294967296", "99999999999"])
def test_bootarg_u32_rejects_malformed(load: Loader, value: str) -> None:
    load(f"pyhv.role=bootstrap pyhv.nodes={value} pyhv.soak=5")
    assert bootarg_u32("pyhv.nodes", u32(4)) == 4
    assert bootarg_u32("pyhv.soak", u32(0)) == 5


def test_bootarg_u32_max(load: Loader) -> None:
    load("pyhv.soak=4294967295")
    assert bootarg_u32("pyhv.soak", u32(0)) == 0xFFFFFFFF


def test_missing_bootargs(load: Loader) -> None:
    load(None)
    assert bootarg_find("pyhv.role") == FDT_NONE
    assert bootarg_name_id("pyhv.cluster") == FDT_NONE


def test_bootargs_parse_is_bounded(load: Loader) -> None:
    # A key beyond BOOTARGS_MAX bytes is not seen (and nothing reads past the property).
    load("x" * int(BOOTARGS_MAX) + " pyhv.role=joiner")
    assert bootarg_find("pyhv.role") == FDT_NONE


def test_marker_is_recorded_and_printed(bootstrap: Bootstrap) -> None:
    assert MSG_MARKER == 11 and MSG_TYPES == 33      # 12..23 the DSM (docs/dsm.md), 24..32 the cross-node VM
    frame = marker_frame(7, 123456789, cluster_id("test"))
    buf = 0x4400_0000
    write_memory(buf + 2, frame)
    before = wire_stats().rx_ok
    expect_low = int(clocksync_guest_counter())
    cluster_handle_frame(u64(buf), u32(len(frame)))
    st = marker_state()
    assert wire_stats().rx_ok == before + 1
    assert wire_stats().drops[DROP_UNKNOWN_TYPE] == 0
    assert st.received == 1 and st.last_id == 7
    assert int(st.last_vcnt) >= expect_low
    assert f"marker: seq=7 vcnt={int(st.last_vcnt)}\n" in bytes(bootstrap.node.console).decode()


def test_soak_checksum_detects_a_changed_word() -> None:
    machine = Machine()
    node = machine.add_node(cpus=1)
    with machine.on_cpu(node, 0):
        assert int(sizeof(SoakMsg)) == int(SOAK_MSG_BYTES)
        m = SoakMsg()
        soak_fill(m, u64(5))
        good = m.csum
        assert soak_checksum(m) == good
        m.data[100] = m.data[100] ^ u64(1 << 9)
        assert soak_checksum(m) != good
        other = SoakMsg()
        soak_fill(other, u64(6))
        assert other.csum != good and other.data[0] != m.data[0]
