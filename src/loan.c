/* Public zero-copy entry points: checks, then the mailbox kind's own. */
#include "mbx.h"

#include "handle.h"
#include "heap_queue.h"
#include "owner.h"
#include "ring.h"

#include <errno.h>

static int loan_checks(mbx *m, int right, const void *ptr)
{
    if (!m || !ptr)
        return -EINVAL;
    if (!(m->flags & right))
        return -EBADF;
    if (m->seg.flags & MBX_STREAM)
        return -EINVAL; /* a stream has no messages to lend */
    return 0;
}

EXPORT int mbx_loan(mbx *m, size_t len, void **buf)
{
    int r = loan_checks(m, MBX_SEND, buf);
    if (r)
        return r;
    if (len > m->seg.max_msg_size)
        return -EMSGSIZE;
    if ((r = owner_send_check(m)))
        return r;
    struct mb_ctx c = handle_ctx(m);
    return m->seg.ring ? ring_loan(&c, len, buf) : heap_loan(&c, len, buf);
}

EXPORT int mbx_send_loan(mbx *m, void *buf, size_t len, unsigned prio, int64_t timeout_ns)
{
    int r = loan_checks(m, MBX_SEND, buf);
    if (r)
        return r;
    if (prio >= MBX_PRIO_MAX || timeout_ns < MBX_FOREVER)
        return -EINVAL;
    if (len > m->seg.max_msg_size)
        return -EMSGSIZE;
    struct mb_ctx c = handle_ctx(m);
    return m->seg.ring ? ring_send_loan(&c, buf, len, prio)
                       : heap_send_loan(&c, buf, len, prio, timeout_ns);
}

EXPORT ssize_t mbx_recv_loan(mbx *m, const void **buf, mbx_msginfo *info, int64_t timeout_ns)
{
    int r = loan_checks(m, MBX_RECV, buf);
    if (r)
        return r;
    if (timeout_ns < MBX_FOREVER)
        return -EINVAL;
    if ((r = owner_recv_check(m)))
        return r;
    struct mb_ctx c = handle_ctx(m);
    return m->seg.ring ? ring_recv_loan(&c, buf, info, timeout_ns)
                       : heap_recv_loan(&c, buf, info, timeout_ns);
}

EXPORT int mbx_release(mbx *m, const void *buf)
{
    int r = loan_checks(m, MBX_RECV, buf);
    if (r)
        return r;
    struct mb_ctx c = handle_ctx(m);
    return m->seg.ring ? ring_release(&c, buf) : heap_release(&c, buf);
}
