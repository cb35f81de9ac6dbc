/* mbx_strerror: names for the values the library returns. */
#include "mbx.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

EXPORT const char *mbx_strerror(int err)
{
    /* As unsigned: -INT_MIN does not exist (it was undefined behaviour). */
    unsigned e = err < 0 ? 0u - (unsigned)err : (unsigned)err;
    switch (e) {
    case 0:
        return "success";
    case ENOENT:
        return "no such mailbox";
    case EEXIST:
        return "mailbox already exists";
    case EIDRM:
        return "mailbox was removed";
    case EAGAIN:
        return "mailbox full or empty (would wait)";
    case ETIMEDOUT:
        return "timed out";
    case EMSGSIZE:
        return "message too large";
    case EBUSY:
        return "mailbox busy (receive right or stream end held elsewhere)";
    case EUCLEAN:
        return "mailbox is corrupted";
    case EPROTO:
        return "mailbox has another layout version";
    case EPROTONOSUPPORT:
        return "transport not supported: unknown scheme, not built in, or another wire version";
    case ENOSPC:
        return "no room: mailbox memory limit reached or file system full";
    case EPIPE:
        return "peer terminated before replying";
    case EACCES:
        return "permission denied";
    case EPERM:
        return "operation not permitted";
    case EINTR:
        return "interrupted by a signal";
    case EINVAL:
        return "invalid argument";
    case ENAMETOOLONG:
        return "name too long";
    case ESRCH:
        return "no such process (or it gave up waiting)";
    case ENOMEM:
        return "out of memory";
    case EXDEV:
        return "mailbox is in use in another PID namespace";
    case EUSERS:
        return "too many users: descriptors waiting on the mailbox, or a gateway's sessions";
    case ENOTSUP:
        return "not supported by this transport";
    case EDEADLK:
        return "this thread holds the mailbox (a signal handler interrupted a call on it)";
    case EINPROGRESS:
        return "timed out, but the message may still be delivered";
    case EBADF:
        return "handle not opened for this operation, or closed";
    default: {
        /* The system's text where it has one (strerrordesc_np: a constant
         * string, unlike strerror's, whose buffer the next call frees),
         * else the number, in a buffer of this thread's. */
        static _Thread_local char text[128];
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
        const char *d = e <= INT_MAX ? strerrordesc_np((int)e) : NULL;
        if (d)
            return d;
#else
        /* Elsewhere (musl) strerror_r is the XSI one: it fills our buffer. */
        if (e <= INT_MAX && strerror_r((int)e, text, sizeof(text)) == 0)
            return text;
#endif
        snprintf(text, sizeof(text), "unknown error %u", e);
        return text;
    }
    }
}
