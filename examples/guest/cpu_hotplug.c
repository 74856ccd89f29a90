/* Guest test program: CPU hotplug through sysfs. Every cycle takes each hotpluggable CPU but CPU 0 offline
 * (echo 0 > /sys/devices/system/cpu/cpuN/online: Linux migrates its tasks away and calls PSCI CPU_OFF on
 * it) and back online (echo 1: PSCI CPU_ON, the CPU boots into the kernel again), then runs this thread on
 * it to show it really executes. On a pyhv cluster CPU_OFF/CPU_ON of a remote vCPU are messages to its node.
 *
 * Usage: cpu_hotplug [cycles] [timeout-s]      (defaults 50 and 30)
 * Output: a line per failure, then
 *   cpu_hotplug: cycles=50 cpus=1 offlined=50 onlined=50 ran=50 failures=0 max_op_ms=12 ms=3456 ok
 * A failure is a write that fails (Linux returns an error when a CPU fails to die or to come online), an
 * `online` file that does not read back what was written, or a CPU this thread cannot run on once online.
 * An operation that takes longer than timeout-s ends the program with "TIMEOUT" and exit status 1.
 * Exit status 0 iff every operation of every cycle succeeded.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_REPORTED_FAILURES 20

static atomic_llong op_started_ms;          /* 0 when no operation is in progress */
static char op_text[64];
static long timeout_s = 30;
static unsigned long failures;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *watchdog(void *arg)
{
    (void)arg;
    for (;;) {
        usleep(100000);
        long long started = atomic_load(&op_started_ms);
        if (started != 0 && now_ms() - started > timeout_s * 1000) {
            printf("cpu_hotplug: TIMEOUT %s took more than %lds FAIL\n", op_text, timeout_s);
            fflush(stdout);
            _exit(1);
        }
    }
    return NULL;
}

static void fail(const char *what, int cpu, unsigned long cycle, int err)
{
    if (++failures <= MAX_REPORTED_FAILURES)
        printf("cpu_hotplug: cycle=%lu cpu=%d %s FAILED%s%s\n", cycle, cpu, what, err ? ": " : "",
               err ? strerror(err) : "");
}

/* Writes "0" or "1" to cpuN/online and reads it back; returns 1 on success. Records the slowest operation. */
static int set_online(int cpu, int on, unsigned long cycle, long long *max_op_ms)
{
    char path[64], back[8] = "";
    snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d/online", cpu);
    snprintf(op_text, sizeof(op_text), "cycle %lu: cpu%d %s", cycle, cpu, on ? "online" : "offline");
    long long start = now_ms();
    atomic_store(&op_started_ms, start);
    int fd = open(path, O_RDWR), err = 0;
    if (fd < 0 || write(fd, on ? "1" : "0", 1) != 1)
        err = errno;
    if (fd >= 0)
        close(fd);
    atomic_store(&op_started_ms, 0);
    long long took = now_ms() - start;
    *max_op_ms = took > *max_op_ms ? took : *max_op_ms;
    if (err != 0) {
        fail(on ? "online write" : "offline write", cpu, cycle, err);
        return 0;
    }
    FILE *f = fopen(path, "r");
    if (f == NULL || fgets(back, sizeof(back), f) == NULL || back[0] != (on ? '1' : '0')) {
        fail(on ? "online read-back" : "offline read-back", cpu, cycle, 0);
        if (f != NULL)
            fclose(f);
        return 0;
    }
    fclose(f);
    return 1;
}

/* Runs this thread on `cpu` for a moment; 1 if it got there. Restores the affinity to `all`. */
static int runs_on(int cpu, const cpu_set_t *all)
{
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    int ok = sched_setaffinity(0, sizeof(one), &one) == 0 && sched_getcpu() == cpu;
    sched_setaffinity(0, sizeof(*all), all);
    return ok;
}

int main(int argc, char **argv)
{
    unsigned long cycles = argc > 1 ? strtoul(argv[1], NULL, 0) : 50;
    if (argc > 2)
        timeout_s = strtol(argv[2], NULL, 0);
    cpu_set_t all;
    if (sched_getaffinity(0, sizeof(all), &all) != 0)
        return 2;
    int cpus[CPU_SETSIZE], n = 0;
    for (int c = 1; c < CPU_SETSIZE; c++) {
        char path[64];
        snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d/online", c);
        if (access(path, W_OK) == 0)
            cpus[n++] = c;
    }
    if (n == 0) {
        printf("cpu_hotplug: cpus=0 FAIL (no hotpluggable CPU besides CPU 0)\n");
        return 2;
    }
    pthread_t dog;
    if (pthread_create(&dog, NULL, watchdog, NULL) != 0)
        return 2;
    unsigned long offlined = 0, onlined = 0, ran = 0;
    long long max_op_ms = 0, start = now_ms();
    for (unsigned long cycle = 1; cycle <= cycles; cycle++)
        for (int i = 0; i < n; i++) {
            offlined += set_online(cpus[i], 0, cycle, &max_op_ms);
            if (!set_online(cpus[i], 1, cycle, &max_op_ms))
                continue;
            onlined++;
            if (runs_on(cpus[i], &all))
                ran++;
            else
                fail("run after online", cpus[i], cycle, 0);
        }
    int ok = failures == 0 && ran == cycles * (unsigned long)n;
    printf("cpu_hotplug: cycles=%lu cpus=%d offlined=%lu onlined=%lu ran=%lu failures=%lu max_op_ms=%lld "
           "ms=%lld %s\n", cycles, n, offlined, onlined, ran, failures, max_op_ms, now_ms() - start,
           ok ? "ok" : "FAIL");
    fflush(stdout);
    return ok ? 0 : 1;
}
