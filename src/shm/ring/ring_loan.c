/* Zero copy in ring mailboxes: a loan is a slot held CLAIMED by the loaning
 * process until mbx_send_loan publishes it in place; a received loan is a
 * slot held LENT until mbx_release frees it. A dead holder's slots are
 * repaired like any other (ring_repair.c). */
#include "shm/ring/ring_impl.h"

#include "shm/wait.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The slot whose payload (its own, or a pool buffer it holds) starts at
 * buf, or NULL when buf is not one. */
static struct ring_slot *slot_of_payload(const struct seg *s, const void *buf)
{
    const unsigned char *p = buf;
    if (p < s->ring_payloads)
        return NULL;
    uint64_t off = (uint64_t)(p - s->ring_payloads);
    if (off / s->slot_size >= s->ring_slots)
        return ring_pool_slot_of(s, p);
    if (off % s->slot_size != 0)
        return NULL;
    struct ring_slot *sl = ring_slot_at(s, off / s->slot_size);
    /* Its own payload: not while its message lies in a pool buffer. */
    return ring_buf_id(s, sl) == ring_index(s, sl) ? sl : NULL;
}

int ring_loan(const struct mb_ctx *c, size_t len, void **buf)
{
    struct ring_slot *sl;
    uint64_t t;
    int r = ring_claim(c, MBX_NONBLOCK, &sl, &t);
    if (r)
        return r;
    ring_pool_drop(c->s, sl); /* a loan is the slot's own payload */
    if ((r = ring_back(c->s, sl, len))) {
        ring_give_up(c->s, sl, t, slot_word(t, SLOT_CLAIMED, c->pid));
        return r;
    }
    /* The loan's size, so that mbx_send_loan can check it. */
    __atomic_store_n(&sl->len, (uint32_t)len, __ATOMIC_RELAXED);
    *buf = ring_payload(c->s, sl);
    return 0;
}

int ring_send_loan(const struct mb_ctx *c, void *buf, size_t len, unsigned prio, int64_t timeout_ns)
{
    struct ring_slot *sl = slot_of_payload(c->s, buf);
    if (!sl)
        return -EINVAL;
    uint64_t w = __atomic_load_n(&sl->word, __ATOMIC_ACQUIRE);
    if (slot_state_of(w) != SLOT_CLAIMED || slot_pid_of(w) != (c->pid & (int32_t)SLOT_PID_MASK) ||
        len > __atomic_load_n(&sl->len, __ATOMIC_RELAXED))
        return -EINVAL;
    uint64_t t = w >> (64 - SLOT_POS_BITS);
    if (__atomic_load_n(&sl->moved, __ATOMIC_ACQUIRE)) {
        /* Held over a lap, the loan was moved on among messages sent after
         * it was taken: published in place, it would come out between
         * them. A copy at the tail keeps the order of sends. The loan's
         * slot is given up first: a copy that waited for room while the
         * loan still held its slot would wait for ever in a ring that only
         * the loan fills (one slot; found by the model check). */
        void *copy = malloc(len ? len : 1);
        if (!copy)
            return -ENOMEM;
        memcpy(copy, buf, len);
        for (w = __atomic_load_n(&sl->word, __ATOMIC_ACQUIRE);
             slot_state_of(w) == SLOT_CLAIMED &&
             slot_pid_of(w) == (c->pid & (int32_t)SLOT_PID_MASK);
             w = __atomic_load_n(&sl->word, __ATOMIC_ACQUIRE))
            if (ring_give_up_if(c->s, sl, w))
                break;
        int r = ring_send(c, copy, len, prio, timeout_ns);
        free(copy);
        return r;
    }
    int r = ring_publish(c, sl, t, w, buf, len, prio, c->reply_token);
    return r == RETRY ? -EINVAL : r;
}

int ring_release(const struct mb_ctx *c, const void *buf)
{
    const struct seg *s = c->s;
    struct ring_ctl *ctl = ring_ctl_of(s);
    struct ring_slot *sl = slot_of_payload(s, buf);
    if (!sl)
        return -EINVAL;
    uint64_t w = __atomic_load_n(&sl->word, __ATOMIC_ACQUIRE);
    if (slot_state_of(w) != SLOT_LENT || slot_pid_of(w) != (c->pid & (int32_t)SLOT_PID_MASK))
        return -EINVAL;
    /* Off the count while the slot is still ours (see PRIO_COUNTED). */
    ring_release_prio(ctl, sl);
    /* A copy lent from a pool buffer: the buffer goes back to the pool. */
    uint32_t pooled = s->ring_pool ? __atomic_load_n(&sl->buf, __ATOMIC_RELAXED) : 0;
    /* A sender may move the loan on by whole laps meanwhile (relocation):
     * free it wherever it is. */
    uint64_t freed;
    for (;;) {
        uint64_t pos = w >> (64 - SLOT_POS_BITS);
        freed = slot_word(pos + s->ring_slots, SLOT_FREE, 0);
        if (__atomic_compare_exchange_n(&sl->word, &w, freed, 0, __ATOMIC_SEQ_CST,
                                        __ATOMIC_ACQUIRE))
            break;
        if (slot_state_of(w) != SLOT_LENT || slot_pid_of(w) != (c->pid & (int32_t)SLOT_PID_MASK))
            return -EINVAL;
    }
    if (pooled)
        ring_pool_put(s, sl, pooled, freed);
    wake_all(s, SEG_POLL_SEND);
    return 0;
}

ssize_t ring_recv_loan(const struct mb_ctx *c, const void **buf, mbx_msginfo *info,
                       int64_t timeout_ns)
{
    return ring_recv_any(c, 0, NULL, SIZE_MAX, info, timeout_ns, buf);
}

int ring_withdraw(const struct mb_ctx *c, uint64_t token)
{
    /* Lent to ourselves and given back: taken off without a copy. */
    struct mb_ctx w = *c;
    w.want_token = token;
    const void *slot;
    ssize_t n = ring_recv_any(&w, 0, NULL, SIZE_MAX, NULL, MBX_NONBLOCK, &slot);
    if (n < 0)
        return n == -EAGAIN ? -ENOENT : (int)n;
    return ring_release(&w, slot);
}
