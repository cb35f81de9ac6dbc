/* Scheduling hints for the library's own helper threads. */
#include "platform/platform.h"

#include <errno.h>
#include <sched.h>

/* SCHED_BATCH: the scheduler does not let a woken batch thread preempt
 * the running one (Linux's fair class skips the wake-up preemption check
 * for it); it runs on an idle CPU at once, else when the running thread
 * blocks or its time slice ends. For a writer that gathers what another
 * thread produces, that is the point: woken on every small batch, it used
 * to take the producer's CPU, write a few frames and sleep again. Moving
 * between SCHED_OTHER and SCHED_BATCH needs no privilege; the nice value
 * is kept.
 *
 * Not for a thread that may run on one CPU only (it inherits its
 * creator's affinity): beside a producer pinned there that never blocks
 * (a sender that then polls a mailbox), it would wait for a scheduler tick
 * every time, milliseconds (found in review: 4 ms a send against 24-48 µs).
 * Nor for a thread of a real-time program (SCHED_FIFO, SCHED_RR), which
 * would fall below its real-time threads. */
int thread_gather_mode(void)
{
    if (sched_getscheduler(0) != SCHED_OTHER)
        return -EPERM;
    cpu_set_t cpus;
    if (sched_getaffinity(0, sizeof(cpus), &cpus) != 0)
        return -errno;
    if (CPU_COUNT(&cpus) < 2)
        return -EXDEV;
    struct sched_param sp = {0};
    int r = pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
    return r ? -r : 0;
}

int thread_normal_mode(void)
{
    if (sched_getscheduler(0) != SCHED_BATCH)
        return 0;
    struct sched_param sp = {0};
    int r = pthread_setschedparam(pthread_self(), SCHED_OTHER, &sp);
    return r ? -r : 0;
}
