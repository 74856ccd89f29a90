# The exception frame the EL2 vectors (runtime/asm) save before calling arch_trap_*: the layout is the
# contract of docs/runtime.md, exported to the assembly as TRAPFRAME_* offsets in asm_offsets.h.
# Handlers may change x[], elr and spsr: the vectors restore those from the frame before `eret`.

from typing import Annotated

from pyhv.lang import Array, Struct, u64


class TrapFrame(Struct):
    x: Annotated[Array[u64], 31]    # x0 - x30
    sp: u64                         # SP of the interrupted context (before the frame was pushed)
    elr: u64                        # ELR_EL2: where to return
    spsr: u64                       # SPSR_EL2
    esr: u64                        # ESR_EL2 (syndrome)
    far: u64                        # FAR_EL2 (faulting address, for aborts)
