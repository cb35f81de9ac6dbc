#include "heap_queue.h"

#include "alloc.h"
#include "heap_token.h"
#include "platform/linux/clock.h"
#include "prioq.h"

#include <errno.h>
#include <string.h>

static int removed(const struct seg *s)
{
    return __atomic_load_n(&s->hdr->hot.removed, __ATOMIC_ACQUIRE) != 0;
}

static int bounded(const struct seg *s)
{
    return s->capacity != MBX_UNBOUNDED && s->capacity != MBX_RENDEZVOUS;
}

/* Caller holds the lock. Takes a block for len bytes: 0, -EAGAIN when the
 * sender has to wait for room, -ENOSPC, -EUCLEAN. */
static int make_room(struct seg *s, size_t len, struct seg_blk **b)
{
    struct seg_hdr *h = s->hdr;
    if (bounded(s) && h->hot.count >= s->capacity)
        return -EAGAIN;
    int r = alloc_take(s, len, b);
    if (r == -ENOMEM)
        return bounded(s) ? -EAGAIN : -ENOSPC;
    return r;
}

/* Caller holds the lock. Fills, publishes and links the message. */
static int publish(const struct mb_ctx *c, struct seg_blk *b, const void *buf, size_t len,
                   unsigned prio)
{
    struct seg_hdr *h = c->s->hdr;
    b->len = len;
    b->prio = prio;
    b->sender_pid = c->pid;
    b->sender_uid = c->uid;
    b->reserved = c->reply_token;
    if (len)
        memcpy(seg_payload(b), buf, len);
    b->seq = h->meta.seq_next++;
    /* The commit point: from here on a repair keeps the message. */
    __atomic_store_n(&b->state, BLK_QUEUED, __ATOMIC_RELEASE);
    int r = prioq_push(c->s, b);
    if (r)
        return r;
    h->meta.bytes += len;
    __atomic_store_n(&h->hot.count, h->hot.count + 1, __ATOMIC_RELEASE);
    sync_signal(&h->hot.recv_futex, &h->hot.recv_waiters);
    return 0;
}

int heap_send(const struct mb_ctx *c, const void *buf, size_t len, unsigned prio,
              int64_t timeout_ns)
{
    struct seg *s = c->s;
    struct seg_hot *hot = &s->hdr->hot;
    int64_t deadline = clock_deadline(timeout_ns);
    for (;;) {
        int r = sync_lock(s);
        if (r)
            return r;
        if (removed(s)) {
            sync_unlock(s);
            return -EIDRM;
        }
        uint32_t seen = __atomic_load_n(&hot->send_futex, __ATOMIC_RELAXED);
        struct seg_blk *b = NULL;
        r = make_room(s, len, &b);
        if (r == 0)
            r = publish(c, b, buf, len, prio);
        sync_unlock(s);
        if (r != -EAGAIN)
            return r;
        if (timeout_ns == MBX_NONBLOCK)
            return -EAGAIN;
        r = sync_wait(s, &hot->send_futex, seen, &hot->send_waiters, deadline, &c->wait);
        if (!r && c->poll)
            r = c->poll(c);
        if (r)
            return r;
    }
}

static void fill_info(mbx_msginfo *info, const struct seg_blk *b, uint64_t len)
{
    info->size = len;
    info->priority = b->prio;
    info->sender_pid = b->sender_pid;
    info->sender_uid = b->sender_uid;
    info->seq = b->seq;
    info->reply_token = b->reserved;
}

/* Caller holds the lock. Copies out and removes the message b; the copy
 * comes first, so a receiver dying mid-copy leaves the message queued. */
static ssize_t take(struct seg *s, struct seg_blk *b, void *buf, size_t cap, mbx_msginfo *info)
{
    struct seg_hdr *h = s->hdr;
    uint64_t len = b->len;
    if (!seg_len_ok(s, b, len) || seg_blk_size(len) > b->size)
        return -EUCLEAN;
    if (len > cap) {
        if (info)
            info->size = len;
        return -EMSGSIZE;
    }
    if (len)
        memcpy(buf, seg_payload(b), len);
    if (info)
        fill_info(info, b, len);
    int r = prioq_remove(s, b);
    if (r)
        return r;
    alloc_free(s, b);
    h->meta.bytes -= len;
    h->meta.received_total++;
    __atomic_store_n(&h->hot.count, h->hot.count - 1, __ATOMIC_RELEASE);
    sync_signal(&h->hot.send_futex, &h->hot.send_waiters);
    return (ssize_t)len;
}

ssize_t heap_recv(const struct mb_ctx *c, pid_t from, void *buf, size_t cap, mbx_msginfo *info,
                  int64_t timeout_ns)
{
    struct seg *s = c->s;
    struct seg_hot *hot = &s->hdr->hot;
    int64_t deadline = clock_deadline(timeout_ns);
    for (;;) {
        uint32_t seen = __atomic_load_n(&hot->recv_futex, __ATOMIC_ACQUIRE);
        /* An empty mailbox is seen without the lock: waiting receivers keep
         * off the line senders need. */
        if (__atomic_load_n(&hot->count, __ATOMIC_ACQUIRE) != 0 || removed(s)) {
            int r = sync_lock(s);
            if (r)
                return r;
            if (removed(s)) {
                sync_unlock(s);
                return -EIDRM;
            }
            seen = __atomic_load_n(&hot->recv_futex, __ATOMIC_RELAXED);
            struct seg_blk *b = NULL;
            r = c->want_token ? heap_find_token(s, c->want_token, &b)
                : from > 0    ? prioq_find_from(s, from, &b)
                              : prioq_top(s, &b);
            ssize_t got = r ? r : b ? take(s, b, buf, cap, info) : -EAGAIN;
            sync_unlock(s);
            if (got != -EAGAIN)
                return got;
        }
        if (timeout_ns == MBX_NONBLOCK)
            return -EAGAIN;
        int r = sync_wait(s, &hot->recv_futex, seen, &hot->recv_waiters, deadline, &c->wait);
        if (!r && c->poll)
            r = c->poll(c);
        if (r)
            return r;
    }
}
