"""The guest-visible register tables: SGIs (GICv3 ICC_SGI1R_EL1, GICv2 GICD_SGIR), routing, read-only
registers, redistributor identification and the GICv2 vCPU limit."""

from __future__ import annotations

import pytest

from pyhv.lang import u32, u64

from pyhv.vdev.vgic import (
    VGIC_ERR_TOO_MANY_VCPUS, VGIC_OK, vgic_inject, vgic_set_vcpu_mpidr, vgic_state, vgic_validate,
)
from pyhv.vdev.vgic_lr import vgic_flush_to_lrs, vgic_lr_intid, vgic_lr_used, vgic_sync_from_lrs
from pyhv.vdev.vgicv2_dist import VGICV2_DIST_ROWS
from pyhv.vdev.vgicv3_sysreg import vgicv3_sgi_write

from .conftest import KICKS, Vm
from .helpers import gicd_read, gicd_write, gicr_read, gicr_write, map_gic


def _sgi1r(intid: int, targets: int, aff1: int = 0, irm: bool = False) -> int:
    return (intid << 24) | (aff1 << 16) | targets | ((1 << 40) if irm else 0)


def test_v3_sgi_to_listed_vcpus(vm3: Vm) -> None:
    map_gic(3, 4)
    gicd_write(0, 0x000, 0x2)
    for frame in (1, 2, 3):
        gicr_write(frame, 0x10100, 1 << 3)                    # enable SGI 3 on vCPUs 1-3
    assert vgicv3_sgi_write(u32(0), u64(_sgi1r(3, 0b0110)), True) == 2
    assert KICKS == [1, 2]
    for cpu in (1, 2):
        with vm3.on(cpu):
            vgic_flush_to_lrs(u32(cpu))
            assert vm3.guest_ack(cpu) == 3
    with vm3.on(3):
        vgic_flush_to_lrs(u32(3))
        assert vm3.guest_ack(3) is None


def test_v3_sgi_broadcast_skips_the_sender(vm3: Vm) -> None:
    map_gic(3, 4)
    gicd_write(0, 0x000, 0x2)
    for frame in range(4):
        gicr_write(frame, 0x10100, 1 << 5)
    assert vgicv3_sgi_write(u32(2), u64(_sgi1r(5, 0, irm=True)), True) == 3
    assert sorted(KICKS) == [0, 1, 3]


def test_v3_sgi_aff1_selects_other_cluster(vm3: Vm) -> None:
    vgic_set_vcpu_mpidr(u32(3), u64(0x100))                 # vCPU 3 = node 1, CPU 0
    map_gic(3, 4)
    gicd_write(0, 0x000, 0x2)
    gicr_write(3, 0x10100, 1 << 1)
    assert vgicv3_sgi_write(u32(0), u64(_sgi1r(1, 0b1, aff1=1)), True) == 1
    assert KICKS == [3]


def test_v2_sgir_target_list_and_filters(vm2: Vm) -> None:
    map_gic(2, 4)
    gicd_write(0, 0x000, 0x1)                                # group 0 on (Linux GICv2)
    gicd_write(1, 0xF00, (0 << 24) | (0b1000 << 16) | 7)     # vCPU 1 -> list {3}, SGI 7
    assert KICKS == [3]
    assert gicd_read(3, 0xF20 + 4) >> 24 & 0xFF == 0b10      # SPENDSGIR: SGI 7 from CPU 1
    KICKS.clear()
    gicd_write(1, 0xF00, (1 << 24) | 2)                      # all but self
    assert sorted(KICKS) == [0, 2, 3]
    with vm2.on(3):
        vgic_flush_to_lrs(u32(3))
        acked = [vm2.guest_ack(3), vm2.guest_ack(3)]
        assert sorted(a for a in acked if a is not None) == [2, 7]


@pytest.mark.parametrize("caller", [4, 8, 63, 64, 0xFFFF])
def test_v2_sgi_rows_ignore_a_caller_that_is_no_cpu_interface(vm2: Vm, caller: int) -> None:
    """Issue 12 item 7: SGIR, SPENDSGIR and CPENDSGIR index per-vCPU state with the accessing vCPU's id (the
    DSM will forward remote callers' ids). A caller beyond the VM's 4 vCPUs reads zero and writes nothing."""
    map_gic(2, 4)
    gicd_write(0, 0x000, 0x1)
    gicd_write(1, 0xF20, 0x01)                                  # SPENDSGIR: SGI 0 pending on vCPU 1 from CPU 0
    KICKS.clear()
    sgi_rows = [r for r in VGICV2_DIST_ROWS if int(r.offset) in (0xF00, 0xF10, 0xF20)]
    for row in sgi_rows:
        assert int(row.read(u32(caller), u32(0))) == 0
        value = (1 << 24) | 3 if int(row.offset) == 0xF00 else 0xFFFFFFFF     # SGIR: SGI 3 to all others
        row.write(u32(caller), u32(0), u64(value))              # SPENDSGIR/CPENDSGIR: every SGI and source
    assert KICKS == []
    for v in range(4):
        assert gicd_read(v, 0xF20) == (0x01 if v == 1 else 0)  # nothing raised or cleared elsewhere


def test_irouter_decides_the_target(vm3: Vm) -> None:
    map_gic(3, 4)
    gicd_write(0, 0x000, 0x2)
    gicd_write(0, 0x6000 + 8 * 40, 2, width=8)              # GICD_IROUTER40 -> Aff0 = 2
    assert gicd_read(0, 0x6000 + 8 * 40, width=8) == 2
    gicd_write(0, 0x100 + 4, 1 << 8)
    vgic_inject(u32(0), u32(40), True)
    assert KICKS == [2]
    with vm3.on(2):
        vgic_flush_to_lrs(u32(2))
        assert vgic_lr_used(u32(2)) == 1 and vgic_lr_intid(u32(2), u32(0)) == 40
        gicd_write(2, 0x6000 + 8 * 40, 1, width=8)          # re-routed before the guest took it
        vgic_sync_from_lrs(u32(2))
        vgic_flush_to_lrs(u32(2))
        assert vgic_lr_used(u32(2)) == 0
    assert KICKS[-1] == 1
    with vm3.on(1):
        vgic_flush_to_lrs(u32(1))
        assert vm3.guest_ack(1) == 40


def test_read_only_registers_ignore_writes_and_count_them(vm3: Vm) -> None:
    map_gic(3, 4)
    before = [gicd_read(0, off) for off in (0x004, 0x008, 0xFFE8)]
    for off in (0x004, 0x008, 0xFFE8):
        gicd_write(0, off, 0xFFFFFFFF)
    gicr_write(1, 0x0008, 0xFFFFFFFF)
    assert [gicd_read(0, off) for off in (0x004, 0x008, 0xFFE8)] == before
    assert vgic_state().ro_writes == 4
    assert before[2] >> 4 & 0xF == 3                         # PIDR2.ArchRev = GICv3
    assert before[0] & 0x1F == (64 + 32) // 32 - 1           # ITLinesNumber from the VM's 64 SPIs
    assert before[0] >> 17 & 1 == 0                         # no LPIs


def test_gicr_typer_last_bit_affinity_and_processor_number(vm3: Vm) -> None:
    map_gic(3, 4)
    typers = [gicr_read(f, 0x0008, width=8) for f in range(4)]
    assert [t >> 4 & 1 for t in typers] == [0, 0, 0, 1]
    assert [t >> 8 & 0xFFFF for t in typers] == [0, 1, 2, 3]
    assert [t >> 32 for t in typers] == [0, 1, 2, 3]
    assert gicr_read(3, 0x000C) == typers[3] >> 32          # upper half as a 32-bit read


def test_gicr_waker_handshake(vm3: Vm) -> None:
    map_gic(3, 4)
    from pyhv.vdev.vgicv3_redist import vgicv3_redist_reset
    vgicv3_redist_reset()
    assert gicr_read(1, 0x0014) == 0b110                    # ProcessorSleep, ChildrenAsleep
    gicr_write(1, 0x0014, 0)
    assert gicr_read(1, 0x0014) & 0b100 == 0
    assert gicr_read(0, 0x0014) == 0b110


def test_v3_distributor_hides_private_interrupts(vm3: Vm) -> None:
    map_gic(3, 4)
    gicd_write(0, 0x100, 0xFFFFFFFF)                          # ISENABLER0 is the redistributor's
    assert gicd_read(0, 0x100) == 0
    assert gicr_read(0, 0x10100) == 0


def test_priority_bytes_and_words(vm2: Vm) -> None:
    map_gic(2, 4)
    gicd_write(0, 0x400 + 40, 0x40302010)
    assert gicd_read(0, 0x400 + 40) == 0x40302010
    byte_row = next(r for r in VGICV2_DIST_ROWS if int(r.offset) == 0x400 and int(r.widths) == 1)
    byte_row.write(u32(0), u32(42), u64(0x99))              # a byte store touches one priority only
    assert gicd_read(0, 0x400 + 40) == 0x40992010


def test_byte_access_through_dispatch(vm2: Vm) -> None:
    map_gic(2, 4)
    gicd_write(0, 0x400 + 40, 0x40302010)
    assert gicd_read(0, 0x400 + 41, width=1) == 0x20
    gicd_write(0, 0x800 + 40, 0x2, width=1)                  # Linux's gic_set_affinity: writeb
    assert gicd_read(0, 0x800 + 40) == 0x2


def test_itargetsr_of_spis_is_masked_to_present_cpus(vm2: Vm) -> None:
    map_gic(2, 4)
    gicd_write(0, 0x800 + 40, 0xFFFFFFFF)
    assert gicd_read(0, 0x800 + 40) == 0x0F0F0F0F
    assert gicd_read(2, 0x800) == 0x04040404                 # SGI bytes: the reader's own bit


def test_gicv2_refuses_more_than_8_vcpus() -> None:
    vm = Vm(3, nr_vcpus=1, nr_lrs=4)
    with vm.on(0):
        assert vgic_validate(u32(9), u32(2)) == VGIC_ERR_TOO_MANY_VCPUS
        assert vgic_validate(u32(8), u32(2)) == VGIC_OK
        assert vgic_validate(u32(64), u32(3)) == VGIC_OK
        assert vgic_validate(u32(65), u32(3)) == VGIC_ERR_TOO_MANY_VCPUS


def test_redistributor_priorities_take_byte_stores(vm3: Vm) -> None:
    # IHI 0069H §12.11.20: GICR_IPRIORITYR<n> is byte-accessible; a byte store sets one SGI/PPI only.
    map_gic(3, 4)
    gicr_write(1, 0x10400 + 24, 0x40302010)                  # PPIs 24-27 of vCPU 1
    gicr_write(1, 0x10400 + 27, 0x80, width=1)               # PPI 27 (the virtual timer) alone
    assert gicr_read(1, 0x10400 + 24) == 0x80302010
    assert gicr_read(1, 0x10400 + 25, width=1) == 0x20
    assert gicr_read(0, 0x10400 + 24) == 0                   # another vCPU's frame is untouched


def test_redistributor_byte_accesses_elsewhere_are_ignored(vm3: Vm) -> None:
    map_gic(3, 4)
    gicr_write(0, 0x10100, 0xFF, width=1)                    # ISENABLER0 takes word accesses only
    assert gicr_read(0, 0x10100) == 0 and gicr_read(0, 0x10100, width=1) == 0
