/* Heap mailboxes: sending and receiving copies, and rendezvous. */
#include "shm/heap/heap_queue.h"

#include "platform/platform.h"
#include "shm/heap/alloc.h"
#include "shm/heap/prioq.h"
#include "shm/heap/repair.h"
#include "shm/lock.h"
#include "shm/receipts.h"

#include <errno.h>
#include <string.h>

int heap_reclaim(struct seg *s)
{
    struct holder_lookups seen = {{0}, {0}, 0};
    return alloc_rebuild(s, repair_reclaim_visit, &seen);
}

/* Walks of the arena a send that finds it full makes at most, each one
 * freeing what the processes it looked up left (heap_alloc). */
#define RECLAIM_WALKS 16

/* Arenas up to this size hold a largest block per message (block_len). */
#define FIXED_BLOCKS_MAX (8ull << 20)

/* The payload room a message of len bytes takes. A bounded mailbox whose
 * arena holds its capacity of the largest messages, and is small, gives
 * every message a largest block: its capacity then counts messages of any
 * sizes. Blocks of each message's own size fragmented the arena: with
 * messages of mixed sizes queued, a send of the largest size found no
 * room below the capacity (a POSIX queue of 2 x 8192 held a 5000-byte
 * message and refused an 8192-byte one). Storage is still backed only as
 * far as blocks are used. Larger arenas keep packing by size: memory
 * follows the messages, and mixed sizes may fill them first (documented). */
static uint64_t block_len(const struct seg *s, size_t len)
{
    if (!heap_bounded(s))
        return len;
    uint64_t arena = s->arena_end - s->arena_start;
    if (arena > FIXED_BLOCKS_MAX || arena / seg_blk_size(s->max_msg_size) < s->capacity)
        return len;
    return s->max_msg_size;
}

/* The size class of the largest free piece (the bins are by size,
 * ascending), or -1: none. */
static int largest_free(const struct seg *s)
{
    uint64_t mask = __atomic_load_n(&s->hdr->meta.bin_mask, __ATOMIC_RELAXED);
    return mask ? 63 - __builtin_clzll(mask) : -1;
}

int heap_alloc(struct seg *s, size_t len, ident_t owner, struct seg_blk **b)
{
    int r = alloc_take(s, block_len(s, len), owner, b);
    /* Full: blocks of processes that died holding them come back. A walk
     * looks up a bounded number of holders (repair.h): walk again while a
     * walk makes a larger free piece, a bounded number of times. One that
     * frees only pieces too small and apart would free more of the same
     * the next time: a peer who tiled the arena so (a dead holder of its
     * own in every other block) made one send walk a 1 GiB arena 16 times
     * under the lock, 8 s past a 1 ms timeout (found by a review). The
     * next send that finds the arena full walks on. */
    for (int walks = 0; r == -ENOMEM && walks < RECLAIM_WALKS; walks++) {
        uint64_t used = s->hdr->meta.used;
        int largest = largest_free(s);
        r = heap_reclaim(s);
        if (!r)
            r = alloc_take(s, block_len(s, len), owner, b);
        if (r == -ENOMEM && (s->hdr->meta.used >= used || largest_free(s) <= largest))
            break; /* nothing came back, or nothing larger */
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
    b->origin = c->origin;
    b->token = c->reply_token;
    b->type = c->send_type;
    if (len && buf != seg_payload(b)) /* a loan is written in place */
        memcpy(seg_payload(b), buf, len);
    /* Its number; sent_total (seq_next) moves only after the commit below:
     * a sender dying before it left a message the repair drops, and must
     * not leave it counted as sent (a JetStream import judges by this count
     * whether the delivery it was killed in happened: nats/jsstate.h);
     * dying after it, the repair counts the block from its seq. */
    b->seq = h->meta.seq_next;
    /* Counted before the commit point, bytes after the count: the count
     * never reads below the queued blocks, nor 0 beside bytes that are
     * not. Receivers read it without the lock and take the lock only when
     * it is not 0, so a sender dying past the commit but before counting
     * left a message that a receiver which does not wait never saw, until
     * some later repair brought it back (random_kills: an old message
     * delivered among a later round's). Counted too early, a dying sender
     * only makes the next receiver take the lock and repair. */
    __atomic_store_n(&h->hot.count, h->hot.count + 1, __ATOMIC_RELEASE);
    __atomic_store_n(&h->meta.bytes, h->meta.bytes + len, __ATOMIC_RELAXED);
    /* The commit point: from here on a repair keeps the message. */
    __atomic_store_n(&b->state, BLK_QUEUED, __ATOMIC_RELEASE);
    __atomic_store_n(&h->meta.seq_next, b->seq + 1, __ATOMIC_RELAXED);
    int r = prioq_push(c->s, b);
    if (r)
        return r;
    heap_changed(c->s, SEG_POLL_RECV);
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
    /* Freed before uncounted, as heap_take does: dying in between must not
     * leave a queued block the count no longer shows. */
    uint64_t len = b->len;
    alloc_free(s, b);
    __atomic_store_n(&h->meta.bytes, h->meta.bytes - len, __ATOMIC_RELAXED);
    __atomic_store_n(&h->hot.count, h->hot.count - 1, __ATOMIC_RELEASE);
    return 0;
}

int heap_rendezvous_wait(const struct mb_ctx *c, uint64_t off, uint64_t seq, uint64_t seen,
                         int64_t timeout_ns)
{
    struct seg *s = c->s;
    struct mb_ctx nb = *c;
    int64_t deadline = clock_deadline(timeout_ns);
    if (timeout_ns == MBX_NONBLOCK) {
        /* Only the spin phase: a receiver spinning may take it meanwhile. */
        deadline = clock_deadline(nb.wait.spin_ns > 0 ? nb.wait.spin_ns : 0);
        nb.wait.spin_ns = nb.wait.spin_ns < 0 ? 0 : nb.wait.spin_ns;
    }
    for (;;) {
        int waited = heap_wait(&nb, 0, seen, deadline);
        /* Withdrawing needs the lock whatever the deadline says: without
         * a deadline here a stopped holder would keep us for ever, so a
         * send that cannot get it says the message may still be taken. */
        int r =
            seg_lock(s, seg_lock_deadline(waited ? clock_deadline(SEG_LOCK_GRACE_NS) : deadline));
        if (r)
            return r == -ETIMEDOUT ? -EINPROGRESS : r;
        if (seg_removed(s)) {
            heap_unlock(s);
            return -EIDRM;
        }
        /* Blocks never move and sequence numbers are never reused, so
         * unless the block at off is still our message, queued or copied
         * out (TAKEN: we free it), a receiver took it by loan: lent now,
         * or released since (its borrower frees it), then perhaps merged
         * or handed out again, still showing our stale seq in WRITING. */
        struct seg_blk *b = seg_blk_at(s, off);
        if (!b || b->seq != seq || (b->state != BLK_TAKEN && b->state != BLK_QUEUED)) {
            heap_unlock(s);
            return 0;
        }
        if (b->state == BLK_TAKEN) {
            alloc_free(s, b);
            heap_unlock(s);
            return 0;
        }
        if (waited) {
            r = withdraw(s, b);
            heap_unlock(s);
            return r ? r : waited == -ETIMEDOUT && timeout_ns == MBX_NONBLOCK ? -EAGAIN : waited;
        }
        seen = heap_seen(s, 0);
        heap_unlock(s);
    }
}

int heap_send_done(const struct mb_ctx *c, const struct heap_sent *sent, int64_t timeout_ns)
{
    return c->s->capacity == MBX_RENDEZVOUS
               ? heap_rendezvous_wait(c, sent->off, sent->seq, sent->seen, timeout_ns)
               : 0;
}

struct send_args {
    const void *buf;
    size_t len;
    unsigned prio;
    struct heap_sent sent;
};

/* Under the lock: queues a copy, or -EAGAIN to wait for room. */
static ssize_t send_step(const struct mb_ctx *c, void *arg)
{
    struct send_args *a = arg;
    struct seg_blk *b = NULL;
    alloc_prefetch(c->s, seg_blk_size(a->len));
    int r = make_room(c->s, c->who, a->len, &b);
    if (r == 0)
        r = heap_publish(c, b, a->buf, a->len, a->prio);
    if (r == 0)
        heap_note_sent(c, b, &a->sent);
    return r;
}

/* From this size on a message is copied in outside the lock: a block is
 * taken under it, filled without it, and published under it again, as a
 * loan is. Copied under the lock, a large message kept receivers waiting
 * for the whole copy, and a sender's and a receiver's copies took turns
 * (a one-way stream of 64 KiB messages moved half what a ring moves).
 * Below it the second locked step costs more than the copy it frees. */
#define UNLOCKED_COPY_MIN (16u << 10)

struct reserve_args {
    size_t len;
    struct seg_blk *b;
};

/* Under the lock: takes a block with room for the message (the capacity
 * is checked again when it is published), or -EAGAIN to wait for room. */
static ssize_t reserve_step(const struct mb_ctx *c, void *arg)
{
    struct reserve_args *a = arg;
    alloc_prefetch(c->s, seg_blk_size(a->len));
    int r = make_room(c->s, c->who, a->len, &a->b);
    if (r == 0)
        a->b->len = a->len; /* what heap_send_loan checks the send against */
    return r;
}

/* Gives back a block reserve_step took for a send that failed. The lock
 * is waited for its grace only (the send has failed already; a call that
 * does not wait must not wait a second here): without it the block is
 * abandoned, its owner's pid cleared (one store; nobody else writes a
 * block a live process is writing), and the next reclaim or repair frees
 * it as a dead sender's. Kept as a live process's, it stayed taken for as
 * long as the process lived. */
static void unreserve(const struct mb_ctx *c, struct seg_blk *b)
{
    struct seg *s = c->s;
    if (seg_lock(s, clock_deadline(SEG_LOCK_GRACE_NS)) != 0) {
        __atomic_store_n(&b->sender_pid, 0, __ATOMIC_RELEASE);
        return;
    }
    if (b->state == BLK_WRITING && b->sender_pid == c->pid &&
        b->sender_start == ident_start(c->who)) {
        alloc_free(s, b);
        heap_changed(s, SEG_POLL_SEND);
    }
    heap_unlock(s);
}

/* heap_send of a large message into a mailbox that is not a rendezvous. A
 * sender killed before the publish leaves a block in WRITING, which the
 * repair frees: the message was not sent. */
static int send_unlocked(const struct mb_ctx *c, const void *buf, size_t len, unsigned prio,
                         int64_t timeout_ns)
{
    int64_t deadline = timeout_ns > 0 ? clock_deadline(timeout_ns) : -1; /* else no clock read */
    struct reserve_args a = {len, NULL};
    ssize_t r = heap_until_send(c, len, timeout_ns, reserve_step, &a);
    if (r)
        return (int)r;
    void *payload = seg_payload(a.b);
    memcpy(payload, buf, len);
    /* Room again, unless other senders filled the mailbox meanwhile: then
     * the call waits what is left of its time. */
    int64_t left = timeout_ns > 0 ? clock_remaining(deadline) : timeout_ns;
    r = heap_send_loan(c, payload, len, prio, left);
    if (r == -EAGAIN && timeout_ns > 0)
        r = -ETIMEDOUT;
    if (r)
        unreserve(c, a.b);
    return (int)r;
}

int heap_send(const struct mb_ctx *c, const void *buf, size_t len, unsigned prio,
              int64_t timeout_ns)
{
    if (len >= UNLOCKED_COPY_MIN && c->s->capacity != MBX_RENDEZVOUS)
        return send_unlocked(c, buf, len, prio, timeout_ns);
    struct send_args a = {buf, len, prio, {0, 0, 0}};
    ssize_t r = heap_until_send(c, len, timeout_ns, send_step, &a);
    return r ? (int)r : heap_send_done(c, &a.sent, timeout_ns);
}

void heap_note_sent(const struct mb_ctx *c, const struct seg_blk *b, struct heap_sent *sent)
{
    sent->off = seg_off(c->s, b);
    sent->seq = b->seq;
    sent->seen = heap_seen(c->s, 0);
}

void heap_fill_info(mbx_msginfo *info, const struct seg_blk *b, uint64_t len)
{
    info->size = len;
    info->priority = b->prio;
    info->sender_pid = b->sender_pid;
    info->sender_uid = b->sender_uid;
    info->sender_host = b->origin;
    info->seq = b->seq;
    info->reply_token = b->token;
}

/* Caller holds the lock. Copies out and removes the message b; the copy
 * comes first, so a receiver dying mid-copy leaves the message queued. */
ssize_t heap_take(const struct mb_ctx *c, struct seg_blk *b, void *buf, size_t cap,
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
    if (c->type_out)
        *c->type_out = b->type;
    uint64_t token = b->token;
    if (token && !(token & REPLY_BIT))
        receipt_taken(s, token, c->who, c->uid);
    int r = prioq_remove(s, b);
    if (r)
        return r;
    done_with(s, b);
    __atomic_store_n(&h->meta.bytes, h->meta.bytes - len, __ATOMIC_RELAXED);
    __atomic_store_n(&h->meta.received_total, h->meta.received_total + 1, __ATOMIC_RELAXED);
    __atomic_store_n(&h->hot.count, h->hot.count - 1, __ATOMIC_RELEASE);
    heap_changed(s, SEG_POLL_SEND);
    return (ssize_t)len;
}

struct recv_args {
    pid_t from;
    void *buf;
    size_t cap;
    mbx_msginfo *info;
};

/* Under the lock: takes the message to take, or -EAGAIN to wait. */
static ssize_t recv_step(const struct mb_ctx *c, void *arg)
{
    struct recv_args *a = arg;
    struct seg_blk *b = NULL;
    int r = c->want_token               ? prioq_find_token(c->s, c->want_token, &b)
            : a->from > 0               ? prioq_find_from(c->s, a->from, &b)
            : c->sel_how != MBX_SEL_ANY ? prioq_find_select(c->s, c->sel_how, c->sel_type, &b)
                                        : prioq_top(c->s, &b);
    return r ? r : b ? heap_take(c, b, a->buf, a->cap, a->info) : -EAGAIN;
}

ssize_t heap_recv(const struct mb_ctx *c, pid_t from, void *buf, size_t cap, mbx_msginfo *info,
                  int64_t timeout_ns)
{
    if (from == 0 && !c->want_token && c->sel_how == MBX_SEL_ANY &&
        c->s->recv_policy == MBX_RECV_ROUND_ROBIN)
        return heap_rr_recv(c, buf, cap, info, timeout_ns);
    struct recv_args a = {from, buf, cap, info};
    return heap_until(c, 1, timeout_ns, recv_step, &a);
}

/* Under the lock: takes back the message carrying the token. */
static ssize_t withdraw_step(const struct mb_ctx *c, void *arg)
{
    const uint64_t *token = arg;
    struct seg_blk *b = NULL;
    int r = prioq_find_token(c->s, *token, &b);
    if (r)
        return r;
    if (!b)
        return -ENOENT;
    if ((r = withdraw(c->s, b)))
        return r;
    heap_changed(c->s, SEG_POLL_SEND);
    return 0;
}

int heap_withdraw(const struct mb_ctx *c, uint64_t token)
{
    ssize_t r = heap_until(c, 1, MBX_NONBLOCK, withdraw_step, &token);
    return r == -EAGAIN ? -ENOENT : (int)r;
}
