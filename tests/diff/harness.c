/* Runtime hooks the host-mode generated C needs, for the differential tests (tests/diff/harness.py).
 *
 * A panic in the generated C (division by zero, index out of range, failed assert, panic()) calls the
 * compiler's panic hook; here it records file:line and message, then longjmps back to the setjmp in the
 * per-function wrapper (diff_wrappers.c), which reports "panicked" to the caller. A panic outside a wrapper
 * is a harness bug: abort. */
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

jmp_buf diff_jmp;
volatile int diff_active;
char diff_last_panic[256];

/* The last panic's "file:line: message", for diagnostics from Python. */
const char *diff_panic_text(void) { return diff_last_panic; }

static _Noreturn void diff_panicked(const unsigned char *file, unsigned line, const unsigned char *msg) {
    snprintf(diff_last_panic, sizeof diff_last_panic, "%s:%u: %s", file ? (const char *)file : "?", line,
             msg ? (const char *)msg : "");
    if (!diff_active) {
        fprintf(stderr, "diff harness: panic outside a wrapper: %s\n", diff_last_panic);
        abort();
    }
    diff_active = 0;
    longjmp(diff_jmp, 1);
}

/* The compiler's panic hook (pyhv_rt.h: pyhv/core/panic.py in the image). */
void panic_at(const unsigned char *file, uint32_t line, const unsigned char *msg) {
    diff_panicked(file, line, msg);
}

/* kprint() lowering targets (pyhv_rt.h): the corpus does not print; these keep the link complete. */
void printk_begin(void) {}
void printk_end(void) {}
void printk_str(const unsigned char *s) { fputs((const char *)s, stderr); }
void printk_char(uint8_t c) { fputc(c, stderr); }
void printk_udec(uint64_t v) { fprintf(stderr, "%llu", (unsigned long long)v); }
void printk_sdec(int64_t v) { fprintf(stderr, "%lld", (long long)v); }
void printk_hex(uint64_t v, uint32_t width) { fprintf(stderr, "%0*llx", (int)width, (unsigned long long)v); }
