"""Guest PSCI 1.1 and SMCCC 1.1 through smccc_handle: every call and every error path."""

from __future__ import annotations

import pytest

from pyhv.lang import i32, u32, u64

from pyhv.core.smccc import SmcccFid, smccc_decode, smccc_handle
from pyhv.core.vmconfig import VmConfig
from pyhv.core.vpsci import (
    SMCCC_ACTION_HALT, SMCCC_ACTION_RESUME, SMCCC_ACTION_STANDBY, SMCCC_ACTION_VCPU_OFF, VPSCI_OFF, VPSCI_ON,
    VPSCI_ON_PENDING, SmcccResult, VcpuPowerOps, VpsciBoot, vpsci_init, vpsci_set_power_ops,
    vpsci_vcpu_started, vpsci_vcpu_state,
)

from .conftest import Node, two_node_config

NOT_SUPPORTED, INVALID_PARAMETERS, ALREADY_ON, ON_PENDING, INTERNAL_FAILURE, INVALID_ADDRESS = -1, -2, -4, -5, -6, -9
ENTRY = 0x4008_0000
M64 = (1 << 64) - 1
RESUME, VCPU_OFF, STANDBY, HALT = (int(a) for a in (SMCCC_ACTION_RESUME, SMCCC_ACTION_VCPU_OFF,
                                                    SMCCC_ACTION_STANDBY, SMCCC_ACTION_HALT))


class Power:
    """The core's side of the VcpuPowerOps slot, recording what vPSCI asked for."""

    started: list[int] = []
    events: list[str] = []
    status = 0


def _cpu_on(i: u32) -> i32:
    Power.started.append(int(i))
    return i32(Power.status)


def _off() -> None:
    Power.events.append("off")


def _reset() -> None:
    Power.events.append("reset")


@pytest.fixture
def cfg(node: Node) -> VmConfig:
    Power.started, Power.events, Power.status = [], [], 0
    vpsci_set_power_ops(VcpuPowerOps(cpu_on=_cpu_on, system_off=_off, system_reset=_reset))
    c = two_node_config()
    vpsci_init(c, u32(0))
    return c


def call(cfg: VmConfig, x0: int, x1: int = 0, x2: int = 0, x3: int = 0, vcpu: int = 0) -> tuple[int, int]:
    res = SmcccResult()
    smccc_handle(cfg, u32(vcpu), u64(x0), u64(x1 & M64), u64(x2), u64(x3), res)
    v = int(res.x0)
    return (v - (1 << 64) if v >> 63 else v), int(res.action)


def test_decode_splits_the_function_id() -> None:
    d = SmcccFid()
    smccc_decode(u64(0xFFFF_FFFF_C400_0003), d)
    assert d.fast and d.smc64 and int(d.owner) == 4 and int(d.number) == 3 and d.reserved_ok
    smccc_decode(u64(0x0601_0000), d)
    assert not d.fast and not d.smc64 and int(d.owner) == 6 and not d.reserved_ok


def test_psci_version_is_1_1(cfg: VmConfig) -> None:
    assert call(cfg, 0x8400_0000) == (0x10001, RESUME)


def test_smccc_version_is_1_1_and_arch_features_refuses_workarounds(cfg: VmConfig) -> None:
    assert call(cfg, 0x8000_0000)[0] == 0x10001
    assert call(cfg, 0x8000_0001, 0x8000_8000)[0] == NOT_SUPPORTED     # ARCH_WORKAROUND_1
    assert call(cfg, 0x8000_0001, 0x8000_7FFF)[0] == NOT_SUPPORTED     # ARCH_WORKAROUND_2
    assert call(cfg, 0x8000_0001, 0x8000_3FFF)[0] == NOT_SUPPORTED     # ARCH_WORKAROUND_3
    assert call(cfg, 0x8000_0001, 0x8000_0000)[0] == 0


def test_psci_features_reports_what_is_implemented(cfg: VmConfig) -> None:
    for fid in (0x8400_0000, 0x8400_0001, 0xC400_0001, 0x8400_0002, 0x8400_0003, 0xC400_0003, 0xC400_0004,
                0x8400_0006, 0x8400_0008, 0x8400_0009, 0x8400_000A, 0x8000_0000):
        assert call(cfg, 0x8400_000A, fid)[0] == 0, hex(fid)
    for fid in (0x8400_0005, 0xC400_0000, 0x8400_000E, 0x8400_0012, 0x8000_0001, 0xC400_0008):
        assert call(cfg, 0x8400_000A, fid)[0] == NOT_SUPPORTED, hex(fid)


def test_unknown_and_yielding_calls_are_not_supported(cfg: VmConfig) -> None:
    for fid in (0x8400_0005, 0x8400_0050, 0x8600_FF01, 0xC200_0001, 0x0400_0000, 0x8401_0000, 0xC400_0008):
        assert call(cfg, fid) == (NOT_SUPPORTED, RESUME), hex(fid)


def test_cpu_on_records_entry_and_context_and_wakes_the_target(cfg: VmConfig) -> None:
    assert call(cfg, 0xC400_0003, 0x101, ENTRY, 0xC0FFEE) == (0, RESUME)
    assert Power.started == [3]
    assert vpsci_vcpu_state(u32(3)) == VPSCI_ON_PENDING
    boot = VpsciBoot()
    assert vpsci_vcpu_started(u32(3), boot)
    assert int(boot.entry) == ENTRY and int(boot.context_id) == 0xC0FFEE
    assert vpsci_vcpu_state(u32(3)) == VPSCI_ON
    assert not vpsci_vcpu_started(u32(3), boot)


def test_cpu_on_smc32_ignores_the_upper_argument_halves(cfg: VmConfig) -> None:
    assert call(cfg, 0x8400_0003, 0xFFFF_FFFF_0000_0001, 0xAB_0000_0000 | ENTRY, 7)[0] == 0
    boot = VpsciBoot()
    assert vpsci_vcpu_started(u32(1), boot) and int(boot.entry) == ENTRY


def test_cpu_on_errors(cfg: VmConfig) -> None:
    assert call(cfg, 0xC400_0003, 0x300, ENTRY)[0] == INVALID_PARAMETERS     # no such MPIDR
    assert call(cfg, 0xC400_0003, 1 << 31 | 1, ENTRY)[0] == INVALID_PARAMETERS  # non-affinity bits
    assert call(cfg, 0xC400_0003, 0x200, ENTRY)[0] == INTERNAL_FAILURE     # possible but absent
    assert call(cfg, 0xC400_0003, 0x1, 0x1000)[0] == INVALID_ADDRESS       # entry outside RAM
    assert call(cfg, 0xC400_0003, 0x0, ENTRY)[0] == ALREADY_ON              # the boot vCPU
    assert call(cfg, 0xC400_0003, 0x1, ENTRY)[0] == 0
    assert call(cfg, 0xC400_0003, 0x1, ENTRY)[0] == ON_PENDING
    assert Power.started == [1]


def test_cpu_on_hook_failure_leaves_the_target_off(cfg: VmConfig) -> None:
    Power.status = -6
    assert call(cfg, 0xC400_0003, 0x100, ENTRY)[0] == INTERNAL_FAILURE
    assert vpsci_vcpu_state(u32(2)) == VPSCI_OFF


def test_cpu_off_turns_the_caller_off_and_it_can_be_started_again(cfg: VmConfig) -> None:
    call(cfg, 0xC400_0003, 0x1, ENTRY)
    vpsci_vcpu_started(u32(1), VpsciBoot())
    assert call(cfg, 0x8400_0002, vcpu=1)[1] == VCPU_OFF
    assert vpsci_vcpu_state(u32(1)) == VPSCI_OFF
    assert call(cfg, 0xC400_0003, 0x1, ENTRY)[0] == 0


@pytest.mark.parametrize("caller", [4, 5, 64, 0xFFFF, 0xFFFFFFFF])
def test_cpu_off_from_a_caller_that_is_no_present_vcpu_is_denied_and_resumes(cfg: VmConfig, caller: int) -> None:
    """Issue 12 item 7: CPU_OFF indexes the per-vCPU records with the caller's id (the DSM will forward remote
    callers' ids). An id beyond the present vCPUs (4 and 5 are possible but absent here) changes no record."""
    before = [int(vpsci_vcpu_state(u32(i))) for i in range(6)]
    assert call(cfg, 0x8400_0002, vcpu=caller) == (-3, RESUME)        # DENIED, back to the guest
    assert [int(vpsci_vcpu_state(u32(i))) for i in range(6)] == before
    assert int(vpsci_vcpu_state(u32(caller))) == int(VPSCI_OFF)         # a state query never indexes either


def test_cpu_suspend_is_a_standby_that_succeeds(cfg: VmConfig) -> None:
    assert call(cfg, 0xC400_0001, 0x0, ENTRY, 0) == (0, STANDBY)
    assert call(cfg, 0x8400_0001, 0x0) == (0, STANDBY)
    assert vpsci_vcpu_state(u32(0)) == VPSCI_ON


def test_affinity_info_reports_on_off_and_on_pending(cfg: VmConfig) -> None:
    assert call(cfg, 0xC400_0004, 0x0, 0)[0] == 0        # ON
    assert call(cfg, 0xC400_0004, 0x101, 0)[0] == 1      # OFF
    call(cfg, 0xC400_0003, 0x101, ENTRY)
    assert call(cfg, 0x8400_0004, 0x101, 0)[0] == 2      # ON_PENDING
    assert call(cfg, 0xC400_0004, 0x200, 0)[0] == 1      # absent vCPUs are off


def test_affinity_info_at_level_1_aggregates_a_node(cfg: VmConfig) -> None:
    assert call(cfg, 0xC400_0004, 0x0FF, 1)[0] == 0      # node 0 has the boot vCPU on
    assert call(cfg, 0xC400_0004, 0x100, 1)[0] == 1
    call(cfg, 0xC400_0003, 0x100, ENTRY)
    assert call(cfg, 0xC400_0004, 0x101, 1)[0] == 2


def test_affinity_info_errors(cfg: VmConfig) -> None:
    assert call(cfg, 0xC400_0004, 0x0, 4)[0] == INVALID_PARAMETERS     # lowest affinity level > 3
    assert call(cfg, 0xC400_0004, 0x305, 0)[0] == INVALID_PARAMETERS   # no such vCPU
    assert call(cfg, 0xC400_0004, 1 << 40, 0)[0] == INVALID_PARAMETERS


def test_migrate_info_type_says_no_migration_needed(cfg: VmConfig) -> None:
    assert call(cfg, 0x8400_0006)[0] == 2


def test_system_off_and_reset_go_to_the_hook_and_halt(cfg: VmConfig) -> None:
    assert call(cfg, 0x8400_0008)[1] == HALT
    assert call(cfg, 0x8400_0009)[1] == HALT
    assert Power.events == ["off", "reset"]
