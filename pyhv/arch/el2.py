# EL2 configuration of a CPU that runs a vCPU (ARM DDI 0487: D13.2.47 HCR_EL2, D13.2.x VPIDR_EL2 /
# VMPIDR_EL2, D12.9 CNTHCTL_EL2 / CNTVOFF_EL2, D13.2.31 CPTR_EL2).
# CNTHCTL_EL2 = 0: the guest's physical counter and EL1 physical timer trap (emulated in guest time by
# pyhv/vdev/vptimer.py); CNTVOFF_EL2 is the node's one value (pyhv/core/clock.py). One physical CPU runs one vCPU for the
# VM's lifetime (pinned 1:1), so the guest's EL1 registers simply live in the CPU: nothing is switched.
#
# HCR_EL2 for a guest — the traps we need and no more:
#   VM    stage-2 translation on (RAM mapped, device windows left unmapped so they fault into pyhv)
#   SWIO  set/way invalidation by the guest is upgraded to clean+invalidate (it cannot lose our data)
#   FMO/IMO/AMO  physical FIQ/IRQ/SError go to EL2; the guest gets virtual interrupts from the list registers
#                (and, on GICv3, ICC_SGI*R_EL1 writes trap: the vGIC routes SGIs)
#   TWI   WFI traps: pyhv decides how the CPU idles (docs/wfi-policy.md)
#   TWE   clear: WFE does NOT trap — spinlocks and the timer event stream wait in hardware, no trap storm
#   TSC   SMC traps: a guest's SMC is served by the vPSCI like HVC, never reaches the real firmware
#   RW    EL1 is AArch64
# MDCR_EL2 = HPMN only (no debug or PMU traps).
# Not set: TVM/TRVM (guest owns its MMU), TID*, TACR, TSW, TPU, TTLB, FB, BSU (the guest's own
# inner-shareable maintenance already reaches every CPU of this node).

from typing import Final

from pyhv.lang import isb, sysreg_read, sysreg_write, u64

HCR_VM: Final = u64(1 << 0)
HCR_SWIO: Final = u64(1 << 1)
HCR_FMO: Final = u64(1 << 3)
HCR_IMO: Final = u64(1 << 4)
HCR_AMO: Final = u64(1 << 5)
HCR_TWI: Final = u64(1 << 13)
HCR_TWE: Final = u64(1 << 14)
HCR_TSC: Final = u64(1 << 19)
HCR_RW: Final = u64(1 << 31)
HCR_GUEST: Final = HCR_VM | HCR_SWIO | HCR_FMO | HCR_IMO | HCR_AMO | HCR_TSC | HCR_RW

CNTHCTL_EL1PCTEN: Final = u64(1 << 0)     # EL1/EL0 may read the physical counter
CNTHCTL_EL1PCEN: Final = u64(1 << 1)      # EL1/EL0 may use the EL1 physical timer
CNTHCTL_GUEST: Final = u64(0)             # neither: both trap (pyhv/vdev/vptimer.py; no CNTPOFF in ARMv8.0)
CPTR_EL2_RES1: Final = u64(0x33FF)        # bits 13:12 and 9:0; TFP (10), TTA (20), TCPAC (31) clear: no traps
VMPIDR_RES1: Final = u64(1 << 31)
PMCR_N_SHIFT: Final = 11                  # PMCR_EL0.N[15:11]: event counters implemented
PMCR_N_MASK: Final = u64(0x1F)
SCTLR_EL1_RESET: Final = u64(0x30D00800)  # RES1 bits only: MMU, caches and alignment checks off (booting.rst)
SPSR_EL1H_MASKED: Final = u64(0x3C5)      # D, A, I, F masked, M = EL1h: how a guest kernel is entered
SPSR_M_MASK: Final = u64(0xF)
SPSR_M_EL1H: Final = u64(0x5)
SPSR_M_EL1T: Final = u64(0x4)
SPSR_M_EL0T: Final = u64(0x0)
SPSR_M_EL2H: Final = u64(0x9)


def el2_hcr_guest() -> u64:
    return HCR_GUEST


def el2_vm_cpu_setup(guest_mpidr: u64, cntvoff: u64, trap_wfe: bool) -> None:
    # Everything but stage 2 (stage2_install) for the vCPU with affinity `guest_mpidr` on this CPU.
    # trap_wfe: a VM across nodes traps WFE (docs/wfi-policy.md "A VM across nodes traps WFE").
    sysreg_write("vpidr_el2", sysreg_read("midr_el1"))
    sysreg_write("vmpidr_el2", VMPIDR_RES1 | guest_mpidr)
    sysreg_write("cnthctl_el2", CNTHCTL_GUEST)
    sysreg_write("cntvoff_el2", cntvoff)
    sysreg_write("cptr_el2", CPTR_EL2_RES1)
    sysreg_write("hstr_el2", u64(0))
    # MDCR_EL2: no debug/PMU traps (TDE/TDA/TDOSA/TDRA/TPM/TPMCR clear; its reset value is UNKNOWN), all
    # event counters to EL1 (HPMN = PMCR_EL0.N): BRK, breakpoints, watchpoints and steps stay at EL1.
    sysreg_write("mdcr_el2", (sysreg_read("pmcr_el0") >> PMCR_N_SHIFT) & PMCR_N_MASK)
    sysreg_write("sctlr_el1", SCTLR_EL1_RESET)
    sysreg_write("hcr_el2", HCR_GUEST | (HCR_TWE if trap_wfe else u64(0)))
    isb()


def el2_from_guest(spsr: u64) -> bool:
    # Was the exception taken from the guest (EL1 or EL0) rather than from pyhv itself (EL2)?
    m = spsr & SPSR_M_MASK
    return m != SPSR_M_EL2H and m != u64(0x8)
