/* Public zero-copy entry points: checks, then the mailbox kind's own. */
#include "mbx.h"

#include "shm/handle.h"
#include "shm/heap/heap_queue.h"
#include "shm/owner.h"
#include "platform/platform.h"
#include "shm/ring/ring.h"

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
    /* Removed, or its owner gone: the loan goes with the mailbox. */
    if (__atomic_load_n(&m->seg.hdr->hot.removed, __ATOMIC_ACQUIRE))
        return -EIDRM;
    if ((r = owner_send_check(m)))
        return r;
    struct mb_ctx c = handle_ctx(m);
    return m->seg.ring ? ring_send_loan(&c, buf, len, prio, timeout_ns)
                       : heap_send_loan(&c, buf, len, prio, timeout_ns);
}

/* The handle's read-only view of its file, mapped on first use (threads
 * of one handle may race to make it: one mapping wins, the other goes). */
static const unsigned char *lend_view(mbx *m)
{
    const unsigned char *v = __atomic_load_n(&m->lend_view, __ATOMIC_ACQUIRE);
    if (v)
        return v;
    const unsigned char *mine = shmfile_map_view(&m->file);
    if (!mine)
        return NULL;
    if (__atomic_compare_exchange_n(&m->lend_view, &v, mine, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return mine;
    shmfile_unmap_view(&m->file, mine);
    return v;
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
    const unsigned char *view = lend_view(m);
    if (!view)
        return -ENOMEM;
    struct mb_ctx c = handle_ctx(m);
    const void *p;
    ssize_t n = m->seg.ring ? ring_recv_loan(&c, &p, info, timeout_ns)
                            : heap_recv_loan(&c, &p, info, timeout_ns);
    if (n >= 0) /* the same bytes, seen through the read-only mapping */
        *buf = view + ((const unsigned char *)p - m->seg.base);
    return n;
}

EXPORT int mbx_release(mbx *m, const void *buf)
{
    int r = loan_checks(m, MBX_RECV, buf);
    if (r)
        return r;
    const unsigned char *p = buf, *view = __atomic_load_n(&m->lend_view, __ATOMIC_ACQUIRE);
    if (!view || p < view || p >= view + m->seg.size)
        return -EINVAL; /* not a loan this handle handed out */
    struct mb_ctx c = handle_ctx(m);
    const void *rw = m->seg.base + (p - view);
    return m->seg.ring ? ring_release(&c, rw) : heap_release(&c, rw);
}
