/* Runtime probe: a minimal C stand-in for the dialect entry points, used only by tests/boot/test_runtime_probe.py
 * to test runtime/asm (entry, MMU, per-CPU setup, vectors, selftest, string) independently of the dialect
 * compiler. Prints "probe: ..." lines on the board UART, starts the secondaries with the board's method, powers
 * off. The test writes asm_offsets.h (matching struct TrapFrame below) and may define PROBE_CORRUPT to make
 * the sync handler damage saved x5, which pyhv_trap_selftest must report as mask bit 5. */
#include <stdint.h>
#include "board.h"
#include "asm_offsets.h"
#ifndef PROBE_CORRUPT
#define PROBE_CORRUPT 0
#endif
struct pyhv_percpu { uint64_t idx; uint64_t pad[7]; };
_Static_assert(sizeof(struct pyhv_percpu) == PERCPU_SIZE, "percpu");
struct pyhv_percpu pyhv_percpu[BOARD_MAX_CPUS];
struct TrapFrame { uint64_t x[31]; uint64_t sp, elr, spsr, esr, far; };
_Static_assert(sizeof(struct TrapFrame) == TRAPFRAME_SIZE, "frame");
extern uint64_t pyhv_trap_selftest(void);
extern char pyhv_secondary_entry[], pyhv_spin_entry[];
static volatile uint32_t lock;
static volatile uint64_t up_count;
static uint64_t bss_probe[4];
void hv_main(uint64_t dtb);
void hv_secondary_main(uint64_t cpu);
void arch_trap_sync(struct TrapFrame *f);
void arch_trap_irq(struct TrapFrame *f);
void arch_trap_unexpected(struct TrapFrame *f, uint64_t kind);
static void putc_(char c) {
    volatile uint32_t *u = (volatile uint32_t *)BOARD_UART_BASE;
    while (u[0x18/4] & (1u << 5)) {}
    u[0] = (uint32_t)c;
}
static void puts_(const char *s) { while (*s) putc_(*s++); }
static void puthex(uint64_t v) { puts_("0x"); for (int i = 60; i >= 0; i -= 4) putc_("0123456789abcdef"[(v >> i) & 15]); }
static void take(void) { uint32_t t; do { __asm__ volatile("ldaxr %w0, [%1]" : "=r"(t) : "r"(&lock) : "memory"); if (t) continue; __asm__ volatile("stxr %w0, %w2, [%1]" : "=&r"(t) : "r"(&lock), "r"(1u) : "memory"); } while (t); }
static void give(void) { __asm__ volatile("stlr wzr, [%0]" :: "r"(&lock) : "memory"); }
__attribute__((unused)) static uint64_t smc(uint64_t a, uint64_t b, uint64_t c, uint64_t d) {
    register uint64_t x0 __asm__("x0") = a; register uint64_t x1 __asm__("x1") = b;
    register uint64_t x2 __asm__("x2") = c; register uint64_t x3 __asm__("x3") = d;
    __asm__ volatile("smc #0" : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3) :: "memory"); return x0; }
static uint64_t tpidr(void) { uint64_t v; __asm__ volatile("mrs %0, tpidr_el2" : "=r"(v)); return v; }
static uint64_t sctlr(void) { uint64_t v; __asm__ volatile("mrs %0, sctlr_el2" : "=r"(v)); return v; }
static uint64_t spv(void) { uint64_t v; __asm__ volatile("mov %0, sp" : "=r"(v)); return v; }
void hv_main(uint64_t dtb) {
    puts_("probe: hv_main dtb="); puthex(dtb); puts_(" sctlr="); puthex(sctlr());
    puts_(" tpidr_ok="); putc_(tpidr() == (uint64_t)&pyhv_percpu[0] ? '1' : '0');
    puts_(" bss_zero="); putc_(bss_probe[0] == 0 && up_count == 0 ? '1' : '0'); puts_(" sp="); puthex(spv()); puts_("\n");
    uint64_t r = pyhv_trap_selftest();
    puts_("probe: selftest mask="); puthex(r); puts_("\n");
    char a[40], b[40]; for (int i = 0; i < 40; i++) a[i] = (char)i;
    __builtin_memcpy(b, a, 40); __builtin_memmove(a + 1, a, 39);
    puts_("probe: string "); putc_(__builtin_memcmp(b, a + 1, 39) == 0 && a[0] == 0 ? '1' : '0'); puts_("\n");
    uint64_t n = 1;
#ifdef BOARD_BOOT_METHOD_PSCI
    for (uint64_t i = 1; i < BOARD_MAX_CPUS; i++) if (smc(0xC4000003, i, (uint64_t)pyhv_secondary_entry, i) == 0) n++;
#else
    for (uint64_t i = 1; i < 4; i++) { uint64_t rel = 0xd8 + 8 * i;
        __asm__ volatile("str %0, [%1]" :: "r"((uint64_t)pyhv_spin_entry), "r"(rel) : "memory"); __asm__ volatile("dc civac, %0; dsb sy; sev" :: "r"(rel) : "memory"); n++; }
#endif
    while (up_count + 1 < n) { __asm__ volatile("" ::: "memory"); }
    take(); puts_("probe: all cpus up "); puthex(n); puts_("\n"); give();
#ifdef BOARD_BOOT_METHOD_PSCI
    smc(0x84000008, 0, 0, 0);
#else
    volatile uint32_t *pm = (volatile uint32_t *)0xfe100000;
    pm[0x20/4] = 0x5a000000 | 0x555; pm[0x24/4] = 0x5a000000 | 10; pm[0x1c/4] = 0x5a000020;
#endif
    for (;;) {}
}
void hv_secondary_main(uint64_t cpu) {
    take(); puts_("probe: secondary "); puthex(cpu); puts_(" tpidr_ok=");
    putc_(tpidr() == (uint64_t)&pyhv_percpu[cpu] ? '1' : '0'); puts_(" sp="); puthex(spv());
    uint64_t r = pyhv_trap_selftest(); puts_(" selftest="); puthex(r); puts_("\n"); give();
    __atomic_fetch_add(&up_count, 1, __ATOMIC_SEQ_CST);
    for (;;) __asm__ volatile("wfe");
}
void arch_trap_sync(struct TrapFrame *f) {
    if ((f->esr >> 26) == 0x3c && (f->esr & 0xffff) == 0x42) { f->x[5] ^= PROBE_CORRUPT; f->elr += 4; return; }
    puts_("probe: unexpected sync esr="); puthex(f->esr); puts_(" elr="); puthex(f->elr); puts_("\n"); for (;;) {}
}
void arch_trap_irq(struct TrapFrame *f) { (void)f; puts_("probe: irq\n"); }
void arch_trap_unexpected(struct TrapFrame *f, uint64_t kind) { puts_("probe: unexpected kind="); puthex(kind); puthex(f->esr); for (;;) {} }
