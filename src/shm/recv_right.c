#include "shm/recv_right.h"

#include "platform/platform.h"

#include <errno.h>

/* A holder is one 64-bit process identity, claimed with a
 * compare-and-swap: no lock. */

static uint64_t next_id;

static int exclusive_recv(const struct shm_box *b)
{
    uint32_t p = b->seg.recv_policy;
    return (b->base.flags & MBX_RECV) && (p == MBX_RECV_EXCLUSIVE || p == MBX_RECV_PAIR);
}

static int exclusive_send(const struct shm_box *b)
{
    return (b->base.flags & MBX_SEND) && b->seg.recv_policy == MBX_RECV_PAIR;
}

/* Claims the right recorded in *holder / *handle for this process's
 * handle id. Returns 0 or -EBUSY. */
static int take(uint64_t *holder, uint64_t *handle, uint64_t me, uint64_t id)
{
    uint64_t cur = __atomic_load_n(holder, __ATOMIC_ACQUIRE);
    for (;;) {
        if (cur != 0 && ident_alive(cur))
            return -EBUSY;
        if (__atomic_compare_exchange_n(holder, &cur, me, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            break;
    }
    __atomic_store_n(handle, id, __ATOMIC_RELEASE);
    return 0;
}

static void drop(uint64_t *holder, uint64_t *handle, uint64_t me, uint64_t id)
{
    /* Only the handle that took it: another handle of the same process
     * (refused at its open) or a later holder keeps theirs. */
    if (__atomic_load_n(handle, __ATOMIC_ACQUIRE) != id)
        return;
    __atomic_compare_exchange_n(holder, &me, 0, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

int recv_right_take(struct shm_box *b)
{
    struct seg_model *md = &b->seg.hdr->model;
    if (exclusive_recv(b)) {
        b->recv_id = __atomic_add_fetch(&next_id, 1, __ATOMIC_RELAXED);
        b->recv_owner = ident_self();
        if (take(&md->receiver, &md->receiver_handle, b->recv_owner, b->recv_id)) {
            b->recv_owner = 0;
            return -EBUSY;
        }
    }
    if (exclusive_send(b)) {
        b->send_id = __atomic_add_fetch(&next_id, 1, __ATOMIC_RELAXED);
        b->send_owner = ident_self();
        if (take(&md->sender, &md->sender_handle, b->send_owner, b->send_id)) {
            b->send_owner = 0;
            recv_right_drop(b);
            return -EBUSY;
        }
    }
    return 0;
}

int recv_right_check(const struct shm_box *b)
{
    /* A forked child inherits the handle, not the right. */
    return !exclusive_recv(b) || b->recv_owner == ident_self() ? 0 : -EACCES;
}

int send_right_check(const struct shm_box *b)
{
    return !exclusive_send(b) || b->send_owner == ident_self() ? 0 : -EACCES;
}

void recv_right_drop(struct shm_box *b)
{
    struct seg_model *md = &b->seg.hdr->model;
    if (exclusive_recv(b) && b->recv_owner && b->recv_owner == ident_self())
        drop(&md->receiver, &md->receiver_handle, b->recv_owner, b->recv_id);
    if (exclusive_send(b) && b->send_owner && b->send_owner == ident_self())
        drop(&md->sender, &md->sender_handle, b->send_owner, b->send_id);
    b->recv_owner = b->send_owner = 0;
}
