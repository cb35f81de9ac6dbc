#include "platform/platform.h"

#include <time.h>

void clock_cond_init(pthread_cond_t *c)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(c, &ca);
    pthread_condattr_destroy(&ca);
}

int64_t clock_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t clock_deadline(int64_t timeout_ns)
{
    if (timeout_ns < 0)
        return -1;
    int64_t now = clock_now_ns();
    if (timeout_ns > INT64_MAX - now)
        return -1;
    return now + timeout_ns;
}

int64_t clock_remaining(int64_t deadline)
{
    if (deadline < 0)
        return -1;
    int64_t left = deadline - clock_now_ns();
    return left > 0 ? left : 0;
}

int unload_lock(pthread_mutex_t *m)
{
    /* pthread_mutex_clocklock would take CLOCK_MONOTONIC, but is newer
     * (glibc 2.30); a clock set meanwhile only changes how long this
     * bounded wait lasts. */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += 100000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    return pthread_mutex_timedlock(m, &until);
}
