/* Absolute CLOCK_REALTIME timeouts and interrupted waits. */
#include "mq_internal.h"

#include <signal.h>

/* Returns 1 when abs is a valid timespec (tv_sec not negative, tv_nsec in
 * 0..999999999). Linux checks it before looking at the queue, so a bad
 * one fails with EINVAL even when a message is there (POSIX would check
 * it only before blocking; the differential tests pin the kernel's
 * behaviour). */
int mq_abs_valid(const struct timespec *abs)
{
    return abs->tv_sec >= 0 && abs->tv_nsec >= 0 && abs->tv_nsec < 1000000000L;
}

/* The longest relative wait asked of mbx at once: a day (the caller asks
 * again after it, until abs). */
#define MQ_WAIT_MAX_NS (86400LL * 1000000000)

/* Returns the nanoseconds from now until abs on CLOCK_REALTIME, at most
 * a day, 0 when abs has passed (the call then only takes what is there).
 * mbx waits for a relative time on CLOCK_MONOTONIC: the caller asks again
 * after a timeout, so a clock set backwards is honoured, late, and a time
 * as far as time_t goes waits as long as it says. */
int64_t mq_abs_to_rel(const struct timespec *abs)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    if ((int64_t)abs->tv_sec < (int64_t)now.tv_sec)
        return 0;
    if ((int64_t)abs->tv_sec - (int64_t)now.tv_sec > MQ_WAIT_MAX_NS / 1000000000)
        return MQ_WAIT_MAX_NS; /* also where the difference in ns would overflow */
    int64_t ns = ((int64_t)abs->tv_sec - (int64_t)now.tv_sec) * 1000000000 +
                 ((int64_t)abs->tv_nsec - (int64_t)now.tv_nsec);
    return ns > 0 ? ns : 0;
}

/* After mbx said -EINTR (a signal handler ran while the call waited):
 * Linux restarts mq_send, mq_receive and their timed forms when the
 * handler was installed with SA_RESTART (signal(7)), else fails with
 * EINTR. Which signal ran is not known here, so the call restarts only
 * when every handler installed now has SA_RESTART. Returns 1 to restart,
 * 0 to fail with EINTR. (Handlers of fault signals are left out.) */
int mq_restart_after_eintr(void)
{
    for (int sig = 1; sig < NSIG; sig++) {
        struct sigaction sa;
        /* Faults are never what interrupts a wait; sanitizers and test
         * frameworks catch them without SA_RESTART. (SIGABRT is sent as
         * any other signal is: its handler counts.) */
        if (sig == SIGKILL || sig == SIGSTOP || sig == SIGSEGV || sig == SIGBUS || sig == SIGILL ||
            sig == SIGFPE || sig == SIGTRAP || sig == SIGSYS || sigaction(sig, NULL, &sa) < 0)
            continue;
        if (sa.sa_handler == SIG_DFL || sa.sa_handler == SIG_IGN)
            continue;
        if (!(sa.sa_flags & SA_RESTART))
            return 0;
    }
    return 1;
}
