/* Queue ids are random, not counted: a user of another queue cannot guess
 * the ids of queues it was not told about (with a private key). */
#include <sys/random.h>

#include "internal.h"

int32_t sysv_random_id(void)
{
    uint32_t v;
    for (;;) {
        ssize_t n = getrandom(&v, sizeof(v), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n != (ssize_t)sizeof(v))
            return n < 0 ? -errno : -EIO;
        v &= 0x7fffffffu;
        if (v != 0)
            return (int32_t)v;
    }
}
