/* EL2 exception vectors (VBAR_EL2 = pyhv_vectors): 16 entries of 0x80 bytes, 2 KiB aligned (ARM ARM D1.10.2).
 * Each entry pushes a TrapFrame (layout from the generated asm_offsets.h, never typed here) on the current
 * stack and calls the dialect handler with x0 = frame:
 *   entries 4, 8, 12 (synchronous, from EL2h / lower EL AArch64 / lower EL AArch32) -> arch_trap_sync(frame)
 *   entries 5, 9, 13 (IRQ)                                                         -> arch_trap_irq(frame)
 *   every other entry (EL2t vectors, FIQ, SError)            -> arch_trap_unexpected(frame, kind = index)
 * On return x0-x30, ELR_EL2 and SPSR_EL2 are reloaded from the frame (a handler may change them) and we eret.
 * The saved SP is the interrupted one: for EL2 traps the value before the frame was pushed; for traps from a
 * lower EL, SP_EL1 when SPSR.M says EL1h, else SP_EL0. */

#include "asm_offsets.h"

#define FRAME_ALLOC     ((TRAPFRAME_SIZE + 15) & ~15)
#define FX(n)           (TRAPFRAME_X + 8 * (n))

#if FRAME_ALLOC > 4095
#error "TrapFrame too large for the immediate forms used in vectors.S"
#endif

/* One vector entry: make room, free x0/x1 for the common path, record the vector index. */
.macro vector_entry index
    .balign 0x80
    sub     sp, sp, #FRAME_ALLOC
    stp     x0, x1, [sp, #FX(0)]
    mov     x1, #\index
    b       pyhv_trap_common
.endm

    .text
    .balign 2048
    .globl pyhv_vectors
pyhv_vectors:
    .irp    i, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
    vector_entry \i
    .endr

/* x1 = vector index, x0/x1 of the interrupted context already saved. */
pyhv_trap_common:
    stp     x2, x3, [sp, #FX(2)]
    stp     x4, x5, [sp, #FX(4)]
    stp     x6, x7, [sp, #FX(6)]
    stp     x8, x9, [sp, #FX(8)]
    stp     x10, x11, [sp, #FX(10)]
    stp     x12, x13, [sp, #FX(12)]
    stp     x14, x15, [sp, #FX(14)]
    stp     x16, x17, [sp, #FX(16)]
    stp     x18, x19, [sp, #FX(18)]
    stp     x20, x21, [sp, #FX(20)]
    stp     x22, x23, [sp, #FX(22)]
    stp     x24, x25, [sp, #FX(24)]
    stp     x26, x27, [sp, #FX(26)]
    stp     x28, x29, [sp, #FX(28)]
    str     x30, [sp, #FX(30)]

    mrs     x2, elr_el2
    mrs     x3, spsr_el2
    mrs     x4, esr_el2
    mrs     x5, far_el2
    str     x2, [sp, #TRAPFRAME_ELR]
    str     x3, [sp, #TRAPFRAME_SPSR]
    str     x4, [sp, #TRAPFRAME_ESR]
    str     x5, [sp, #TRAPFRAME_FAR]

    /* interrupted SP */
    cmp     x1, #8
    b.hs    1f
    add     x6, sp, #FRAME_ALLOC        /* EL2: SP before this frame */
    b       2f
1:  and     x7, x3, #0xf                /* SPSR.M[3:0] of the lower EL */
    mrs     x6, sp_el0
    mrs     x8, sp_el1
    cmp     x7, #0x5                    /* EL1h */
    csel    x6, x8, x6, eq
2:  str     x6, [sp, #TRAPFRAME_SP]

    mov     x0, sp
    and     x2, x1, #3                  /* 0 = sync, 1 = IRQ, 2 = FIQ, 3 = SError */
    cmp     x1, #4
    b.lo    4f                          /* EL2t vectors: we always run on SP_EL2 (EL2h) */
    cmp     x2, #0
    b.eq    3f
    cmp     x2, #1
    b.ne    4f
    bl      arch_trap_irq
    b       pyhv_trap_return
3:  bl      arch_trap_sync
    b       pyhv_trap_return
4:  bl      arch_trap_unexpected        /* x1 = kind = vector index */

    .globl pyhv_trap_return     /* also the first entry into a guest (guest.S) */
pyhv_trap_return:
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
