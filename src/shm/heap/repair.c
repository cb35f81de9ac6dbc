#include "shm/heap/repair.h"

#include "shm/heap/alloc.h"
#include "platform/platform.h"
#include "shm/heap/prioq.h"

#include <errno.h>

struct tally {
    uint64_t count, bytes, max_seq;
    int all_dead; /* after a reboot: every recorded process is gone */
    struct holder_lookups seen;
};

/* Whether holder who is alive, asked once per walk and for at most
 * REPAIR_LOOKUPS holders (repair.h); past that, alive. */
static int holder_alive(struct holder_lookups *l, ident_t who)
{
    for (unsigned i = 0; i < l->n; i++)
        if (l->who[i] == who)
            return l->alive[i];
    if (l->n == REPAIR_LOOKUPS)
        return 1;
    int alive = ident_alive(who);
    l->who[l->n] = who;
    l->alive[l->n++] = (uint8_t)alive;
    return alive;
}

static int gone(struct tally *t, ident_t who)
{
    return t->all_dead || !holder_alive(&t->seen, who);
}

/* The sender of a block (WRITING, TAKEN), and the borrower of a LENT one. */
static ident_t sender_of(const struct seg_blk *b)
{
    return ident_make(b->sender_pid, b->sender_start);
}

static int visit(struct seg *s, struct seg_blk *b, void *arg)
{
    struct tally *t = arg;
    switch (b->state) {
    case BLK_WRITING:
        /* A sender died before publishing it (the lock holder that died, or
         * a process holding it as a loan); a live loaner keeps it. */
        return gone(t, sender_of(b));
    case BLK_LENT:
        /* Lent to a receiver (ident in prev) that died without releasing it. */
        return gone(t, b->prev);
    case BLK_TAKEN:
        /* Received; its rendezvous sender frees it, unless it is gone. */
        return gone(t, sender_of(b));
    case BLK_QUEUED:
        if (b->prio >= MBX_PRIO_MAX || !seg_len_ok(s, b, b->len) || seg_blk_size(b->len) > b->size)
            return -EUCLEAN;
        t->count++;
        t->bytes += b->len;
        if (b->seq > t->max_seq)
            t->max_seq = b->seq;
        return prioq_push(s, b);
    default:
        return -EUCLEAN;
    }
}

int repair_reclaim_visit(struct seg *s, struct seg_blk *b, void *arg)
{
    (void)s;
    struct holder_lookups *seen = arg;
    switch (b->state) {
    case BLK_QUEUED:
        return 0;
    case BLK_WRITING:
    case BLK_TAKEN:
        return holder_alive(seen, sender_of(b)) ? 0 : 1;
    case BLK_LENT:
        return holder_alive(seen, b->prev) ? 0 : 1;
    default:
        return -EUCLEAN;
    }
}

int repair_segment(struct seg *s, int all_dead)
{
    struct seg_hdr *h = s->hdr;
    struct tally t = {0, 0, 0, all_dead, {{0}, {0}, 0}};
    prioq_clear(s);
    int r = alloc_rebuild(s, visit, &t);
    if (!r)
        r = prioq_sort(s, t.count);
    if (r)
        return r;
    if (t.count > UINT32_MAX)
        return -EUCLEAN;
    __atomic_store_n(&h->meta.bytes, t.bytes, __ATOMIC_RELAXED);
    __atomic_store_n(&h->meta.repairs, h->meta.repairs + 1, __ATOMIC_RELAXED);
    if (h->meta.seq_next <= t.max_seq)
        __atomic_store_n(&h->meta.seq_next, t.max_seq + 1, __ATOMIC_RELAXED);
    __atomic_store_n(&h->hot.count, (uint32_t)t.count, __ATOMIC_RELEASE);
    return 0;
}
