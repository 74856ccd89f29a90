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
#define FX(n)           (TRAPFRAME_X + 8 * (n))

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
    ldr     x2, [sp, #TRAPFRAME_ELR]
    ldr     x3, [sp, #TRAPFRAME_SPSR]
    msr     elr_el2, x2
    msr     spsr_el2, x3
    ldp     x0, x1, [sp, #FX(0)]
    ldp     x2, x3, [sp, #FX(2)]
    ldp     x4, x5, [sp, #FX(4)]
    ldp     x6, x7, [sp, #FX(6)]
    ldp     x8, x9, [sp, #FX(8)]
    ldp     x10, x11, [sp, #FX(10)]
    ldp     x12, x13, [sp, #FX(12)]
    ldp     x14, x15, [sp, #FX(14)]
    ldp     x16, x17, [sp, #FX(16)]
    ldp     x18, x19, [sp, #FX(18)]
    ldp     x20, x21, [sp, #FX(20)]
    ldp     x22, x23, [sp, #FX(22)]
    ldp     x24, x25, [sp, #FX(24)]
    ldp     x26, x27, [sp, #FX(26)]
    ldp     x28, x29, [sp, #FX(28)]
    ldr     x30, [sp, #FX(30)]
    add     sp, sp, #FRAME_ALLOC
    eret
