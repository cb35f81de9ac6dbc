/* One step of a busy wait on shared memory, lasting about SPIN_STEP_NS.
 *
 * Why not a single pause: a waiter that reads the watched line back to back
 * takes it away from the writer between each of the writer's stores (a send
 * writes its slot, the count and the wake word), and every store then waits
 * for the line to come back. Reading once per step lets a sender finish its
 * stores on a line it holds; the waiter notices a change at most one step
 * later. On a 2-CPU KVM guest (a pause there lasts 10 ns) a 64 B round
 * trip took 0.80 µs with one pause per read and 0.55 µs with 128 ns steps;
 * steps of 40 ns gained less, 640 ns lost it all. How long a pause lasts
 * differs between processors by more than ten times, so the number of
 * pauses per step is measured once per process (a few µs, the first
 * time a wait spins). */
#include "platform/platform.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SPIN_STEP_NS 128
#define PROBE_PAUSES 256u
#define MAX_PAUSES   64u

static unsigned pauses_per_step; /* 0: not measured yet */

static unsigned measure(void)
{
    int64_t t0 = clock_now_ns();
    for (unsigned i = 0; i < PROBE_PAUSES; i++)
        cpu_relax();
    int64_t took = clock_now_ns() - t0;
    if (took <= 0)
        took = 1;
    uint64_t n = (uint64_t)SPIN_STEP_NS * PROBE_PAUSES / (uint64_t)took;
    return n < 1 ? 1 : n > MAX_PAUSES ? MAX_PAUSES : (unsigned)n;
}

void spin_step(void)
{
    unsigned n = __atomic_load_n(&pauses_per_step, __ATOMIC_RELAXED);
    if (n == 0) {
        n = measure();
        __atomic_store_n(&pauses_per_step, n, __ATOMIC_RELAXED);
    }
    for (unsigned i = 0; i < n; i++)
        cpu_relax();
}

/* /proc/loadavg, opened on first use: -2 not yet, -1 not available. */
static int loadavg_fd = -2;
static long online_cpus;

static int loadavg_open(void)
{
    int fd = __atomic_load_n(&loadavg_fd, __ATOMIC_ACQUIRE);
    if (fd != -2)
        return fd;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    __atomic_store_n(&online_cpus, n > 0 ? n : 1, __ATOMIC_RELAXED);
    int mine = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
    if (mine < 0)
        mine = -1;
    int expect = -2;
    if (!__atomic_compare_exchange_n(&loadavg_fd, &expect, mine, 0, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE)) {
        if (mine >= 0)
            close(mine); /* another thread opened it first */
        return expect;
    }
    return mine;
}

int cpus_crowded(void)
{
    int fd = loadavg_open();
    if (fd < 0)
        return 0;
    /* "0.61 1.05 1.79 3/345 5297": the fourth field counts the runnable
     * threads, the caller among them. A program that closed the descriptor
     * behind our back makes this read fail or read something else, which
     * does not parse: then 0. */
    char buf[128];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    const char *p = buf;
    for (int field = 0; field < 3; field++) {
        p = strchr(p, ' ');
        if (!p)
            return 0;
        p++;
    }
    char *end;
    long running = strtol(p, &end, 10);
    if (end == p || *end != '/')
        return 0;
    return running > __atomic_load_n(&online_cpus, __ATOMIC_RELAXED);
}
