/* The heap kind's lock-try-wait loop: every heap call that may wait takes
 * the lock, tries, and waits for the direction's futex word in between. */
#include "shm/heap/heap_queue.h"

#include "platform/platform.h"
#include "shm/lock.h"

#include <errno.h>

int heap_wait(const struct mb_ctx *c, int recv, uint32_t seen, int64_t deadline)
{
    struct seg_hot *hot = &c->s->hdr->hot;
    uint32_t *futex = recv ? &hot->recv_futex : &hot->send_futex;
    struct wait_for w = {
        .watch32 = futex,
        .seen = seen,
        .futex = futex,
        .fseen = seen,
        .waiters = recv ? &hot->recv_waiters : &hot->send_waiters,
        .deadline = deadline,
        /* Nobody signals a holder that died mid-change (a message queued
         * but never counted): the next lock taker repairs it. */
        .look = seg_holder_died_look,
        .arg = c->s,
    };
    return wait_change(c, &w);
}

void heap_prefetch(const struct seg *s)
{
    prefetch_write(&s->hdr->hot);
    prefetch_write(&s->hdr->meta);
    prefetch_write(s->active);
    prefetch_write(s->heads);
}

ssize_t heap_until(const struct mb_ctx *c, int recv, int64_t timeout_ns,
                   ssize_t (*step)(const struct mb_ctx *c, void *arg), void *arg)
{
    struct seg *s = c->s;
    struct seg_hot *hot = &s->hdr->hot;
    uint32_t *futex = recv ? &hot->recv_futex : &hot->send_futex;
    int64_t deadline = clock_deadline(timeout_ns);
    for (;;) {
        uint32_t seen = __atomic_load_n(futex, __ATOMIC_ACQUIRE);
        /* An empty mailbox is seen without the lock: waiting receivers keep
         * off the line senders need. A holder that died may have queued a
         * message it never counted: taking the lock repairs that. */
        if (!recv || __atomic_load_n(&hot->count, __ATOMIC_ACQUIRE) != 0 || seg_removed(s) ||
            seg_holder_died(s)) {
            heap_prefetch(s);
            int r = seg_lock(s, seg_lock_deadline(deadline));
            if (r)
                return seg_lock_error(r, timeout_ns);
            ssize_t got = -EIDRM;
            if (!seg_removed(s)) {
                seen = __atomic_load_n(futex, __ATOMIC_RELAXED);
                got = step(c, arg);
            }
            seg_unlock(s);
            if (got != -EAGAIN)
                return got;
        }
        if (timeout_ns == MBX_NONBLOCK)
            return -EAGAIN;
        int r = heap_wait(c, recv, seen, deadline);
        if (r)
            return r;
    }
}
