/* Entering a guest vCPU for the first time (docs/runtime.md, "Entering the guest").
 *
 *   void pyhv_enter_guest(struct TrapFrame *frame)   -- does not return
 *
 * Copies *frame onto this CPU's EL2 stack, exactly where the vectors keep the frame of a trap, loads
 * SP_EL1 from frame->sp, then restores x0-x30, ELR_EL2 and SPSR_EL2 from it and `eret`s: the first guest
 * entry looks like the return from a trap. Every later exit from the guest pushes a fresh TrapFrame below
 * the caller's stack (vectors.S) and returns through the same sequence there, so the EL2 stack depth while
 * the guest runs is just the depth of the caller of pyhv_enter_guest. */

#include "asm_offsets.h"

#define FRAME_ALLOC     ((TRAPFRAME_SIZE + 15) & ~15)

    .text
    .globl pyhv_enter_guest
pyhv_enter_guest:
    msr     daifset, #0xf               /* no EL2 interrupt between here and the eret */
    sub     sp, sp, #FRAME_ALLOC
    mov     x1, sp
    mov     x2, #FRAME_ALLOC
1:  ldp     x3, x4, [x0], #16
    stp     x3, x4, [x1], #16
    subs    x2, x2, #16
    b.ne    1b
    ldr     x3, [sp, #TRAPFRAME_SP]
    msr     sp_el1, x3
    b       pyhv_trap_return            /* vectors.S: restore ELR/SPSR/x0-x30 from the frame, eret */
