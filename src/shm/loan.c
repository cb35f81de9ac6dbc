/* Zero copy on local mailboxes: checks, then the mailbox kind's own. */
#include "shm/shm.h"

#include "shm/owner.h"
#include "shm/recv_right.h"
#include "shm/poller.h"

#include <errno.h>

/* A kind without loans (a stream has no messages to lend): -EINVAL. */
static int lends(const struct shm_box *b)
{
    return b->seg.kind->loan != NULL;
}

int shm_loan(struct mbx *m, size_t len, void **buf)
{
    struct shm_box *b = shm_box_of(m);
    if (!lends(b))
        return -EINVAL;
    if (len > b->seg.max_msg_size)
        return -EMSGSIZE;
    int r = owner_send_check(b);
    if (!r)
        r = send_right_check(b);
    if (r)
        return r;
    struct mb_ctx c = handle_ctx(b);
    r = b->seg.kind->loan(&c, len, buf);
    poller_after(b, SEG_POLL_SEND, r, len);
    return r;
}

int shm_send_loan(struct mbx *m, void *buf, size_t len, unsigned prio, uint64_t type,
                  int64_t timeout_ns)
{
    struct shm_box *b = shm_box_of(m);
    if (!lends(b))
        return -EINVAL;
    if (len > b->seg.max_msg_size)
        return -EMSGSIZE;
    /* Removed, or its owner gone: the loan goes with the mailbox. */
    if (seg_removed(&b->seg))
        return -EIDRM;
    int r = owner_send_check(b);
    if (!r)
        r = send_right_check(b);
    if (r)
        return r;
    struct mb_ctx c = handle_ctx(b);
    c.send_type = type;
    r = b->seg.kind->send_loan(&c, buf, len, prio, timeout_ns);
    poller_after(b, SEG_POLL_SEND, r, len);
    return r;
}

/* The handle's read-only view of its file, mapped on first use (threads
 * of one handle may race to make it: one mapping wins, the other goes). */
static const unsigned char *lend_view(struct shm_box *b)
{
    const unsigned char *v = __atomic_load_n(&b->lend_view, __ATOMIC_ACQUIRE);
    if (v)
        return v;
    const unsigned char *mine = shmfile_map_view(&b->file);
    if (!mine)
        return NULL;
    if (__atomic_compare_exchange_n(&b->lend_view, &v, mine, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return mine;
    shmfile_unmap_view(&b->file, mine);
    return v;
}

ssize_t shm_recv_loan(struct mbx *m, const struct mbx_sel *sel, const void **buf, mbx_msginfo *info,
                      int64_t timeout_ns)
{
    struct shm_box *b = shm_box_of(m);
    if (!lends(b))
        return -EINVAL;
    /* The same rights as a copying receive's: an exclusive or pair
     * handle a forked child inherited took the parent's messages by loan
     * (found by a review). */
    int r = recv_right_check(b);
    if (!r)
        r = owner_recv_check(b);
    if (r)
        return r;
    const unsigned char *view = lend_view(b);
    if (!view)
        return -ENOMEM;
    struct mb_ctx c = handle_ctx(b);
    c.sel_how = sel->how;
    c.sel_type = sel->type;
    c.type_out = sel->type_out;
    const void *p;
    ssize_t n = b->seg.kind->recv_loan(&c, &p, info, timeout_ns);
    if (n >= 0) /* the same bytes, seen through the read-only mapping */
        *buf = view + ((const unsigned char *)p - b->seg.base);
    poller_after(b, SEG_POLL_RECV, n, 0);
    return n;
}

int shm_release(struct mbx *m, const void *buf)
{
    struct shm_box *b = shm_box_of(m);
    if (!lends(b))
        return -EINVAL;
    const unsigned char *p = buf, *view = __atomic_load_n(&b->lend_view, __ATOMIC_ACQUIRE);
    if (!view || p < view || p >= view + b->seg.size)
        return -EINVAL; /* not a loan this handle handed out */
    struct mb_ctx c = handle_ctx(b);
    return b->seg.kind->release(&c, b->seg.base + (p - view));
}
