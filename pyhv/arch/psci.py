# Host PSCI calls (ARM DEN 0022, "Arm Power State Coordination Interface", §5) and spin-table CPU release
# (Documentation/arch/arm64/booting.rst, "enable-method = spin-table"). The conduit (SMC or HVC) comes from
# the DTB's /psci `method`; at EL2 it is SMC on every board pyhv supports.

from typing import Final

from pyhv.lang import (
    Static, Struct, dc_op, dsb, hvc_call, i32, mem_write64, panic, sev, smc_call, symbol_addr, u32, u64,
)

from pyhv.core.fdt import fdt_prop_str_eq
from pyhv.core.power import PowerOps

PSCI_FN_VERSION: Final = u64(0x84000000)        # PSCI_VERSION (SMC32)
PSCI_FN_CPU_ON: Final = u64(0xC4000003)         # CPU_ON (SMC64): target MPIDR, entry, context id
PSCI_FN_SYSTEM_OFF: Final = u64(0x84000008)     # SYSTEM_OFF (SMC32)

PSCI_SUCCESS: Final = i32(0)
PSCI_ALREADY_ON: Final = i32(-4)

PSCI_CONDUIT_NONE: Final = u32(0)
PSCI_CONDUIT_SMC: Final = u32(1)
PSCI_CONDUIT_HVC: Final = u32(2)


class PsciState(Struct):
    conduit: u32            # PSCI_CONDUIT_*


_psci: Final = Static(PsciState)


def psci_probe(node: u32) -> bool:
    # Accept a /psci node whose `method` we can use.
    st = _psci.get()
    if fdt_prop_str_eq(node, "method", "smc"):
        st.conduit = PSCI_CONDUIT_SMC
    elif fdt_prop_str_eq(node, "method", "hvc"):
        st.conduit = PSCI_CONDUIT_HVC
    else:
        st.conduit = PSCI_CONDUIT_NONE
    return st.conduit != PSCI_CONDUIT_NONE


def psci_present() -> bool:
    return _psci.get().conduit != PSCI_CONDUIT_NONE


def psci_call(fid: u64, a1: u64, a2: u64, a3: u64) -> u64:
    conduit = _psci.get().conduit
    if conduit == PSCI_CONDUIT_SMC:
        return smc_call(fid, a1, a2, a3)
    if conduit == PSCI_CONDUIT_HVC:
        return hvc_call(fid, a1, a2, a3)
    panic("psci: no conduit (the DTB has no usable /psci node)")
    return u64(0)


def psci_cpu_on(mpidr: u64, cpu: u64) -> i32:
    # Start the CPU `mpidr` at pyhv_secondary_entry with x0 = cpu (our CPU index). PSCI status code.
    entry = symbol_addr("pyhv_secondary_entry")
    return i32(psci_call(PSCI_FN_CPU_ON, mpidr, entry, cpu))


def psci_system_off() -> None:
    psci_call(PSCI_FN_SYSTEM_OFF, u64(0), u64(0), u64(0))
    panic("psci: SYSTEM_OFF returned")


PSCI_POWER_OPS: Final = PowerOps(system_off=psci_system_off)


def spin_table_release(release_addr: u64) -> None:
    # A spin-table CPU polls `release_addr` with WFE: publish the entry point, push it past the caches
    # (the waiting CPU may still run with its MMU and caches off), and wake it.
    if release_addr == 0:
        panic("spin-table: CPU has no cpu-release-addr")
    mem_write64(release_addr, symbol_addr("pyhv_spin_entry"))
    dc_op("civac", release_addr)
    dsb("sy")
    sev()
