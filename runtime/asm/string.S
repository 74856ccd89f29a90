/* memcpy, memset, memmove, memcmp for the freestanding image: gcc may emit calls to them (struct copies,
 * zeroed locals). Simple byte loops with a 16-byte fast path when both pointers and the length allow it;
 * correctness first (AAPCS64: x0-x2 in, x0 out; no callee-saved register touched). EL2 normal memory is
 * cacheable, so unaligned byte accesses are fine; the wide path only runs on 16-byte aligned addresses. */

    .text
/* void *memcpy(void *dst, const void *src, size_t n): regions must not overlap */
    .globl memcpy
memcpy:
    mov     x3, x0
    orr     x4, x0, x1
    orr     x4, x4, x2
    tst     x4, #15
    b.ne    2f
1:  cbz     x2, 3f                      /* all 16-byte aligned: copy pairs */
    ldp     x4, x5, [x1], #16
    stp     x4, x5, [x3], #16
    sub     x2, x2, #16
    b       1b
2:  cbz     x2, 3f
    ldrb    w4, [x1], #1
    strb    w4, [x3], #1
    sub     x2, x2, #1
    b       2b
3:  ret

/* void *memset(void *dst, int c, size_t n) */
    .globl memset
memset:
    mov     x3, x0
    and     w1, w1, #0xff
2:  cbz     x2, 3f
    strb    w1, [x3], #1
    sub     x2, x2, #1
    b       2b
3:  ret

/* void *memmove(void *dst, const void *src, size_t n): overlap-safe */
    .globl memmove
memmove:
    cmp     x0, x1
    b.ls    memcpy_forward              /* dst <= src: a forward byte copy is safe */
    add     x3, x0, x2                  /* dst > src: copy backwards */
    add     x4, x1, x2
1:  cbz     x2, 2f
    ldrb    w5, [x4, #-1]!
    strb    w5, [x3, #-1]!
    sub     x2, x2, #1
    b       1b
2:  ret
memcpy_forward:
    mov     x3, x0
1:  cbz     x2, 2f
    ldrb    w4, [x1], #1
    strb    w4, [x3], #1
    sub     x2, x2, #1
    b       1b
2:  ret

/* int memcmp(const void *a, const void *b, size_t n): difference of the first differing bytes (unsigned) */
    .globl memcmp
memcmp:
1:  cbz     x2, 2f
    ldrb    w3, [x0], #1
    ldrb    w4, [x1], #1
    subs    w3, w3, w4
    b.ne    3f
    sub     x2, x2, #1
    b       1b
2:  mov     w0, #0
    ret
3:  mov     w0, w3
    ret
