/* Zero-copy messages in heap mailboxes: a loan is an arena block handed out
 * in state WRITING (owned by the loaning process) and published in place; a
 * received loan is a block taken off the queue in state LENT (the borrower's
 * identity in its prev field) until released. A repair frees either once its
 * process is dead. */
#include "shm/heap/heap_queue.h"

#include "shm/heap/alloc.h"
#include "platform/platform.h"
#include "shm/receipts.h"
#include "shm/heap/prioq.h"

#include <errno.h>

/* The block whose payload starts at buf, or NULL when buf is not one. */
static struct seg_blk *block_of_payload(const struct seg *s, const void *buf)
{
    const unsigned char *p = buf;
    if (p < s->base + sizeof(struct seg_blk) || p >= s->base + s->size)
        return NULL;
    return seg_blk_at(s, (uint64_t)(p - s->base) - sizeof(struct seg_blk));
}

static int removed(const struct seg *s)
{
    return __atomic_load_n(&s->hdr->hot.removed, __ATOMIC_ACQUIRE) != 0;
}

int heap_loan(const struct mb_ctx *c, size_t len, void **buf)
{
    struct seg *s = c->s;
    int r = sync_lock(s, clock_deadline(SYNC_LOCK_GRACE_NS));
    if (r)
        return sync_lock_error(r, MBX_NONBLOCK);
    struct seg_blk *b = NULL;
    r = removed(s) ? -EIDRM : heap_alloc(s, len, c->who, &b);
    if (r == 0) {
        b->len = len; /* the loan's size, so that mbx_send_loan can check it */
        *buf = seg_payload(b);
    } else if (r == -ENOMEM) {
        r = heap_bounded(s) ? -EAGAIN : -ENOSPC;
    }
    sync_unlock(s);
    return r;
}

int heap_send_loan(const struct mb_ctx *c, void *buf, size_t len, unsigned prio, int64_t timeout_ns)
{
    struct seg *s = c->s;
    struct seg_hot *hot = &s->hdr->hot;
    int64_t deadline = clock_deadline(timeout_ns);
    for (;;) {
        int r = sync_lock(s, sync_lock_deadline(deadline));
        if (r)
            return sync_lock_error(r, timeout_ns);
        struct seg_blk *b = block_of_payload(s, buf);
        if (removed(s))
            r = -EIDRM;
        else if (!b || b->state != BLK_WRITING || b->sender_pid != c->pid ||
                 b->sender_start != ident_start(c->who) || len > b->len || !seg_len_ok(s, b, len))
            r = -EINVAL;
        else if (heap_bounded(s) && hot->count >= s->capacity)
            r = -EAGAIN;
        else
            r = heap_publish(c, b, buf, len, prio);
        if (r == 0 && s->capacity == MBX_RENDEZVOUS) {
            uint64_t off = seg_off(s, b), seq = b->seq;
            uint32_t seen = __atomic_load_n(&hot->send_futex, __ATOMIC_RELAXED);
            sync_unlock(s);
            return heap_rendezvous_wait(c, off, seq, seen, timeout_ns);
        }
        uint32_t seen = __atomic_load_n(&hot->send_futex, __ATOMIC_RELAXED);
        sync_unlock(s);
        if (r != -EAGAIN || timeout_ns == MBX_NONBLOCK)
            return r;
        /* Full: the loan stays ours while we wait for room. */
        r = sync_wait(s, &hot->send_futex, seen, &hot->send_waiters, deadline, &c->wait);
        if (!r && c->poll)
            r = c->poll(c);
        if (r)
            return r;
    }
}

ssize_t heap_recv_loan(const struct mb_ctx *c, const void **buf, mbx_msginfo *info,
                       int64_t timeout_ns)
{
    struct seg *s = c->s;
    struct seg_hdr *h = s->hdr;
    int64_t deadline = clock_deadline(timeout_ns);
    for (;;) {
        int r = sync_lock(s, sync_lock_deadline(deadline));
        if (r)
            return sync_lock_error(r, timeout_ns);
        if (removed(s)) {
            sync_unlock(s);
            return -EIDRM;
        }
        uint32_t seen = __atomic_load_n(&h->hot.recv_futex, __ATOMIC_RELAXED);
        struct seg_blk *b = NULL;
        ssize_t got = prioq_top(s, &b);
        if (!got && b) {
            uint64_t len = b->len;
            if (!seg_len_ok(s, b, len) || seg_blk_size(len) > b->size)
                got = -EUCLEAN;
            else
                got = prioq_remove(s, b);
            if (!got) {
                if (info)
                    heap_fill_info(info, b, len);
                b->prev = c->who;
                __atomic_store_n(&b->state, BLK_LENT, __ATOMIC_RELEASE);
                if (b->token && !(b->token & REPLY_BIT))
                    receipt_taken(s, b->token, c->who);
                __atomic_store_n(&h->meta.bytes, h->meta.bytes - len, __ATOMIC_RELAXED);
                __atomic_store_n(&h->meta.received_total, h->meta.received_total + 1,
                                 __ATOMIC_RELAXED);
                __atomic_store_n(&h->hot.count, h->hot.count - 1, __ATOMIC_RELEASE);
                sync_signal(&h->hot.send_futex, &h->hot.send_waiters);
                *buf = seg_payload(b);
                got = (ssize_t)len;
            }
        } else if (!got) {
            got = -EAGAIN;
        }
        sync_unlock(s);
        if (got != -EAGAIN || timeout_ns == MBX_NONBLOCK)
            return got;
        r = sync_wait(s, &h->hot.recv_futex, seen, &h->hot.recv_waiters, deadline, &c->wait);
        if (!r && c->poll)
            r = c->poll(c);
        if (r)
            return r;
    }
}

int heap_release(const struct mb_ctx *c, const void *buf)
{
    struct seg *s = c->s;
    int r = sync_lock(s, clock_deadline(SYNC_CALL_BOUND_NS));
    if (r)
        return r;
    struct seg_blk *b = block_of_payload(s, buf);
    if (!b || b->state != BLK_LENT || b->prev != c->who) {
        r = -EINVAL;
    } else {
        /* Always ours to free, rendezvous or not: a rendezvous sender
         * stops watching a block once it sees it lent (heap_rendezvous_wait). */
        alloc_free(s, b);
        sync_signal(&s->hdr->hot.send_futex, &s->hdr->hot.send_waiters);
    }
    sync_unlock(s);
    return r;
}
