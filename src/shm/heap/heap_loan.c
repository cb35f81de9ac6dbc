/* Zero-copy messages in heap mailboxes: a loan is an arena block handed out
 * in state WRITING (owned by the loaning process) and published in place; a
 * received loan is a block taken off the queue in state LENT (the borrower's
 * identity in its prev field) until released. A repair frees either once its
 * process is dead. */
#include "shm/heap/heap_queue.h"

#include "platform/platform.h"
#include "shm/heap/alloc.h"
#include "shm/heap/prioq.h"
#include "shm/lock.h"
#include "shm/receipts.h"

#include <errno.h>

/* The block whose payload starts at buf, or NULL when buf is not one. */
static struct seg_blk *block_of_payload(const struct seg *s, const void *buf)
{
    const unsigned char *p = buf;
    if (p < s->base + sizeof(struct seg_blk) || p >= s->base + s->size)
        return NULL;
    return seg_blk_at(s, (uint64_t)(p - s->base) - sizeof(struct seg_blk));
}

int heap_loan(const struct mb_ctx *c, size_t len, void **buf)
{
    struct seg *s = c->s;
    heap_prefetch(s);
    alloc_prefetch(s, seg_blk_size(len));
    int r = seg_lock(s, clock_deadline(SEG_LOCK_GRACE_NS));
    if (r)
        return seg_lock_error(r, MBX_NONBLOCK);
    struct seg_blk *b = NULL;
    r = seg_removed(s) ? -EIDRM : heap_alloc(s, len, c->who, &b);
    if (r == 0) {
        b->len = len; /* the loan's size, so that mbx_send_loan can check it */
        *buf = seg_payload(b);
    } else if (r == -ENOMEM) {
        r = heap_bounded(s) ? -EAGAIN : -ENOSPC;
    }
    heap_unlock(s);
    return r;
}

struct send_loan_args {
    void *buf;
    size_t len;
    unsigned prio;
    struct heap_sent sent;
};

/* Under the lock: publishes the loan in place, or -EAGAIN to wait for room
 * (the loan stays ours meanwhile). */
static ssize_t send_loan_step(const struct mb_ctx *c, void *arg)
{
    struct send_loan_args *a = arg;
    struct seg *s = c->s;
    struct seg_blk *b = block_of_payload(s, a->buf);
    int r;
    if (!b || b->state != BLK_WRITING || b->sender_pid != c->pid ||
        b->sender_start != ident_start(c->who) || a->len > b->len || !seg_len_ok(s, b, a->len))
        return -EINVAL;
    if (heap_bounded(s) && s->hdr->hot.count >= s->capacity)
        return -EAGAIN;
    if ((r = heap_publish(c, b, a->buf, a->len, a->prio)) == 0)
        heap_note_sent(c, b, &a->sent);
    return r;
}

int heap_send_loan(const struct mb_ctx *c, void *buf, size_t len, unsigned prio, int64_t timeout_ns)
{
    struct send_loan_args a = {buf, len, prio, {0, 0, 0}};
    ssize_t r = heap_until(c, 0, timeout_ns, send_loan_step, &a);
    return r ? (int)r : heap_send_done(c, &a.sent, timeout_ns);
}

struct recv_loan_args {
    const void **buf;
    mbx_msginfo *info;
};

/* Under the lock: lends the next message, or -EAGAIN to wait. */
static ssize_t recv_loan_step(const struct mb_ctx *c, void *arg)
{
    struct recv_loan_args *a = arg;
    struct seg *s = c->s;
    struct seg_hdr *h = s->hdr;
    struct seg_blk *b = NULL;
    ssize_t r = c->sel_how != MBX_SEL_ANY ? prioq_find_select(s, c->sel_how, c->sel_type, &b)
                                          : prioq_top(s, &b);
    if (r || !b)
        return r ? r : -EAGAIN;
    uint64_t len = b->len;
    if (!seg_len_ok(s, b, len) || seg_blk_size(len) > b->size)
        return -EUCLEAN;
    if ((r = prioq_remove(s, b)))
        return r;
    if (a->info)
        heap_fill_info(a->info, b, len);
    if (c->type_out)
        *c->type_out = b->type;
    if (b->token && !(b->token & REPLY_BIT))
        receipt_taken(s, b->token, c->who, c->uid);
    b->prev = c->who;
    __atomic_store_n(&b->state, BLK_LENT, __ATOMIC_RELEASE);
    __atomic_store_n(&h->meta.bytes, h->meta.bytes - len, __ATOMIC_RELAXED);
    __atomic_store_n(&h->meta.received_total, h->meta.received_total + 1, __ATOMIC_RELAXED);
    __atomic_store_n(&h->hot.count, h->hot.count - 1, __ATOMIC_RELEASE);
    heap_changed(s, SEG_POLL_SEND);
    *a->buf = seg_payload(b);
    return (ssize_t)len;
}

ssize_t heap_recv_loan(const struct mb_ctx *c, const void **buf, mbx_msginfo *info,
                       int64_t timeout_ns)
{
    struct recv_loan_args a = {buf, info};
    return heap_until(c, 1, timeout_ns, recv_loan_step, &a);
}

int heap_release(const struct mb_ctx *c, const void *buf)
{
    struct seg *s = c->s;
    int r = seg_lock(s, clock_deadline(SEG_CALL_BOUND_NS));
    if (r)
        return r;
    struct seg_blk *b = block_of_payload(s, buf);
    prefetch_write(&s->hdr->meta);
    if (b)
        alloc_prefetch(s, b->size);
    if (!b || b->state != BLK_LENT || b->prev != c->who) {
        r = -EINVAL;
    } else {
        /* Always ours to free, rendezvous or not: a rendezvous sender
         * stops watching a block once it sees it lent (heap_rendezvous_wait). */
        alloc_free(s, b);
        heap_changed(s, SEG_POLL_SEND);
    }
    heap_unlock(s);
    return r;
}
