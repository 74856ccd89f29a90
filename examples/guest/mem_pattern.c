/* Guest test program: covers a buffer of the given size with an address-dependent pattern and checks every
 * word, in a number of passes; each pass writes the whole buffer first and then verifies the whole buffer,
 * and pass k+1 writes the complement of pass k's pattern, so every bit is checked as 0 and as 1 and no pass
 * can succeed on what the previous one left. On a pyhv cluster, a buffer larger than the node's share of RAM
 * makes the DSM evict pages while writing and fetch them back while verifying (issue 8, oversubscription).
 *
 * Usage: mem_pattern [MiB] [passes] [cpu]       (defaults 16 MiB, 2 passes, no pinning)
 * Output, a line per pass and a summary (its first fields are the original single-pass line's):
 *   mem-pattern: pass=1 size=32MiB bad=0 write_ms=120 verify_ms=80
 *   mem-pattern: size=32MiB bad=0 ok passes=2 cpu=-1 ms=400
 * bad counts mismatching 64-bit words over all passes. Exit status 0 iff none.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t pattern(const uint64_t *where, size_t i, unsigned pass)
{
    uint64_t v = (uint64_t)(uintptr_t)where * 0x9E3779B97F4A7C15ull ^ i;
    return pass % 2 == 0 ? v : ~v;
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 0) : 16;
    unsigned passes = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 0) : 2;
    int cpu = argc > 3 ? atoi(argv[3]) : -1;
    if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        if (sched_setaffinity(0, sizeof(set), &set) != 0 || sched_getcpu() != cpu) {
            printf("mem-pattern: size=%zuMiB pin to cpu %d FAIL\n", mib, cpu);
            return 2;
        }
    }
    size_t words = mib * 1024 * 1024 / sizeof(uint64_t);
    uint64_t *buf = malloc(words * sizeof(uint64_t));
    if (buf == NULL) {
        printf("mem-pattern: size=%zuMiB alloc FAIL\n", mib);
        return 2;
    }
    size_t bad = 0;
    long long start = now_ms();
    for (unsigned pass = 0; pass < passes; pass++) {
        long long t0 = now_ms();
        for (size_t i = 0; i < words; i++)
            buf[i] = pattern(&buf[i], i, pass);
        long long t1 = now_ms();
        size_t pass_bad = 0;
        for (size_t i = 0; i < words; i++)
            if (buf[i] != pattern(&buf[i], i, pass))
                pass_bad++;
        printf("mem-pattern: pass=%u size=%zuMiB bad=%zu write_ms=%lld verify_ms=%lld\n", pass + 1, mib, pass_bad,
               t1 - t0, now_ms() - t1);
        fflush(stdout);
        bad += pass_bad;
    }
    printf("mem-pattern: size=%zuMiB bad=%zu %s passes=%u cpu=%d ms=%lld\n", mib, bad, bad == 0 ? "ok" : "FAIL",
           passes, cpu, now_ms() - start);
    return bad == 0 ? 0 : 1;
}
