#include "shm/recv_right.h"

#include "platform/platform.h"

#include <errno.h>

/* The holder is one 64-bit process identity, claimed with a
 * compare-and-swap: no lock. */

static uint64_t next_id;

static int exclusive(const struct shm_box *b)
{
    return (b->base.flags & MBX_RECV) && b->seg.recv_policy == MBX_RECV_EXCLUSIVE;
}

int recv_right_take(struct shm_box *b)
{
    if (!exclusive(b))
        return 0;
    b->recv_id = __atomic_add_fetch(&next_id, 1, __ATOMIC_RELAXED);
    b->recv_owner = ident_self();
    struct seg_model *md = &b->seg.hdr->model;
    uint64_t cur = __atomic_load_n(&md->receiver, __ATOMIC_ACQUIRE);
    for (;;) {
        if (cur != 0 && ident_alive(cur))
            return -EBUSY;
        if (__atomic_compare_exchange_n(&md->receiver, &cur, b->recv_owner, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE))
            break;
    }
    __atomic_store_n(&md->receiver_handle, b->recv_id, __ATOMIC_RELEASE);
    return 0;
}

int recv_right_check(const struct shm_box *b)
{
    /* A forked child inherits the handle, not the right. */
    return !exclusive(b) || b->recv_owner == ident_self() ? 0 : -EACCES;
}

void recv_right_drop(struct shm_box *b)
{
    if (!exclusive(b) || b->recv_owner != ident_self())
        return;
    struct seg_model *md = &b->seg.hdr->model;
    uint64_t me = b->recv_owner;
    if (__atomic_load_n(&md->receiver_handle, __ATOMIC_ACQUIRE) != b->recv_id)
        return;
    __atomic_compare_exchange_n(&md->receiver, &me, 0, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}
