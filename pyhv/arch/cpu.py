# Per-CPU EL2 setup done once by every CPU before it enables anything else (ARM DDI 0487, D13.2.47
# "HCR_EL2"). Physical IRQs/FIQs/SErrors are taken to EL2 only when HCR_EL2.IMO/FMO/AMO are set: with
# them clear, an interrupt "belongs" to EL1 and stays masked while we run at EL2, so irq_wait() would
# wake from WFI but never enter arch_trap_irq.

from typing import Final

from pyhv.lang import isb, sysreg_read, sysreg_write, u64

HCR_FMO: Final = u64(1 << 3)            # route physical FIQ to EL2
HCR_IMO: Final = u64(1 << 4)            # route physical IRQ to EL2
HCR_AMO: Final = u64(1 << 5)            # route SError to EL2
HCR_RW: Final = u64(1 << 31)            # EL1 is AArch64 (for the guest to come)


def arch_cpu_init() -> None:
    sysreg_write("hcr_el2", sysreg_read("hcr_el2") | HCR_RW | HCR_AMO | HCR_IMO | HCR_FMO)
    isb()


def arch_cpu_mpidr() -> u64:
    # Affinity fields of this CPU's MPIDR_EL1 (Aff3 [39:32], Aff2-Aff0 [23:0]).
    return sysreg_read("mpidr_el1") & 0xFF00FFFFFF
