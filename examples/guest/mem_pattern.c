/* Guest test program: fills a buffer of the given size with an address-dependent pattern, then checks every
 * word. Prints the size and the number of bad words; exit status 0 iff none.
 * Usage: mem_pattern [MiB] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 0) : 16;
    size_t words = mib * 1024 * 1024 / sizeof(uint64_t);
    uint64_t *buf = malloc(words * sizeof(uint64_t));
    if (buf == NULL) {
        printf("mem-pattern: size=%zuMiB alloc FAIL\n", mib);
        return 2;
    }
    for (size_t i = 0; i < words; i++)
        buf[i] = (uint64_t)(uintptr_t)&buf[i] * 0x9E3779B97F4A7C15ull ^ i;
    size_t bad = 0;
    for (size_t i = 0; i < words; i++)
        if (buf[i] != ((uint64_t)(uintptr_t)&buf[i] * 0x9E3779B97F4A7C15ull ^ i))
            bad++;
    printf("mem-pattern: size=%zuMiB bad=%zu %s\n", mib, bad, bad == 0 ? "ok" : "FAIL");
    return bad == 0 ? 0 : 1;
}
