/* Guest test program: AArch64 memory-model litmus tests, each thread pinned to a given CPU, so that on a pyhv
 * cluster the threads sit on different nodes and the DSM, not one CPU's cache, has to provide the ordering.
 *
 * Usage: litmus [iterations] [cpu-list] [test-name] [wait-us]      ("-" keeps a default)
 *   iterations  per test, default 100000
 *   cpu-list    comma-separated CPUs for the threads, e.g. "0,3"; thread k runs on cpus[k % n].
 *               Default: the first and the LAST online CPU for the two-thread tests; for IRIW the writer of x
 *               and the reader that reads x first share the first CPU(s), the other pair the last one(s).
 *   test-name   run only this test (e.g. "MP+dmb.sy")
 *   wait-us     how long a thread waits at the per-iteration barrier for a late partner, default 50
 * Output, one line per test and a summary:
 *   litmus: MP+dmb.sy iterations=100000 forbidden=0 invalid=0 outcomes=00:50123,01:5,11:49872 cpus=0,1
 *           pinned=yes late=12 ms=812 ok                                                       (one line)
 *   litmus: tests=8 iterations=100000 failed=0 ok
 * An outcome key lists the test's observed registers (or final values) in the order of the test's comment
 * below, one digit each. `invalid` counts values no execution can produce (memory corruption); `late` the
 * barrier waits that gave up on a partner (see below). Exit status 0 iff no forbidden and no invalid outcome
 * was seen and every thread's pin held.
 *
 * Method (as litmus7 does it): every iteration uses fresh, zeroed locations x[i], y[i] (two separate
 * page-aligned arrays, so x and y are never on the same page: a DSM keeps one page coherent trivially, the
 * interesting case is two pages), and the threads meet at a per-iteration barrier before running the test's
 * instructions once. The barrier is one flag per thread, each on its own page: a thread publishes "I reached
 * iteration i" with a store-release and spins with load-acquires until every other thread has too (no
 * read-modify-write, no exclusives), except for partners pinned to its own CPU, which cannot run meanwhile
 * (IRIW on fewer than 4 CPUs). The wait is bounded (wait-us per iteration, a fifth of it when CPUs are
 * shared, as then some partner is always descheduled): on a loaded 2-core host a vCPU is often descheduled
 * for a whole host time slice, and an unbounded rendezvous per iteration then costs milliseconds each
 * (0.75 ms per iteration measured with a futex-sleeping barrier). Giving up is sound because each
 * iteration's locations are fresh: the late thread still runs the same instance of the test later, only
 * without overlapping in time (the outcome is then usually an uninteresting one, never a forbidden one).
 * Registers go to per-thread result arrays; the main thread classifies everything after the join. The test
 * bodies are inline asm so the compiler can neither reorder nor drop the accesses, the barriers or the
 * (syntactic) dependencies.
 *
 * What is forbidden (ARM ARM B2.3 "Definition of the Armv8 memory model", the "external" and "internal"
 * visibility requirements; the same as the herd7 aarch64.cat model of Pulte, Flur, Deacon et al., POPL 2018,
 * "Simplifying ARM concurrency: multicopy-atomic axiomatic and operational models for ARMv8"):
 *   MP+dmb.sy   T0: x=1; DMB SY; y=1        T1: r1=y; DMB SY; r2=x     forbidden r1=1,r2=0: both DMBs order
 *               the pairs (bob), so W x -> W y -rfe-> R y -> R x -fre-> W x would be a cycle in ob.
 *   SB+dmb.sy   T0: x=1; DMB SY; r1=y       T1: y=1; DMB SY; r2=x      forbidden r1=0,r2=0: the DMB orders a
 *               store before a later load (bob); W x -> R y -fre-> W y -> R x -fre-> W x is an ob cycle.
 *   LB          T0: r1=x; y=1               T1: r2=y; x=1              r1=1,r2=1 ALLOWED (loads may be
 *               satisfied after the program-order-later store becomes visible; nothing orders R -> W).
 *   LB+datas    as LB, the stored value computed from the loaded one (r ^ r + 1): a data dependency is in
 *               dob (dependency-ordered-before), so R x -> W y -rfe-> R y -> W x -rfe-> R x is a cycle:
 *               forbidden r1=1,r2=1. (Armv8 forbids out-of-thin-air through dependencies.)
 *   LB+addrs    as LB, the store's address computed from the loaded value ([y + (r ^ r)]): addr is in dob,
 *               forbidden r1=1,r2=1 for the same reason.
 *   CoRR        T0: x=1                     T1: r1=x; r2=x             forbidden r1=1,r2=0: per-location
 *               coherence ("internal" requirement: po-loc | rf | co | fr is acyclic), a CPU may not read a
 *               value older than one it already read from the same location.
 *   2+2W+dmb.sy T0: x=1; DMB SY; y=2        T1: y=1; DMB SY; x=2       final (x==1, y==1) forbidden: it needs
 *               W x=2 -co-> W x=1 and W y=2 -co-> W y=1, which with the two bob edges is a cycle in ob.
 *               Key digits: (x==1)(y==1) of the final values.
 *   IRIW+addrs  T0: x=1   T1: y=1   T2: r1=x; r2=[y + (r1 ^ r1)]   T3: r3=y; r4=[x + (r3 ^ r3)]
 *               forbidden r1=1,r2=0,r3=1,r4=0: Armv8 is other-multi-copy atomic (a write becomes visible to
 *               all other observers at once), so the two readers cannot see the writes in opposite orders
 *               when each reader's second load is ordered after its first by an address dependency.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PAGE_BYTES 4096
#define MAX_THREADS 4

typedef uint64_t u64;

/* reached: the number of iterations this thread has started; late: its waits that ran out of time */
struct flag { _Alignas(PAGE_BYTES) atomic_uint reached; unsigned long late; };

static struct flag flags[MAX_THREADS];
static u64 *loc_x, *loc_y;                  /* loc_x[i], loc_y[i]: the locations of iteration i */
static u64 *regs[MAX_THREADS][2];           /* regs[t][k][i]: register k of thread t in iteration i */
static unsigned long iterations = 100000;
static double wait_us = 50;                 /* the barrier's patience, see barrier() */

struct thread_arg {
    pthread_t thread;
    int index, threads, cpu, pinned;
    const int *cpus;                /* the CPU of every thread of the test */
    double patience_us;             /* the barrier's wait for late partners */
    void (*body)(int, unsigned long);
};

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Publish "I started iteration i", then wait until every other thread has, for at most wait_us. Each
 * iteration's locations are fresh, so a thread that goes on without its partner still runs a valid instance
 * of the test (just a less interesting one): the barrier only makes the threads' accesses overlap in time. */
static void barrier(int self, int threads, unsigned long i, const int *cpus, double patience_us)
{
    unsigned want = (unsigned)i + 1;
    atomic_store_explicit(&flags[self].reached, want, memory_order_release);
    double deadline = -1;
    for (int t = 0; t < threads; t++) {
        /* A partner pinned to our own CPU cannot run while we wait; it meets the others in its own turn. */
        if (t == self || cpus[t] == cpus[self]
                || atomic_load_explicit(&flags[t].reached, memory_order_acquire) >= want)
            continue;
        if (deadline < 0)
            deadline = now_us() + patience_us;
        unsigned spins = 0;
        while (atomic_load_explicit(&flags[t].reached, memory_order_acquire) < want)
            if (++spins % 64 == 0 && now_us() > deadline) {
                flags[self].late++;
                return;                    /* one late partner: do not wait again for the others */
            }
    }
}

/* ---- the test bodies: thread t of iteration i ---- */

static void mp(int t, unsigned long i)
{
    u64 *x = &loc_x[i], *y = &loc_y[i], r1, r2;
    if (t == 0) {
        __asm__ volatile("str %[one], [%[x]]\n\tdmb sy\n\tstr %[one], [%[y]]"
                         : : [one] "r"(1ul), [x] "r"(x), [y] "r"(y) : "memory");
    } else {
        __asm__ volatile("ldr %[r1], [%[y]]\n\tdmb sy\n\tldr %[r2], [%[x]]"
                         : [r1] "=&r"(r1), [r2] "=&r"(r2) : [x] "r"(x), [y] "r"(y) : "memory");
        regs[1][0][i] = r1;
        regs[1][1][i] = r2;
    }
}

static void sb(int t, unsigned long i)
{
    u64 *mine = t == 0 ? &loc_x[i] : &loc_y[i], *other = t == 0 ? &loc_y[i] : &loc_x[i], r;
    __asm__ volatile("str %[one], [%[mine]]\n\tdmb sy\n\tldr %[r], [%[other]]"
                     : [r] "=&r"(r) : [one] "r"(1ul), [mine] "r"(mine), [other] "r"(other) : "memory");
    regs[t][0][i] = r;
}

static void lb(int t, unsigned long i)
{
    u64 *src = t == 0 ? &loc_x[i] : &loc_y[i], *dst = t == 0 ? &loc_y[i] : &loc_x[i], r;
    __asm__ volatile("ldr %[r], [%[src]]\n\tstr %[one], [%[dst]]"
                     : [r] "=&r"(r) : [one] "r"(1ul), [src] "r"(src), [dst] "r"(dst) : "memory");
    regs[t][0][i] = r;
}

static void lb_datas(int t, unsigned long i)
{
    u64 *src = t == 0 ? &loc_x[i] : &loc_y[i], *dst = t == 0 ? &loc_y[i] : &loc_x[i], r, tmp;
    __asm__ volatile("ldr %[r], [%[src]]\n\teor %[tmp], %[r], %[r]\n\tadd %[tmp], %[tmp], #1\n\t"
                     "str %[tmp], [%[dst]]"
                     : [r] "=&r"(r), [tmp] "=&r"(tmp) : [src] "r"(src), [dst] "r"(dst) : "memory");
    regs[t][0][i] = r;
}

static void lb_addrs(int t, unsigned long i)
{
    u64 *src = t == 0 ? &loc_x[i] : &loc_y[i], *dst = t == 0 ? &loc_y[i] : &loc_x[i], r, tmp;
    __asm__ volatile("ldr %[r], [%[src]]\n\teor %[tmp], %[r], %[r]\n\tstr %[one], [%[dst], %[tmp]]"
                     : [r] "=&r"(r), [tmp] "=&r"(tmp) : [one] "r"(1ul), [src] "r"(src), [dst] "r"(dst)
                     : "memory");
    regs[t][0][i] = r;
}

static void corr(int t, unsigned long i)
{
    u64 *x = &loc_x[i], r1, r2;
    if (t == 0) {
        __asm__ volatile("str %[one], [%[x]]" : : [one] "r"(1ul), [x] "r"(x) : "memory");
    } else {
        __asm__ volatile("ldr %[r1], [%[x]]\n\tldr %[r2], [%[x]]"
                         : [r1] "=&r"(r1), [r2] "=&r"(r2) : [x] "r"(x) : "memory");
        regs[1][0][i] = r1;
        regs[1][1][i] = r2;
    }
}

static void two_plus_two_w(int t, unsigned long i)
{
    u64 *first = t == 0 ? &loc_x[i] : &loc_y[i], *second = t == 0 ? &loc_y[i] : &loc_x[i];
    __asm__ volatile("str %[one], [%[first]]\n\tdmb sy\n\tstr %[two], [%[second]]"
                     : : [one] "r"(1ul), [two] "r"(2ul), [first] "r"(first), [second] "r"(second) : "memory");
}

static void iriw_addrs(int t, unsigned long i)
{
    u64 r1, r2, tmp;
    if (t < 2) {
        u64 *mine = t == 0 ? &loc_x[i] : &loc_y[i];
        __asm__ volatile("str %[one], [%[mine]]" : : [one] "r"(1ul), [mine] "r"(mine) : "memory");
        return;
    }
    u64 *a = t == 2 ? &loc_x[i] : &loc_y[i], *b = t == 2 ? &loc_y[i] : &loc_x[i];
    __asm__ volatile("ldr %[r1], [%[a]]\n\teor %[tmp], %[r1], %[r1]\n\tldr %[r2], [%[b], %[tmp]]"
                     : [r1] "=&r"(r1), [r2] "=&r"(r2), [tmp] "=&r"(tmp) : [a] "r"(a), [b] "r"(b) : "memory");
    regs[t][0][i] = r1;
    regs[t][1][i] = r2;
}

/* ---- classification: the observed values of iteration i as key digits; -1 if impossible ---- */

static int bit(u64 v) { return v <= 1 ? (int)v : -1; }

static int join_bits(const int *b, int n)
{
    int key = 0;
    for (int k = 0; k < n; k++) {
        if (b[k] < 0)
            return -1;
        key = key * 2 + b[k];
    }
    return key;
}

static int key_mp(unsigned long i) { int b[2] = {bit(regs[1][0][i]), bit(regs[1][1][i])}; return join_bits(b, 2); }
static int key_sb(unsigned long i) { int b[2] = {bit(regs[0][0][i]), bit(regs[1][0][i])}; return join_bits(b, 2); }
static int key_lb(unsigned long i) { int b[2] = {bit(regs[0][0][i]), bit(regs[1][0][i])}; return join_bits(b, 2); }
static int key_corr(unsigned long i) { return key_mp(i); }

static int key_2p2w(unsigned long i)
{
    u64 x = loc_x[i], y = loc_y[i];
    if ((x != 1 && x != 2) || (y != 1 && y != 2))
        return -1;
    int b[2] = {x == 1, y == 1};
    return join_bits(b, 2);
}

static int key_iriw(unsigned long i)
{
    int b[4] = {bit(regs[2][0][i]), bit(regs[2][1][i]), bit(regs[3][0][i]), bit(regs[3][1][i])};
    return join_bits(b, 4);
}

struct test {
    const char *name;
    int threads;
    int digits;
    int forbidden_key;          /* -1: no outcome is forbidden (LB) */
    void (*body)(int, unsigned long);
    int (*key)(unsigned long);
};

static const struct test tests[] = {
    {"MP+dmb.sy", 2, 2, 0x2, mp, key_mp},              /* r1=1 r2=0 */
    {"SB+dmb.sy", 2, 2, 0x0, sb, key_sb},              /* r1=0 r2=0 */
    {"LB", 2, 2, -1, lb, key_lb},                      /* 11 allowed */
    {"LB+datas", 2, 2, 0x3, lb_datas, key_lb},         /* r1=1 r2=1 */
    {"LB+addrs", 2, 2, 0x3, lb_addrs, key_lb},         /* r1=1 r2=1 */
    {"CoRR", 2, 2, 0x2, corr, key_corr},               /* r1=1 r2=0 */
    {"2+2W+dmb.sy", 2, 2, 0x3, two_plus_two_w, key_2p2w},  /* x==1 y==1 */
    {"IRIW+addrs", 4, 4, 0xA, iriw_addrs, key_iriw},   /* r1=1 r2=0 r3=1 r4=0 */
};

static void *run_thread(void *p)
{
    struct thread_arg *a = p;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(a->cpu, &set);
    a->pinned = pthread_setaffinity_np(pthread_self(), sizeof(set), &set) == 0 && sched_getcpu() == a->cpu;
    for (unsigned long i = 0; i < iterations; i++) {
        barrier(a->index, a->threads, i, a->cpus, a->patience_us);
        a->body(a->index, i);
    }
    a->pinned = a->pinned && sched_getcpu() == a->cpu;
    return NULL;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void *zeroed_pages(size_t bytes)
{
    void *p = aligned_alloc(PAGE_BYTES, (bytes + PAGE_BYTES - 1) / PAGE_BYTES * PAGE_BYTES);
    if (p != NULL)
        memset(p, 0, bytes);
    return p;
}

/* Runs one test; returns 0 if it passed. */
static int run_test(const struct test *t, const int *cpus)
{
    size_t bytes = iterations * sizeof(u64);
    memset(loc_x, 0, bytes);
    memset(loc_y, 0, bytes);
    for (int k = 0; k < MAX_THREADS; k++) {
        memset(regs[k][0], 0xff, bytes);   /* a register never written reads as invalid */
        memset(regs[k][1], 0xff, bytes);
        atomic_store(&flags[k].reached, 0);
        flags[k].late = 0;
    }
    struct thread_arg args[MAX_THREADS];
    double start = now_ms();
    for (int k = 0; k < t->threads; k++) {
        args[k] = (struct thread_arg){.index = k, .threads = t->threads, .cpu = cpus[k], .body = t->body,
                                      .cpus = cpus, .patience_us = wait_us};
        for (int j = 0; j < t->threads; j++)
            if (j != k && cpus[j] == cpus[k])   /* time-shared CPUs: some partner is always descheduled */
                args[k].patience_us = wait_us / 5;
        if (pthread_create(&args[k].thread, NULL, run_thread, &args[k]) != 0) {
            printf("litmus: %s pthread_create FAIL\n", t->name);
            return 1;
        }
    }
    int pinned = 1;
    for (int k = 0; k < t->threads; k++) {
        pthread_join(args[k].thread, NULL);
        pinned = pinned && args[k].pinned;
    }
    double ms = now_ms() - start;
    unsigned long counts[16] = {0}, invalid = 0, late = 0;
    for (int k = 0; k < t->threads; k++)
        late += flags[k].late;
    for (unsigned long i = 0; i < iterations; i++) {
        int key = t->key(i);
        if (key < 0)
            invalid++;
        else
            counts[key]++;
    }
    unsigned long forbidden = t->forbidden_key >= 0 ? counts[t->forbidden_key] : 0;
    char outcomes[16 * 32] = "", cpu_text[MAX_THREADS * 8] = "";
    size_t used = 0;
    for (int key = 0; key < (1 << t->digits); key++) {
        if (counts[key] == 0)
            continue;
        used += (size_t)snprintf(outcomes + used, sizeof(outcomes) - used, "%s", used ? "," : "");
        for (int d = t->digits - 1; d >= 0; d--)
            outcomes[used++] = (char)('0' + ((key >> d) & 1));
        used += (size_t)snprintf(outcomes + used, sizeof(outcomes) - used, ":%lu", counts[key]);
    }
    used = 0;
    for (int k = 0; k < t->threads; k++)
        used += (size_t)snprintf(cpu_text + used, sizeof(cpu_text) - used, "%s%d", k ? "," : "", cpus[k]);
    int ok = forbidden == 0 && invalid == 0 && pinned;
    printf("litmus: %s iterations=%lu forbidden=%lu invalid=%lu outcomes=%s cpus=%s pinned=%s late=%lu "
           "ms=%.0f %s\n",
           t->name, iterations, forbidden, invalid, outcomes, cpu_text, pinned ? "yes" : "NO", late, ms,
           ok ? "ok" : "FAIL");
    fflush(stdout);
    return !ok;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        iterations = strtoul(argv[1], NULL, 0);
    if (iterations == 0)
        iterations = 1;
    cpu_set_t online;
    if (sched_getaffinity(0, sizeof(online), &online) != 0)
        return 2;
    int first = -1, last = -1, n_online = CPU_COUNT(&online), online_list[CPU_SETSIZE], k = 0;
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &online)) {
            online_list[k++] = c;
            first = first < 0 ? c : first;
            last = c;
        }
    int pair[MAX_THREADS], quad[MAX_THREADS];
    if (argc > 2 && strcmp(argv[2], "-") != 0) {
        int given[MAX_THREADS], n = 0;
        for (char *s = argv[2]; *s && n < MAX_THREADS; n++) {
            given[n] = (int)strtol(s, &s, 0);
            if (*s == ',')
                s++;
        }
        if (n == 0)
            return 2;
        for (k = 0; k < MAX_THREADS; k++)
            pair[k] = quad[k] = given[k % n];
    } else {
        /* IRIW: writer of x and the reader that reads x first on the first CPU(s), the others on the last. */
        pair[0] = first; pair[1] = last; pair[2] = first; pair[3] = last;
        quad[0] = first; quad[1] = last;
        quad[2] = n_online >= 4 ? online_list[1] : first;
        quad[3] = n_online >= 4 ? online_list[n_online - 2] : last;
    }
    const char *only = argc > 3 && strcmp(argv[3], "-") != 0 ? argv[3] : NULL;
    if (argc > 4)
        wait_us = strtod(argv[4], NULL);
    size_t bytes = iterations * sizeof(u64);
    loc_x = zeroed_pages(bytes);
    loc_y = zeroed_pages(bytes);
    for (k = 0; k < MAX_THREADS; k++) {
        regs[k][0] = zeroed_pages(bytes);
        regs[k][1] = zeroed_pages(bytes);
        if (regs[k][0] == NULL || regs[k][1] == NULL)
            return 2;
    }
    if (loc_x == NULL || loc_y == NULL) {
        printf("litmus: alloc FAIL\n");
        return 2;
    }
    int failed = 0, ran = 0;
    for (size_t t = 0; t < sizeof(tests) / sizeof(tests[0]); t++) {
        if (only != NULL && strcmp(only, tests[t].name) != 0)
            continue;
        failed += run_test(&tests[t], tests[t].threads == 4 ? quad : pair);
        ran++;
    }
    printf("litmus: tests=%d iterations=%lu failed=%d %s\n", ran, iterations, failed,
           failed == 0 && ran > 0 ? "ok" : "FAIL");
    return failed == 0 && ran > 0 ? 0 : 1;
}
