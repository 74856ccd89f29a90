/* Image entry: arm64 Image header, EL2 check, MMU on, BSS, per-CPU stack and TPIDR_EL2, then the dialect's
 * hv_main(dtb) / hv_secondary_main(index). Contract: docs/runtime.md. Header format: Linux
 * Documentation/arch/arm64/booting.rst ("Call the kernel image"). Registers kept across the boot path:
 *   x19 = CPU index, x20 = DTB address (boot CPU), x21 = return address of the shared helpers.
 * Everything here runs with the MMU off until pyhv_mmu_on returns; no C and no lock runs before that. */

#include "board.h"
#include "asm_offsets.h"

/* MAIR_EL2: attr0 = device-nGnRE (0x04), attr1 = normal inner/outer write-back RW-allocate (0xff) */
#define MAIR_VALUE      0xff04
/* TCR_EL2 (non-VHE): RES1 bits 31 and 23, SH0 inner-shareable (3 << 12), ORGN0/IRGN0 WBWA (1 << 10, 1 << 8),
 * TG0 4 KiB (0), T0SZ 25 = 39-bit VA; PS (bits 18:16) is filled from ID_AA64MMFR0_EL1.PARange at run time */
#define TCR_VALUE       ((1 << 31) | (1 << 23) | (3 << 12) | (1 << 10) | (1 << 8) | 25)
/* SCTLR_EL2: RES1 bits (0x30c50830) | I (bit 12) | SA (bit 3) | C (bit 2) | M (bit 0) */
#define SCTLR_VALUE     (0x30c50830 | (1 << 12) | (1 << 3) | (1 << 2) | (1 << 0))
/* Image header flags: bit 0 = 0 little-endian, bits 2:1 = 1 4 KiB pages, bit 3 = 0: the image is linked at
 * a fixed address (load_addr = DRAM base + 2 MiB), so it wants the 2 MiB-aligned base nearest DRAM start */
#define IMAGE_FLAGS     (1 << 1)
#define PL011_DR        0x00
#define PL011_FR        0x18
#define PL011_FR_TXFF   (1 << 5)

    .section .text.head, "ax"
    .globl pyhv_image_header
pyhv_image_header:
    b       pyhv_primary_entry          /* code0 */
    .long   0                           /* code1 */
    .quad   0                           /* text_offset */
    .quad   __pyhv_image_size           /* image_size: from the linker script, includes BSS and stacks */
    .quad   IMAGE_FLAGS                 /* flags */
    .quad   0, 0, 0                     /* res2..res4 */
    .ascii  "ARM\x64"                   /* magic */
    .long   0                           /* res5 */

pyhv_primary_entry:
    mov     x20, x0                     /* DTB address from the loader */
    mrs     x1, CurrentEL
    cmp     x1, #(2 << 2)
    adrp    x0, msg_not_el2
    add     x0, x0, :lo12:msg_not_el2
    b.ne    pyhv_early_panic
    adr     x1, pyhv_image_header       /* where we run ... */
    ldr     x2, =pyhv_image_header      /* ... and where we are linked */
    cmp     x1, x2
    adrp    x0, msg_wrong_addr
    add     x0, x0, :lo12:msg_wrong_addr
    b.ne    pyhv_early_panic
    mov     x19, #0                     /* the boot CPU is index 0 */
    bl      pyhv_mmu_on
    ldr     x1, =__bss_start
    ldr     x2, =__bss_end
1:  cmp     x1, x2
    b.hs    2f
    stp     xzr, xzr, [x1], #16
    b       1b
2:  bl      pyhv_cpu_setup
    mov     x0, x20
    bl      hv_main
    b       pyhv_park

/* PSCI CPU_ON entry: x0 = context id = CPU index. */
    .text
    .globl pyhv_secondary_entry
pyhv_secondary_entry:
    mov     x19, x0
    mrs     x1, CurrentEL
    cmp     x1, #(2 << 2)
    b.ne    pyhv_park                   /* no console to share safely yet: a wrong-EL secondary just parks */
    cmp     x19, #BOARD_MAX_CPUS
    b.hs    pyhv_park                   /* no stack or per-CPU block for it */
    bl      pyhv_mmu_on
    bl      pyhv_cpu_setup
    mov     x0, x19
    bl      hv_secondary_main
    b       pyhv_park

/* Spin-table entry (cpu-release-addr): the index is MPIDR_EL1.Aff0. */
    .globl pyhv_spin_entry
pyhv_spin_entry:
    mrs     x0, mpidr_el1
    and     x0, x0, #0xff
    b       pyhv_secondary_entry

/* EL2 stage-1 MMU on with caches: identity map from the generated pyhv_mmu_l1 (mmu_tables.S). */
pyhv_mmu_on:
    ldr     x1, =MAIR_VALUE
    msr     mair_el2, x1
    ldr     x1, =TCR_VALUE
    mrs     x2, id_aa64mmfr0_el1
    and     x2, x2, #0x7                /* PARange */
    cmp     x2, #5
    mov     x3, #5
    csel    x2, x2, x3, ls              /* 0..5 are valid PS encodings for a 4 KiB granule */
    bfi     x1, x2, #16, #3
    msr     tcr_el2, x1
    adrp    x1, pyhv_mmu_l1
    add     x1, x1, :lo12:pyhv_mmu_l1
    msr     ttbr0_el2, x1
    isb
    tlbi    alle2
    dsb     ish
    isb
    ldr     x1, =SCTLR_VALUE
    msr     sctlr_el2, x1
    isb
    ret

/* Per-CPU state for index x19: SP_EL2, TPIDR_EL2, VBAR_EL2, DAIF masked, clean frame chain. */
pyhv_cpu_setup:
    msr     spsel, #1
    ldr     x1, =pyhv_stacks
    ldr     x2, =BOARD_STACK_SIZE
    add     x3, x19, #1
    madd    x1, x3, x2, x1
    mov     sp, x1
    ldr     x1, =pyhv_percpu
    ldr     x2, =PERCPU_SIZE
    madd    x1, x19, x2, x1
    msr     tpidr_el2, x1
    ldr     x1, =pyhv_vectors
    msr     vbar_el2, x1
    msr     daifset, #0xf
    isb
    mov     x29, #0
    ret

/* A CPU with nothing left to do. */
    .globl pyhv_park
pyhv_park:
    msr     daifset, #0xf
1:  wfe
    b       1b

/* Fatal boot error before any C: print the NUL-terminated string at x0 on the board UART, then park.
 * The MMU is off, so the UART is accessed at its physical address. */
pyhv_early_panic:
    ldr     x1, =BOARD_UART_BASE
1:  ldrb    w2, [x0], #1
    cbz     w2, pyhv_park
2:  ldr     w3, [x1, #PL011_FR]
    tbnz    w3, #5, 2b                  /* PL011_FR_TXFF */
    str     w2, [x1, #PL011_DR]
    b       1b

    .section .rodata
msg_not_el2:
    .asciz  "pyhv: fatal: not entered at EL2 (the loader must start the image at EL2)\r\n"
msg_wrong_addr:
    .asciz  "pyhv: fatal: image loaded at the wrong address (check the board's load_addr)\r\n"

/* Per-CPU EL2 stacks, top of CPU i = pyhv_stacks + (i + 1) * BOARD_STACK_SIZE. Not cleared at boot. */
    .section .stacks, "aw", %nobits
    .balign 16
    .globl pyhv_stacks
pyhv_stacks:
    .space  BOARD_MAX_CPUS * BOARD_STACK_SIZE
