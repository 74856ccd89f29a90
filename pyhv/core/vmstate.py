# The one VM of this node: its VmConfig and the IPA -> host-PA offset of its RAM, in static storage, so the
# set-up (vm.py), the vCPU trap paths (vcpu.py) and the guest console glue share them without importing
# each other. Written by the boot CPU before any vCPU runs; read-only afterwards.

from typing import Final

from pyhv.lang import Static, Struct, u32, u64

from pyhv.core.vmconfig import VmConfig


class VmState(Struct):
    cfg: VmConfig
    active: bool            # a guest is (about to be) running: traps from EL1 belong to it
    ram_host_base: u64      # host PA of guest IPA cfg.mem[0].ipa_base
    guest_uart_base: u64    # host PL011 the guest console's bytes go to (0: none)
    nr_vcpus: u32


_vm: Final = Static(VmState)


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
