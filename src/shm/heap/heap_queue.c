#include "shm/heap/heap_queue.h"

#include "shm/heap/alloc.h"
#include "shm/heap/heap_token.h"
#include "platform/platform.h"
#include "shm/heap/prioq.h"
#include "shm/receipts.h"
#include "shm/heap/repair.h"

#include <errno.h>
#include <string.h>

static int removed(const struct seg *s)
{
    return __atomic_load_n(&s->hdr->hot.removed, __ATOMIC_ACQUIRE) != 0;
}

int heap_alloc(struct seg *s, size_t len, ident_t owner, struct seg_blk **b)
{
    int r = alloc_take(s, len, owner, b);
    if (r == -ENOMEM) {
        /* Full: blocks of processes that died holding them come back. */
        r = alloc_rebuild(s, repair_reclaim_visit, NULL);
        if (!r)
            r = alloc_take(s, len, owner, b);
    }
    if (r)
        return r;
    /* Storage for the block, so a full file system is an error, not a
     * fault. Only when the arena grows past what is backed: a system call
     * per new high-water mark, none in the steady state. */
    if ((r = alloc_back(s, *b)) != 0) {
        alloc_free(s, *b);
        return r == -ENOSPC || r == -EDQUOT ? -ENOSPC : r;
    }
    return 0;
}

int heap_bounded(const struct seg *s)
{
    return s->capacity != MBX_UNBOUNDED && s->capacity != MBX_RENDEZVOUS;
}

/* Caller holds the lock. Takes a block for len bytes: 0, -EAGAIN when the
 * sender has to wait for room, -ENOSPC, -EUCLEAN. */
static int make_room(struct seg *s, ident_t owner, size_t len, struct seg_blk **b)
{
    struct seg_hdr *h = s->hdr;
    if (heap_bounded(s) && h->hot.count >= s->capacity)
        return -EAGAIN;
    int r = heap_alloc(s, len, owner, b);
    if (r == -ENOMEM)
        return heap_bounded(s) ? -EAGAIN : -ENOSPC;
    return r;
}

int heap_publish(const struct mb_ctx *c, struct seg_blk *b, const void *buf, size_t len,
                 unsigned prio)
{
    struct seg_hdr *h = c->s->hdr;
    b->len = len;
    b->prio = (uint16_t)prio;
    b->sender_pid = c->pid;
    b->sender_start = ident_start(c->who);
    b->sender_uid = c->uid;
    b->token = c->reply_token;
    if (len && buf != seg_payload(b)) /* a loan is written in place */
        memcpy(seg_payload(b), buf, len);
    b->seq = h->meta.seq_next;
    __atomic_store_n(&h->meta.seq_next, b->seq + 1, __ATOMIC_RELAXED);
    /* The commit point: from here on a repair keeps the message. */
    __atomic_store_n(&b->state, BLK_QUEUED, __ATOMIC_RELEASE);
    int r = prioq_push(c->s, b);
    if (r)
        return r;
    __atomic_store_n(&h->meta.bytes, h->meta.bytes + len, __ATOMIC_RELAXED);
    __atomic_store_n(&h->hot.count, h->hot.count + 1, __ATOMIC_RELEASE);
    sync_signal(&h->hot.recv_futex, &h->hot.recv_waiters);
    return 0;
}

/* Caller holds the lock. A message was copied out: frees its block, or in
 * a rendezvous mailbox marks it taken for its waiting sender. */
static void done_with(struct seg *s, struct seg_blk *b)
{
    /* A rendezvous sender is waiting to see this very block copied out. */
    if (s->capacity == MBX_RENDEZVOUS)
        __atomic_store_n(&b->state, BLK_TAKEN, __ATOMIC_RELEASE);
    else
        alloc_free(s, b);
}

/* Caller holds the lock. Withdraws a message nobody took: unlinks, frees. */
static int withdraw(struct seg *s, struct seg_blk *b)
{
    struct seg_hdr *h = s->hdr;
    int r = prioq_remove(s, b);
    if (r)
        return r;
    __atomic_store_n(&h->meta.bytes, h->meta.bytes - b->len, __ATOMIC_RELAXED);
    __atomic_store_n(&h->hot.count, h->hot.count - 1, __ATOMIC_RELEASE);
    alloc_free(s, b);
    return 0;
}

int heap_rendezvous_wait(const struct mb_ctx *c, uint64_t off, uint64_t seq, uint32_t seen,
                         int64_t timeout_ns)
{
    struct seg *s = c->s;
    struct seg_hot *hot = &s->hdr->hot;
    struct sync_wait_cfg cfg = c->wait;
    int64_t deadline = clock_deadline(timeout_ns);
    if (timeout_ns == MBX_NONBLOCK) {
        deadline = clock_deadline(cfg.spin_ns > 0 ? cfg.spin_ns : 0);
        cfg.spin_ns = cfg.spin_ns < 0 ? 0 : cfg.spin_ns;
    }
    for (;;) {
        int waited = sync_wait(s, &hot->send_futex, seen, &hot->send_waiters, deadline, &cfg);
        if (!waited && c->poll)
            waited = c->poll(c);
        /* Withdrawing needs the lock whatever the deadline says: without
         * a deadline here a stopped holder would keep us for ever, so a
         * send that cannot get it says the message may still be taken. */
        int r = sync_lock(
            s, sync_lock_deadline(waited ? clock_deadline(SYNC_LOCK_GRACE_NS) : deadline));
        if (r)
            return r == -ETIMEDOUT || r == -EINTR ? -EINPROGRESS : r;
        if (removed(s)) {
            sync_unlock(s);
            return -EIDRM;
        }
        /* Blocks never move and sequence numbers are never reused, so
         * unless the block at off is still our message, queued or copied
         * out (TAKEN: we free it), a receiver took it by loan: lent now,
         * or released since (its borrower frees it), then perhaps merged
         * or handed out again, still showing our stale seq in WRITING. */
        struct seg_blk *b = seg_blk_at(s, off);
        if (!b || b->seq != seq || (b->state != BLK_TAKEN && b->state != BLK_QUEUED)) {
            sync_unlock(s);
            return 0;
        }
        if (b->state == BLK_TAKEN) {
            alloc_free(s, b);
            sync_unlock(s);
            return 0;
        }
        if (waited) {
            r = withdraw(s, b);
            sync_unlock(s);
            return r ? r : waited == -ETIMEDOUT && timeout_ns == MBX_NONBLOCK ? -EAGAIN : waited;
        }
        seen = __atomic_load_n(&hot->send_futex, __ATOMIC_RELAXED);
        sync_unlock(s);
    }
}

int heap_send(const struct mb_ctx *c, const void *buf, size_t len, unsigned prio,
              int64_t timeout_ns)
{
    struct seg *s = c->s;
    struct seg_hot *hot = &s->hdr->hot;
    int64_t deadline = clock_deadline(timeout_ns);
    for (;;) {
        int r = sync_lock(s, sync_lock_deadline(deadline));
        if (r)
            return sync_lock_error(r, timeout_ns);
        if (removed(s)) {
            sync_unlock(s);
            return -EIDRM;
        }
        uint32_t seen = __atomic_load_n(&hot->send_futex, __ATOMIC_RELAXED);
        struct seg_blk *b = NULL;
        r = make_room(s, c->who, len, &b);
        if (r == 0)
            r = heap_publish(c, b, buf, len, prio);
        if (r == 0 && s->capacity == MBX_RENDEZVOUS) {
            uint64_t off = seg_off(s, b), seq = b->seq;
            seen = __atomic_load_n(&hot->send_futex, __ATOMIC_RELAXED);
            sync_unlock(s);
            return heap_rendezvous_wait(c, off, seq, seen, timeout_ns);
        }
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

void heap_fill_info(mbx_msginfo *info, const struct seg_blk *b, uint64_t len)
{
    info->size = len;
    info->priority = b->prio;
    info->sender_pid = b->sender_pid;
    info->sender_uid = b->sender_uid;
    info->seq = b->seq;
    info->reply_token = b->token;
}

/* Caller holds the lock. Copies out and removes the message b; the copy
 * comes first, so a receiver dying mid-copy leaves the message queued. */
static ssize_t take(const struct mb_ctx *c, struct seg_blk *b, void *buf, size_t cap,
                    mbx_msginfo *info)
{
    struct seg *s = c->s;
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
        heap_fill_info(info, b, len);
    uint64_t token = b->token;
    if (token && !(token & REPLY_BIT))
        receipt_taken(s, token, c->who);
    int r = prioq_remove(s, b);
    if (r)
        return r;
    done_with(s, b);
    __atomic_store_n(&h->meta.bytes, h->meta.bytes - len, __ATOMIC_RELAXED);
    __atomic_store_n(&h->meta.received_total, h->meta.received_total + 1, __ATOMIC_RELAXED);
    __atomic_store_n(&h->hot.count, h->hot.count - 1, __ATOMIC_RELEASE);
    sync_signal(&h->hot.send_futex, &h->hot.send_waiters);
    return (ssize_t)len;
}

/* Caller holds the lock. Moves the served ticket past holders that gave up;
 * returns -EUCLEAN when the tickets make no sense. */
static int rr_skip(struct seg *s)
{
    struct seg_rr *rr = &s->hdr->rr;
    if (rr->next - rr->serving > SEG_RR_WINDOW)
        return -EUCLEAN;
    while (rr->serving != rr->next && rr->holder[rr->serving % SEG_RR_WINDOW] == 0)
        rr->serving++;
    return 0;
}

/* Caller holds the lock. Gives ticket `my` up and wakes the next holder. */
static void rr_drop(struct seg *s, uint64_t my)
{
    s->hdr->rr.holder[my % SEG_RR_WINDOW] = 0;
    rr_skip(s);
    sync_signal(&s->hdr->hot.recv_futex, &s->hdr->hot.recv_waiters);
}

/* Caller holds the lock. A served holder that died, or is stopped
 * (SIGSTOP), gives its turn up: a stopped one takes a new ticket when it
 * runs again. */
static void rr_reap(struct seg *s, uint64_t my)
{
    struct seg_rr *rr = &s->hdr->rr;
    uint64_t t = rr->serving;
    ident_t who = rr->holder[t % SEG_RR_WINDOW];
    if (t != my && t != rr->next && who && (!ident_alive(who) || proc_stopped(ident_id(who))))
        rr_drop(s, t);
}

/* Caller holds the lock. Whether ticket `my` is still ours to wait on. */
static int rr_mine(const struct seg_rr *rr, uint64_t my, ident_t who)
{
    return my - rr->serving < SEG_RR_WINDOW && rr->holder[my % SEG_RR_WINDOW] == who;
}

#define RR_POLL_NS 50000000ll /* how soon a dead receiver's turn passes on */

/* Round-robin receive: take a ticket, wait for its turn, take the next
 * message. Receivers waiting together are thus served in turn. */
static ssize_t rr_recv(const struct mb_ctx *c, void *buf, size_t cap, mbx_msginfo *info,
                       int64_t timeout_ns)
{
    struct seg *s = c->s;
    struct seg_hot *hot = &s->hdr->hot;
    struct seg_rr *rr = &s->hdr->rr;
    struct sync_wait_cfg cfg = c->wait;
    if (cfg.poll_ns == 0 || cfg.poll_ns > RR_POLL_NS)
        cfg.poll_ns = RR_POLL_NS;
    int64_t deadline = clock_deadline(timeout_ns);
    uint64_t my = 0;
    int have = 0, r;
    for (;;) {
        r = sync_lock(s, sync_lock_deadline(deadline));
        if (r) {
            r = sync_lock_error(r, timeout_ns);
            break;
        }
        ssize_t got = removed(s) ? -EIDRM : rr_skip(s);
        int done = got != 0;
        /* Stopped a while, we may have lost our turn: take a new ticket. */
        if (have && !rr_mine(rr, my, c->who))
            have = 0;
        if (!done && !have && rr->next - rr->serving < SEG_RR_WINDOW) {
            my = rr->next++;
            rr->holder[my % SEG_RR_WINDOW] = c->who;
            have = 1;
        }
        if (!done && have && rr->serving == my) {
            struct seg_blk *b = NULL;
            got = prioq_top(s, &b);
            if (!got && b) {
                got = take(c, b, buf, cap, info);
            }
            done = got != 0 || b != NULL;
        }
        if (!done && timeout_ns == MBX_NONBLOCK) {
            got = -EAGAIN;
            done = 1;
        }
        if (done) {
            if (have)
                rr_drop(s, my);
            sync_unlock(s);
            return got;
        }
        rr_reap(s, my);
        uint32_t seen = __atomic_load_n(&hot->recv_futex, __ATOMIC_RELAXED);
        sync_unlock(s);
        r = sync_wait(s, &hot->recv_futex, seen, &hot->recv_waiters, deadline, &cfg);
        if (!r && c->poll)
            r = c->poll(c);
        if (r)
            break;
    }
    /* Our ticket goes, or the holder of the lock's death passes it on (a
     * ticket whose holder is gone or stopped is skipped). */
    if (have && sync_lock(s, clock_deadline(SYNC_LOCK_GRACE_NS)) == 0) {
        if (rr_mine(rr, my, c->who))
            rr_drop(s, my);
        sync_unlock(s);
    }
    return r;
}

ssize_t heap_recv(const struct mb_ctx *c, pid_t from, void *buf, size_t cap, mbx_msginfo *info,
                  int64_t timeout_ns)
{
    if (from == 0 && !c->want_token && c->s->recv_policy == MBX_RECV_ROUND_ROBIN)
        return rr_recv(c, buf, cap, info, timeout_ns);
    struct seg *s = c->s;
    struct seg_hot *hot = &s->hdr->hot;
    int64_t deadline = clock_deadline(timeout_ns);
    for (;;) {
        uint32_t seen = __atomic_load_n(&hot->recv_futex, __ATOMIC_ACQUIRE);
        /* An empty mailbox is seen without the lock: waiting receivers keep
         * off the line senders need. A holder that died may have queued a
         * message it never counted: taking the lock repairs that. */
        if (__atomic_load_n(&hot->count, __ATOMIC_ACQUIRE) != 0 || removed(s) ||
            sync_holder_died(s)) {
            int r = sync_lock(s, sync_lock_deadline(deadline));
            if (r)
                return sync_lock_error(r, timeout_ns);
            if (removed(s)) {
                sync_unlock(s);
                return -EIDRM;
            }
            seen = __atomic_load_n(&hot->recv_futex, __ATOMIC_RELAXED);
            struct seg_blk *b = NULL;
            r = c->want_token ? heap_find_token(s, c->want_token, &b)
                : from > 0    ? prioq_find_from(s, from, &b)
                              : prioq_top(s, &b);
            ssize_t got = r ? r : b ? take(c, b, buf, cap, info) : -EAGAIN;
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
