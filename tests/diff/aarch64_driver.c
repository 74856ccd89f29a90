/* AArch64 user-mode driver for the differential tests (run under qemu-aarch64 by test_aarch64.py).
 *
 * Reads lines `function-name a0 a1 ...` on stdin (arguments are the 64-bit two's-complement bit patterns of
 * the values, in decimal) and prints one line per input: `ok <result as u64 bit pattern>`, `panic`, or
 * `unknown`. diff_dispatch() comes from the generated diff_wrappers.c of the module under test. */
#define _POSIX_C_SOURCE 200809L /* strtok_r */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int diff_dispatch(const char *name, const uint64_t *a, uint64_t *out);

int main(void) {
    char line[512];
    while (fgets(line, sizeof line, stdin) != NULL) {
        uint64_t args[8] = {0};
        unsigned n = 0;
        char *save = NULL;
        char *name = strtok_r(line, " \t\r\n", &save);
        if (name == NULL) {
            continue;
        }
        for (char *tok = strtok_r(NULL, " \t\r\n", &save); tok != NULL && n < 8;
             tok = strtok_r(NULL, " \t\r\n", &save)) {
            args[n++] = strtoull(tok, NULL, 10);
        }
        uint64_t out = 0;
        int rc = diff_dispatch(name, args, &out);
        if (rc == 0) {
            printf("ok %llu\n", (unsigned long long)out);
        } else if (rc == 1) {
            printf("panic\n");
        } else {
            printf("unknown\n");
        }
    }
    return 0;
}
