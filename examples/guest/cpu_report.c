/* Guest test program: one thread pinned to every online CPU; each reports where it ran and what the firmware
 * (pyhv's FDT) says that CPU is, so a host test can see that every vCPU of every node ran guest code.
 *
 * Usage: cpu_report [spin-ms]       (each thread spins this long on its CPU before checking its pin again)
 * Output, one line per CPU in CPU order, then a summary:
 *   cpu_report: cpu=1 sched_getcpu=1 mpidr_aff=0x1 numa_node=0 package=0 core=1 pinned=yes
 *   cpu_report: cpus=2 pinned=2 mpidr_distinct=yes ok
 * mpidr_aff is the `reg` property of the CPU's device-tree node (/sys/devices/system/cpu/cpuN/of_node/reg,
 * big-endian cells): the MPIDR affinity fields the guest was given. MPIDR_EL1 itself cannot be read at EL0
 * (Linux emulates the read with a fixed value), hence the device tree. Exit status 0 iff every thread ran on
 * its CPU both right after pinning and after the spin, and no two CPUs share an MPIDR.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct worker {
    pthread_t thread;
    int cpu, seen_first, seen_last, pinned;
};

static long spin_ms = 20;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void *work(void *arg)
{
    struct worker *w = arg;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(w->cpu, &set);
    int set_ok = pthread_setaffinity_np(pthread_self(), sizeof(set), &set) == 0;
    w->seen_first = sched_getcpu();
    double end = now_ms() + (double)spin_ms;
    volatile unsigned long sink = 0;
    while (now_ms() < end)           /* guest code that has to run on this CPU */
        sink = sink + 1;
    w->seen_last = sched_getcpu();
    w->pinned = set_ok && w->seen_first == w->cpu && w->seen_last == w->cpu;
    return NULL;
}

/* The CPU's device-tree reg property as one number (all cells, big-endian), or -1. */
static long long mpidr_of(int cpu)
{
    char path[96];
    snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d/of_node/reg", cpu);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return -1;
    unsigned char cell[16];
    size_t n = fread(cell, 1, sizeof(cell), f);
    fclose(f);
    if (n == 0 || n % 4 != 0)
        return -1;
    unsigned long long v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | cell[i];
    return (long long)v;
}

static long read_long(const char *fmt, int cpu)
{
    char path[128];
    snprintf(path, sizeof(path), fmt, cpu);
    FILE *f = fopen(path, "r");
    long v = -1;
    if (f != NULL) {
        if (fscanf(f, "%ld", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

/* The NUMA node of a CPU: its sysfs directory holds a `nodeN` link. -1 without NUMA. */
static int numa_node_of(int cpu)
{
    char path[64];
    snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d", cpu);
    DIR *d = opendir(path);
    int node = -1;
    if (d == NULL)
        return -1;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (strncmp(e->d_name, "node", 4) == 0 && e->d_name[4] >= '0' && e->d_name[4] <= '9')
            node = atoi(e->d_name + 4);
    closedir(d);
    return node;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        spin_ms = strtol(argv[1], NULL, 0);
    cpu_set_t online;
    if (sched_getaffinity(0, sizeof(online), &online) != 0)
        return 2;
    int cpus = CPU_COUNT(&online), n = 0;
    struct worker *workers = calloc((size_t)cpus, sizeof(*workers));
    long long *mpidr = calloc((size_t)cpus, sizeof(*mpidr));
    if (workers == NULL || mpidr == NULL)
        return 2;
    for (int c = 0; c < CPU_SETSIZE && n < cpus; c++)
        if (CPU_ISSET(c, &online))
            workers[n++].cpu = c;
    for (int i = 0; i < n; i++)
        if (pthread_create(&workers[i].thread, NULL, work, &workers[i]) != 0)
            return 2;
    int pinned = 0, distinct = 1, known = 1;
    for (int i = 0; i < n; i++) {
        struct worker *w = &workers[i];
        pthread_join(w->thread, NULL);
        pinned += w->pinned;
        mpidr[i] = mpidr_of(w->cpu);
        known = known && mpidr[i] >= 0;
        for (int j = 0; j < i; j++)
            distinct = distinct && (mpidr[i] < 0 || mpidr[i] != mpidr[j]);
        char aff[24] = "unknown";
        if (mpidr[i] >= 0)
            snprintf(aff, sizeof(aff), "0x%llx", mpidr[i]);
        printf("cpu_report: cpu=%d sched_getcpu=%d mpidr_aff=%s numa_node=%d package=%ld core=%ld pinned=%s\n",
               w->cpu, w->seen_last, aff, numa_node_of(w->cpu),
               read_long("/sys/devices/system/cpu/cpu%d/topology/physical_package_id", w->cpu),
               read_long("/sys/devices/system/cpu/cpu%d/topology/core_id", w->cpu), w->pinned ? "yes" : "NO");
    }
    int ok = pinned == n && distinct;
    printf("cpu_report: cpus=%d pinned=%d mpidr_distinct=%s %s\n", n, pinned,
           !known ? "unknown" : distinct ? "yes" : "NO", ok ? "ok" : "FAIL");
    return ok ? 0 : 1;
}
