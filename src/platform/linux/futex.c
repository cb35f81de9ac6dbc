#include "platform/platform.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int futex_wait(uint32_t *word, uint32_t val, int64_t timeout_ns)
{
    struct timespec ts, *tsp = NULL;
    if (timeout_ns >= 0) {
        ts.tv_sec = timeout_ns / 1000000000;
        ts.tv_nsec = timeout_ns % 1000000000;
        tsp = &ts;
    }
    /* A relative timeout makes the kernel report EINTR after a handler ran,
     * even with SA_RESTART; callers always pass one for that reason. */
    long r = syscall(SYS_futex, word, FUTEX_WAIT, val, tsp, NULL, 0);
    if (r == 0)
        return 0;
    if (errno == EAGAIN)
        return 0;
    if (errno == ETIMEDOUT)
        return -ETIMEDOUT;
    if (errno == EINTR)
        return -EINTR;
    return -errno;
}

int futex_wake(uint32_t *word, int n)
{
    long r = syscall(SYS_futex, word, FUTEX_WAKE, n, NULL, NULL, 0);
    return r > 0 ? (int)r : 0;
}
