/* Guest test program: one thread per online CPU, each pinned to its CPU, increments a shared atomic
 * counter a fixed number of times. Prints the exact total and whether it matches; exit status 0 iff it does.
 * Usage: atomic_counter [iterations-per-thread] */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static atomic_ulong counter;
static unsigned long iterations = 100000;

struct worker { pthread_t thread; int cpu; int pinned; };

static void *work(void *arg)
{
    struct worker *w = arg;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(w->cpu, &set);
    w->pinned = pthread_setaffinity_np(pthread_self(), sizeof(set), &set) == 0 && sched_getcpu() == w->cpu;
    for (unsigned long i = 0; i < iterations; i++)
        atomic_fetch_add_explicit(&counter, 1, memory_order_relaxed);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        iterations = strtoul(argv[1], NULL, 0);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    struct worker *workers = calloc((size_t)cpus, sizeof(*workers));
    if (workers == NULL)
        return 2;
    for (long i = 0; i < cpus; i++) {
        workers[i].cpu = (int)i;
        if (pthread_create(&workers[i].thread, NULL, work, &workers[i]) != 0)
            return 2;
    }
    int pinned = 0;
    for (long i = 0; i < cpus; i++) {
        pthread_join(workers[i].thread, NULL);
        pinned += workers[i].pinned;
    }
    unsigned long expected = iterations * (unsigned long)cpus;
    unsigned long total = atomic_load(&counter);
    printf("atomic-counter: threads=%ld pinned=%d total=%lu expected=%lu %s\n", cpus, pinned, total, expected,
           total == expected && pinned == cpus ? "ok" : "FAIL");
    return total == expected && pinned == cpus ? 0 : 1;
}
