# The one VM of this node: its VmConfig and the IPA -> host-PA offset of its RAM, in static storage, so the
# set-up (vm.py), the vCPU trap paths (vcpu.py) and the guest console glue share them without importing
# each other. Written by the boot CPU before any vCPU runs; read-only afterwards.

from typing import Annotated, Final

from pyhv.lang import Array, PerCpu, Static, Struct, u32, u64

from pyhv.core.vmconfig import VmConfig


class VmState(Struct):
    cfg: VmConfig
    active: bool            # a guest is (about to be) running: traps from EL1 belong to it
    ram_host_base: u64      # host PA of guest IPA cfg.mem[0].ipa_base (a cluster node: of its home region)
    guest_uart_base: u64    # host PL011 the guest console's bytes go to (0: none)
    nr_vcpus: u32
    vcpu_base: u32          # global id of the vCPU this node's CPU 0 runs (0 on one node)
    trap_wfe: bool          # a VM across nodes: guest WFE traps and sleeps (docs/wfi-policy.md)


VM_STAT_CPUS: Final = u32(8)            # = hostinfo MAX_CPUS: CPUs per node with their own counters


class VmCounters(Struct):
    # Slot i is written only by CPU i (no lock); read when the node powers off.
    exits: Annotated[Array[u64], 8]     # guest exits taken on CPU i
    entered: Annotated[Array[u64], 8]   # 1 once CPU i entered the guest


class VmCpu(Struct):
    index: u32              # this physical CPU's index on the node (0 = the boot CPU)


_vm: Final = Static(VmState)
_cpu: Final = PerCpu(VmCpu)
_counters: Final = Static(VmCounters)


def vm_counters() -> VmCounters:
    return _counters.get()


def vm_cpu_set_index(cpu: u32) -> None:
    # Each secondary CPU at its entry into the VM (the boot CPU keeps 0).
    _cpu.get().index = cpu


def vm_cpu_index() -> u32:
    return _cpu.get().index


def vm_state() -> VmState:
    return _vm.get()


def vm_config() -> VmConfig:
    return _vm.get().cfg


def vm_is_active() -> bool:
    return _vm.get().active


def vm_ipa_to_host(ipa: u64) -> u64:
    # Guest RAM is one contiguous block: IPA cfg.mem[0].ipa_base maps to ram_host_base.
    st = _vm.get()
    return ipa - st.cfg.mem[0].ipa_base + st.ram_host_base
