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
 * is kept. */
int thread_gather_mode(void)
{
    struct sched_param sp = {0};
    int r = pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
    return r ? -r : 0;
}
