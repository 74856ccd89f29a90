"""The guest's physical counter and EL1 physical timer, trapped and emulated in guest time
(pyhv/vdev/vptimer.py), also through the real trap path (vcpu_trap_sync, EC 0x18) with ISS values made
from keystone's encodings of the guest's MRS/MSR instructions."""

from __future__ import annotations

from pyhv.lang import u32, u64

from pyhv.arch.frame import TrapFrame
from pyhv.arch.sysreg_trap import (
    SYSREG_KEY_CNTP_CTL, SYSREG_KEY_CNTP_CVAL, SYSREG_KEY_CNTP_TVAL, SYSREG_KEY_CNTPCT, SysregAccess,
    sysreg_trap_decode,
)
from pyhv.core.clock import clock_cpu_enter, clock_set_cntvoff
from pyhv.core.vcpu import vcpu_trap_sync
from pyhv.core.vm_devices import VM_OK, vm_setup_devices
from pyhv.core.vmconfig import vmconfig_single_node
from pyhv.core.vmstate import vm_state
from pyhv.vdev.vptimer import vptimer_handles, vptimer_read, vptimer_rebase, vptimer_reset, vptimer_write

from .conftest import Node
from .test_el2 import _iss_of

OFF = 1_000_000                 # CNTVOFF: the guest counter runs 1e6 ticks behind the physical one
EC_SYS, IL = 0x18, 1 << 25
PC = 0xFFFF_8000_1000_0000


def _guest_clock(node: Node, phys: int, cntvoff: int = OFF) -> None:
    assert clock_set_cntvoff(u64(cntvoff))
    clock_cpu_enter()
    node.cpu.sysregs["cntpct_el0"] = phys
    vptimer_reset()


def test_the_keys_are_the_architectural_encodings() -> None:
    for insn, key in (("mrs x1, cntpct_el0", SYSREG_KEY_CNTPCT), ("mrs x1, cntp_tval_el0", SYSREG_KEY_CNTP_TVAL),
                      ("mrs x1, cntp_ctl_el0", SYSREG_KEY_CNTP_CTL), ("mrs x1, cntp_cval_el0", SYSREG_KEY_CNTP_CVAL)):
        a = SysregAccess()
        sysreg_trap_decode(u32(_iss_of(insn)), a)
        assert int(a.key) == int(key) and vptimer_handles(a.key), insn
    assert not vptimer_handles(u32(0x33_0E03))                  # CNTV_CTL... not ours: S3_3_C14_C0_3


def test_the_physical_counter_reads_the_guest_counter(node: Node) -> None:
    _guest_clock(node, OFF + 12345)
    assert int(vptimer_read(SYSREG_KEY_CNTPCT)) == 12345


def test_cval_is_guest_time_and_the_hardware_compare_is_offset(node: Node) -> None:
    _guest_clock(node, OFF + 100)
    vptimer_write(SYSREG_KEY_CNTP_CVAL, u64(500))
    vptimer_write(SYSREG_KEY_CNTP_CTL, u64(1))
    assert int(vptimer_read(SYSREG_KEY_CNTP_CVAL)) == 500
    assert node.cpu.sysregs["cntp_cval_el0"] == OFF + 500 and node.cpu.sysregs["cntp_ctl_el0"] == 1
    assert int(vptimer_read(SYSREG_KEY_CNTP_CTL)) == 1           # ISTATUS clear: 100 < 500
    node.cpu.sysregs["cntpct_el0"] = OFF + 500
    assert int(vptimer_read(SYSREG_KEY_CNTP_CTL)) == 1 | 4       # condition met at CVAL exactly


def test_tval_is_a_signed_32_bit_down_counter(node: Node) -> None:
    _guest_clock(node, OFF + 10_000)
    vptimer_write(SYSREG_KEY_CNTP_TVAL, u64(0xFFFF_FF00))        # -256: a deadline in the past
    assert int(vptimer_read(SYSREG_KEY_CNTP_CVAL)) == 10_000 - 256
    assert int(vptimer_read(SYSREG_KEY_CNTP_TVAL)) == 0xFFFF_FF00
    vptimer_write(SYSREG_KEY_CNTP_TVAL, u64(0x1_0000_0040))      # only bits [31:0] count: +64
    assert int(vptimer_read(SYSREG_KEY_CNTP_CVAL)) == 10_064
    node.cpu.sysregs["cntpct_el0"] = OFF + 10_000 + 100
    assert int(vptimer_read(SYSREG_KEY_CNTP_TVAL)) == (64 - 100) & 0xFFFF_FFFF


def test_ctl_keeps_only_enable_and_imask(node: Node) -> None:
    _guest_clock(node, OFF)
    vptimer_write(SYSREG_KEY_CNTP_CTL, u64(0xFF))
    assert int(vptimer_read(SYSREG_KEY_CNTP_CTL)) == 3 | 4       # CVAL 0 <= counter: ISTATUS (read-only)
    assert node.cpu.sysregs["cntp_ctl_el0"] == 3


def test_a_far_future_deadline_never_wraps_into_the_physical_past(node: Node) -> None:
    _guest_clock(node, OFF)
    vptimer_write(SYSREG_KEY_CNTP_CVAL, u64((1 << 64) - 1))
    assert node.cpu.sysregs["cntp_cval_el0"] == (1 << 64) - 1


def test_a_cntvoff_step_rebases_the_hardware_compare_value(node: Node) -> None:
    _guest_clock(node, OFF + 100)
    vptimer_write(SYSREG_KEY_CNTP_CVAL, u64(500))
    assert clock_set_cntvoff(u64(OFF - 50))                      # the guest counter steps 50 ticks forward
    from pyhv.core.clock import clock_reload
    assert clock_reload()
    vptimer_rebase()
    assert node.cpu.sysregs["cntp_cval_el0"] == OFF - 50 + 500
    assert int(vptimer_read(SYSREG_KEY_CNTPCT)) == 150


# --- through the trap path ----------------------------------------------------------------------------------

def _vm(node: Node) -> None:
    vmconfig_single_node(vm_state().cfg, u32(1), u32(1), u64(256 << 20), u32(3))
    vm_state().ram_host_base = u64(0x4100_0000)
    assert vm_setup_devices() == VM_OK


def _trap(insn: str, x: dict[int, int] | None = None) -> TrapFrame:
    f = TrapFrame()
    f.esr, f.elr, f.spsr = u64(EC_SYS << 26 | IL | _iss_of(insn)), u64(PC), u64(0x3C5)
    for r, v in (x or {}).items():
        f.x[r] = u64(v)
    vcpu_trap_sync(f)
    assert int(f.elr) == PC + 4
    return f


def test_a_guest_mrs_of_cntpct_gets_the_guest_counter_and_steps_over_the_mrs(node: Node) -> None:
    _vm(node)
    _guest_clock(node, OFF + 777)
    f = _trap("mrs x5, cntpct_el0")
    assert int(f.x[5]) == 777
    assert b"RAZ/WI" not in node.console


def test_a_guest_programs_the_physical_timer_with_msr(node: Node) -> None:
    _vm(node)
    _guest_clock(node, OFF + 1000)
    _trap("msr cntp_tval_el0, x2", {2: 300})
    _trap("msr cntp_ctl_el0, x3", {3: 1})
    assert node.cpu.sysregs["cntp_cval_el0"] == OFF + 1300
    f = _trap("mrs x4, cntp_cval_el0")
    assert int(f.x[4]) == 1300
    f = _trap("mrs x6, cntp_ctl_el0")
    assert int(f.x[6]) == 1
