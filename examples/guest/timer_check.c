/* Guest test program: checks the guest's sense of time.
 *  - sleeps of 10/100/500 ms must never end early (CLOCK_MONOTONIC);
 *  - prints the virtual counter (CNTVCT_EL0) and its frequency at the start and end of a busy period, so the
 *    host can compare the counter's rate with its own clock (the host reads when each line arrived).
 * Usage: timer_check [seconds] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static uint64_t cntvct(void)
{
    uint64_t v;
    __asm__ volatile("isb; mrs %0, cntvct_el0" : "=r"(v));
    return v;
}

static uint64_t cntfrq(void)
{
    uint64_t v;
    __asm__ volatile("mrs %0, cntfrq_el0" : "=r"(v));
    return v;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    int seconds = argc > 1 ? atoi(argv[1]) : 5;
    int early = 0;
    static const long sleeps_ms[] = {10, 100, 500};
    for (unsigned i = 0; i < sizeof(sleeps_ms) / sizeof(sleeps_ms[0]); i++) {
        struct timespec req = {sleeps_ms[i] / 1000, (sleeps_ms[i] % 1000) * 1000000L};
        double t0 = now_s();
        nanosleep(&req, NULL);
        double took_ms = (now_s() - t0) * 1000.0;
        int is_early = took_ms < (double)sleeps_ms[i];
        early += is_early;
        printf("timer-check: sleep %ldms took %.1fms %s\n", sleeps_ms[i], took_ms, is_early ? "EARLY" : "ok");
    }
    fflush(stdout);
    printf("timer-check: counter-start cntvct=%llu cntfrq=%llu\n", (unsigned long long)cntvct(),
           (unsigned long long)cntfrq());
    fflush(stdout);
    struct timespec req = {seconds, 0};
    nanosleep(&req, NULL);
    printf("timer-check: counter-end cntvct=%llu\n", (unsigned long long)cntvct());
    printf("timer-check: early=%d %s\n", early, early == 0 ? "ok" : "FAIL");
    return early == 0 ? 0 : 1;
}
