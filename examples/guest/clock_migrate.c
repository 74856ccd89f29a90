/* Guest test program: one thread migrates between CPUs (round robin over the online CPUs, or over a given
 * list) and reads CLOCK_MONOTONIC and the virtual counter CNTVCT_EL0 after every move. On a pyhv cluster the
 * CPUs are on different nodes, so this checks that their counters agree as Linux needs (issue 8, "Clock"):
 * arm64 Linux's clocksource takes (counter - last) modulo 2^56, so a counter a little behind the value
 * another CPU last used makes CLOCK_MONOTONIC jump forward by ~1 100 s instead of going back.
 *
 * Usage: clock_migrate [migrations] [bound-ms] [sleep-us] [cpu-list] [busy]     ("-" keeps a default)
 *   migrations  moves to make, default 100000
 *   bound-ms    the largest allowed forward step of CLOCK_MONOTONIC between two reads beyond what the thread
 *               slept in between, default 50
 *   sleep-us    sleep this long after each move before reading, default 0
 *   cpu-list    e.g. "0,3" (default: every online CPU)
 *   busy        1: keep every CPU busy with a SCHED_IDLE spinner, so the target of a move is never asleep in
 *               WFI (to compare the cost of moving to an idle and to a busy CPU); default 0
 * Output:
 *   clock_migrate: migrations=100000 requested=100000 cpus=2 misses=0 decreases=0 max_back_ns=0
 *                  max_jump_us=1234 bound_ms=50 over_bound=0 counter_decreases=0 ms=5678 ok   (one line)
 * misses: moves after which sched_getcpu() was not the CPU asked for. Exit status 0 iff at least `migrations`
 * moves landed on their CPU, CLOCK_MONOTONIC and the counter never went back, and no step exceeded the bound.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t cntvct(void)
{
    uint64_t v;
    __asm__ volatile("isb\n\tmrs %0, cntvct_el0" : "=r"(v) : : "memory");
    return v;
}

static void *spin(void *arg)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(*(int *)arg, &set);
    struct sched_param none = {0};
    pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
    pthread_setschedparam(pthread_self(), SCHED_IDLE, &none);
    for (volatile unsigned long n = 0;; n = n + 1)
        ;
    return NULL;
}

int main(int argc, char **argv)
{
    unsigned long requested = argc > 1 ? strtoul(argv[1], NULL, 0) : 100000;
    int64_t bound_ns = (argc > 2 ? strtoll(argv[2], NULL, 0) : 50) * 1000000;
    long sleep_us = argc > 3 ? strtol(argv[3], NULL, 0) : 0;
    int cpus[CPU_SETSIZE], n = 0;
    if (argc > 4 && strcmp(argv[4], "-") != 0) {
        for (char *s = argv[4]; *s && n < CPU_SETSIZE;) {
            cpus[n++] = (int)strtol(s, &s, 0);
            if (*s == ',')
                s++;
        }
    } else {
        cpu_set_t online;
        if (sched_getaffinity(0, sizeof(online), &online) != 0)
            return 2;
        for (int c = 0; c < CPU_SETSIZE; c++)
            if (CPU_ISSET(c, &online))
                cpus[n++] = c;
    }
    int busy = argc > 5 ? atoi(argv[5]) : 0;
    for (int i = 0; busy && i < n; i++) {
        pthread_t spinner;
        if (pthread_create(&spinner, NULL, spin, &cpus[i]) != 0)
            return 2;
    }
    if (n < 2) {
        printf("clock_migrate: cpus=%d FAIL (needs two CPUs to migrate between)\n", n);
        return 2;
    }
    unsigned long moves = 0, misses = 0, decreases = 0, over = 0, counter_decreases = 0;
    int64_t max_back_ns = 0, max_jump_ns = 0;
    struct timespec nap = {sleep_us / 1000000, (sleep_us % 1000000) * 1000};
    int64_t start = mono_ns(), prev = start;
    uint64_t prev_count = cntvct();
    int here = sched_getcpu();
    for (unsigned long i = 0; i < requested; i++) {
        int target = cpus[i % (unsigned long)n];
        if (target == here)
            target = cpus[(i + 1) % (unsigned long)n];
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(target, &set);
        if (sched_setaffinity(0, sizeof(set), &set) != 0) {
            misses++;
            continue;
        }
        if (sleep_us > 0)
            nanosleep(&nap, NULL);
        int64_t t = mono_ns();
        uint64_t count = cntvct();
        here = sched_getcpu();
        if (here == target)
            moves++;
        else
            misses++;
        if (t < prev) {
            decreases++;
            max_back_ns = prev - t > max_back_ns ? prev - t : max_back_ns;
        }
        int64_t jump = t - prev - (int64_t)sleep_us * 1000;
        max_jump_ns = jump > max_jump_ns ? jump : max_jump_ns;
        over += jump > bound_ns;
        counter_decreases += count < prev_count;
        prev = t;
        prev_count = count;
    }
    int ok = moves >= requested && decreases == 0 && over == 0 && counter_decreases == 0;
    printf("clock_migrate: migrations=%lu requested=%lu cpus=%d misses=%lu decreases=%lu max_back_ns=%lld "
           "max_jump_us=%lld bound_ms=%lld over_bound=%lu counter_decreases=%lu busy=%d ms=%lld %s\n",
           moves, requested, n, misses, decreases, (long long)max_back_ns, (long long)(max_jump_ns / 1000),
           (long long)(bound_ns / 1000000), over, counter_decreases, busy,
           (long long)((mono_ns() - start) / 1000000),
           ok ? "ok" : "FAIL");
    return ok ? 0 : 1;
}
