/* pyhv_trap_selftest() -> u64: proves the exception frame round-trips every general register.
 * Loads a distinct pattern into x1-x28, executes `brk #0x42` (the synchronous trap handler must recognise
 * ESR_EL2.EC = 0x3c, ISS = 0x42 and step ELR_EL2 past the brk), then returns a bitmask with bit n set when xn
 * no longer holds its pattern (0 = the frame survived). x29/x30 and the callee-saved registers of the caller
 * are preserved (AAPCS64). */

/* pattern of register n: distinct in every byte so a swapped pair of registers is caught too */
#define PATTERN(n)      (0x5a00000000000000 | ((n) << 48) | ((n) << 32) | ((n) << 16) | (n))

    .text
    .globl pyhv_trap_selftest
pyhv_trap_selftest:
    stp     x29, x30, [sp, #-96]!
    mov     x29, sp
    stp     x19, x20, [sp, #16]
    stp     x21, x22, [sp, #32]
    stp     x23, x24, [sp, #48]
    stp     x25, x26, [sp, #64]
    stp     x27, x28, [sp, #80]

    .irp    n, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28
    ldr     x\n, =PATTERN(\n)
    .endr

    brk     #0x42

    mov     x0, #0
    .irp    n, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28
    ldr     x30, =PATTERN(\n)
    cmp     x\n, x30
    cset    x30, ne
    orr     x0, x0, x30, lsl #\n
    .endr

    ldp     x19, x20, [sp, #16]
    ldp     x21, x22, [sp, #32]
    ldp     x23, x24, [sp, #48]
    ldp     x25, x26, [sp, #64]
    ldp     x27, x28, [sp, #80]
    ldp     x29, x30, [sp], #96
    ret

    .ltorg
