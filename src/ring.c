#include "ring.h"

#include "platform/linux/clock.h"
#include "platform/linux/liveness.h"
#include "sync.h"

#include <errno.h>
#include <string.h>

/* Sleeps are capped at this while a dead process may hold a slot, so the
 * check for its death comes round. */
#define STUCK_POLL_NS 10000000ll
/* Consecutive hint advances that find no slot to use: a ring this broken
 * is corrupt, not busy. */
#define ADVANCE_LIMIT (1u << 22)
#define RETRY         (-1000000) /* not an errno: look again */

uint64_t ring_slot_size(uint64_t max_msg)
{
    return (sizeof(struct ring_slot) + max_msg + SEG_LINE - 1) & ~(uint64_t)(SEG_LINE - 1);
}

uint64_t ring_bytes_for(uint32_t slots, uint64_t slot_size)
{
    return sizeof(struct ring_ctl) + (uint64_t)slots * slot_size;
}

static struct ring_slot *slot_at(const struct seg *s, uint64_t pos)
{
    unsigned char *first = s->ring + sizeof(struct ring_ctl);
    return (struct ring_slot *)(first + (pos % s->ring_slots) * s->slot_size);
}

void ring_format(unsigned char *ring, uint32_t slots, uint64_t slot_size)
{
    for (uint32_t i = 0; i < slots; i++) {
        struct ring_slot *sl = (struct ring_slot *)(ring + sizeof(struct ring_ctl) + i * slot_size);
        sl->word = slot_word(i, SLOT_FREE, 0);
    }
}

static struct ring_ctl *ctl_of(const struct seg *s)
{
    return (struct ring_ctl *)s->ring;
}

static int removed(const struct seg *s)
{
    return __atomic_load_n(&s->hdr->hot.removed, __ATOMIC_ACQUIRE) != 0;
}

static void advance(uint64_t *hint, uint64_t from)
{
    __atomic_compare_exchange_n(hint, &from, from + 1, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED);
}

/* A slot a process died in the middle of: SLOT_CLAIMED by a dead sender becomes
 * SLOT_SKIP, SLOT_TAKING by a dead receiver becomes free for the next lap. Returns 1
 * when the slot was stuck and is now repaired. */
static int unstick(const struct seg *s, struct ring_slot *sl, uint64_t w)
{
    unsigned st = slot_state_of(w);
    if ((st != SLOT_CLAIMED && st != SLOT_TAKING) || liveness_pid_alive(slot_pid_of(w)))
        return 0;
    uint64_t pos = (w >> (64 - SLOT_POS_BITS));
    uint64_t to = st == SLOT_CLAIMED ? slot_word(pos, SLOT_SKIP, 0)
                                     : slot_word(pos + s->ring_slots, SLOT_FREE, 0);
    if (__atomic_compare_exchange_n(&sl->word, &w, to, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
        struct seg_hot *hot = &s->hdr->hot;
        __atomic_fetch_add(&ctl_of(s)->unstuck, 1, __ATOMIC_RELAXED);
        sync_wake_sleepers(&hot->recv_futex, &hot->recv_waiters);
        sync_wake_sleepers(&hot->send_futex, &hot->send_waiters);
        return 1;
    }
    return 0;
}

/* Waits until *watch moves off seen, the mailbox is removed, or the deadline
 * passes: spins for the handle's spin time, then sleeps on futex. `stuck`
 * is the slot word a dead process may have left, checked between sleeps.
 * Returns 0 (look again), -ETIMEDOUT, -EINTR, or the poll hook's error. */
static int wait_change(const struct mb_ctx *c, const uint64_t *watch, uint64_t seen,
                       uint32_t *futex, uint32_t *waiters, int64_t deadline,
                       struct ring_slot *stuck)
{
    const struct seg *s = c->s;
    int r = sync_spin64(s, watch, seen, c->wait.spin_ns, deadline);
    if (r)
        return r < 0 ? r : 0;
    if (stuck && unstick(s, stuck, seen))
        return 0;
    uint32_t f = __atomic_load_n(futex, __ATOMIC_SEQ_CST);
    r = sync_sleep64(s, watch, seen, futex, f, waiters, deadline,
                     stuck ? STUCK_POLL_NS : c->wait.poll_ns);
    if (r)
        return r;
    return c->poll ? c->poll(c) : 0;
}

/* Fills the claimed slot and publishes it. */
static void publish(const struct mb_ctx *c, struct ring_slot *sl, uint64_t t, const void *buf,
                    size_t len, unsigned prio, uint64_t token)
{
    const struct seg *s = c->s;
    struct ring_ctl *ctl = ctl_of(s);
    sl->len = (uint32_t)len;
    sl->prio = prio;
    sl->sender_pid = c->pid;
    sl->sender_uid = c->uid;
    sl->token = token;
    if (len)
        memcpy(sl + 1, buf, len);
    if (prio)
        __atomic_fetch_add(&ctl->hiprio, 1, __ATOMIC_SEQ_CST);
    __atomic_store_n(&sl->word, slot_word(t, SLOT_READY, 0), __ATOMIC_SEQ_CST);
    __atomic_fetch_add(&ctl->sent, 1, __ATOMIC_RELAXED);
    sync_wake_sleepers(&s->hdr->hot.recv_futex, &s->hdr->hot.recv_waiters);
}

int ring_send(const struct mb_ctx *c, const void *buf, size_t len, unsigned prio,
              int64_t timeout_ns, uint64_t token)
{
    const struct seg *s = c->s;
    struct ring_ctl *ctl = ctl_of(s);
    struct seg_hot *hot = &s->hdr->hot;
    int64_t deadline = clock_deadline(timeout_ns);
    int64_t lap = s->ring_slots;
    unsigned advances = 0;
    for (;;) {
        if (removed(s))
            return -EIDRM;
        uint64_t t = __atomic_load_n(&ctl->tail, __ATOMIC_ACQUIRE);
        struct ring_slot *sl = slot_at(s, t);
        uint64_t w = __atomic_load_n(&sl->word, __ATOMIC_ACQUIRE);
        int64_t d = slot_dist(w, t);
        if (d == 0 && slot_state_of(w) == SLOT_FREE) {
            uint64_t mine = slot_word(t, SLOT_CLAIMED, c->pid);
            if (__atomic_compare_exchange_n(&sl->word, &w, mine, 0, __ATOMIC_ACQUIRE,
                                            __ATOMIC_RELAXED)) {
                advance(&ctl->tail, t);
                publish(c, sl, t, buf, len, prio, token);
                return 0;
            }
            continue;
        }
        if (d >= 0) {
            /* Position t is taken already: move the hint on. */
            if (++advances > ADVANCE_LIMIT)
                return -EUCLEAN;
            advance(&ctl->tail, t);
            continue;
        }
        if (d != -lap || slot_state_of(w) == SLOT_FREE || slot_state_of(w) > SLOT_SKIP)
            return -EUCLEAN;
        /* The slot still holds the message of the last lap: full. */
        advances = 0;
        if (timeout_ns == MBX_NONBLOCK) {
            if (unstick(s, sl, w))
                continue;
            return -EAGAIN;
        }
        int r = wait_change(c, &sl->word, w, &hot->send_futex, &hot->send_waiters, deadline, sl);
        if (r)
            return r;
    }
}

/* Takes the SLOT_READY message w at position pos: checks its size first, so a
 * too-small buffer leaves it queued. Returns its size, -EMSGSIZE, -EUCLEAN,
 * or RETRY when another receiver took it first. */
static ssize_t take(const struct mb_ctx *c, struct ring_slot *sl, uint64_t pos, uint64_t w,
                    void *buf, size_t cap, mbx_msginfo *info)
{
    const struct seg *s = c->s;
    struct ring_ctl *ctl = ctl_of(s);
    uint32_t len = __atomic_load_n(&sl->len, __ATOMIC_RELAXED);
    if (__atomic_load_n(&sl->word, __ATOMIC_ACQUIRE) != w)
        return RETRY;
    if (len > s->max_msg_size)
        return -EUCLEAN;
    if (len > cap) {
        if (info)
            info->size = len;
        return -EMSGSIZE;
    }
    if (!__atomic_compare_exchange_n(&sl->word, &w, slot_word(pos, SLOT_TAKING, c->pid), 0,
                                     __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return RETRY;
    uint32_t prio = sl->prio;
    if (len)
        memcpy(buf, sl + 1, len);
    if (info) {
        info->size = len;
        info->priority = prio;
        info->sender_pid = sl->sender_pid;
        info->sender_uid = sl->sender_uid;
        info->seq = pos + 1;
        info->reply_token = sl->token;
    }
    __atomic_store_n(&sl->word, slot_word(pos + s->ring_slots, SLOT_FREE, 0), __ATOMIC_SEQ_CST);
    if (prio) {
        uint32_t h = __atomic_load_n(&ctl->hiprio, __ATOMIC_RELAXED);
        while (h && !__atomic_compare_exchange_n(&ctl->hiprio, &h, h - 1, 0, __ATOMIC_RELAXED,
                                                 __ATOMIC_RELAXED))
            ;
    }
    __atomic_fetch_add(&ctl->received, 1, __ATOMIC_RELAXED);
    sync_wake_sleepers(&s->hdr->hot.send_futex, &s->hdr->hot.send_waiters);
    return (ssize_t)len;
}

/* Moves the head hint past positions already taken or left empty by a dead
 * sender, and returns it. *budget bounds the moves a corrupt ring could ask. */
static int settle_head(const struct seg *s, uint64_t *out, unsigned *budget)
{
    struct ring_ctl *ctl = ctl_of(s);
    for (;;) {
        uint64_t h = __atomic_load_n(&ctl->head, __ATOMIC_ACQUIRE);
        struct ring_slot *sl = slot_at(s, h);
        uint64_t w = __atomic_load_n(&sl->word, __ATOMIC_ACQUIRE);
        int64_t d = slot_dist(w, h);
        unsigned st = slot_state_of(w);
        if (st > SLOT_SKIP || (d < 0 && d != -(int64_t)s->ring_slots))
            return -EUCLEAN;
        if (!(d > 0 || (d == 0 && (st == SLOT_TAKING || st == SLOT_SKIP)))) {
            *out = h;
            return 0;
        }
        if (++*budget > ADVANCE_LIMIT)
            return -EUCLEAN;
        if (d == 0 && st == SLOT_SKIP)
            __atomic_compare_exchange_n(&sl->word, &w, slot_word(h + s->ring_slots, SLOT_FREE, 0),
                                        0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
        advance(&ctl->head, h);
    }
}

/* Picks, among the SLOT_READY messages (from `from` only, when nonzero), the
 * oldest of the highest priority, and takes it. Returns its size, an error,
 * RETRY, or -EAGAIN when there is none. */
static ssize_t scan_take(const struct mb_ctx *c, pid_t from, void *buf, size_t cap,
                         mbx_msginfo *info, unsigned *budget)
{
    const struct seg *s = c->s;
    struct ring_ctl *ctl = ctl_of(s);
    uint64_t h;
    int r = settle_head(s, &h, budget);
    if (r)
        return r;
    /* Up to one past the tail hint: a claim may not have moved it yet. */
    uint64_t t = __atomic_load_n(&ctl->tail, __ATOMIC_ACQUIRE);
    uint64_t n = t + 1 > h ? t + 1 - h : 0;
    if (n > s->ring_slots)
        n = s->ring_slots;
    struct ring_slot *best = NULL;
    uint64_t best_pos = 0, best_w = 0;
    uint32_t best_prio = 0;
    for (uint64_t pos = h; pos < h + n; pos++) {
        struct ring_slot *sl = slot_at(s, pos);
        uint64_t w = __atomic_load_n(&sl->word, __ATOMIC_ACQUIRE);
        if (slot_dist(w, pos) != 0 || slot_state_of(w) != SLOT_READY)
            continue;
        uint32_t prio = __atomic_load_n(&sl->prio, __ATOMIC_RELAXED);
        if (from > 0 && __atomic_load_n(&sl->sender_pid, __ATOMIC_RELAXED) != from)
            continue;
        if (!best || prio > best_prio) {
            best = sl;
            best_pos = pos;
            best_w = w;
            best_prio = prio;
        }
    }
    if (!best)
        return -EAGAIN;
    if (best_prio >= MBX_PRIO_MAX)
        return -EUCLEAN;
    ssize_t got = take(c, best, best_pos, best_w, buf, cap, info);
    if (got >= 0 && best_pos == h)
        advance(&ctl->head, h);
    return got;
}

ssize_t ring_recv(const struct mb_ctx *c, pid_t from, void *buf, size_t cap, mbx_msginfo *info,
                  int64_t timeout_ns)
{
    const struct seg *s = c->s;
    struct ring_ctl *ctl = ctl_of(s);
    struct seg_hot *hot = &s->hdr->hot;
    int64_t deadline = clock_deadline(timeout_ns);
    unsigned budget = 0;
    for (;;) {
        if (removed(s))
            return -EIDRM;
        const uint64_t *watch;
        uint64_t seen;
        struct ring_slot *stuck = NULL;
        if (from > 0 || __atomic_load_n(&ctl->hiprio, __ATOMIC_ACQUIRE)) {
            seen = __atomic_load_n(&ctl->tail, __ATOMIC_ACQUIRE);
            ssize_t r = scan_take(c, from, buf, cap, info, &budget);
            if (r == RETRY)
                continue;
            if (r != -EAGAIN)
                return r;
            watch = &ctl->tail;
        } else {
            uint64_t h;
            int r = settle_head(s, &h, &budget);
            if (r)
                return r;
            struct ring_slot *sl = slot_at(s, h);
            uint64_t w = __atomic_load_n(&sl->word, __ATOMIC_ACQUIRE);
            unsigned st = slot_state_of(w);
            if (slot_dist(w, h) == 0 && st == SLOT_READY) {
                ssize_t got = take(c, sl, h, w, buf, cap, info);
                if (got == RETRY)
                    continue;
                if (got >= 0)
                    advance(&ctl->head, h);
                return got;
            }
            /* Nothing at the head yet: free, being written, or the last
             * lap's message still being copied out. */
            watch = &sl->word;
            seen = w;
            if (st == SLOT_CLAIMED || st == SLOT_TAKING)
                stuck = sl;
        }
        budget = 0;
        if (timeout_ns == MBX_NONBLOCK) {
            if (stuck && unstick(s, stuck, seen))
                continue;
            return -EAGAIN;
        }
        int r = wait_change(c, watch, seen, &hot->recv_futex, &hot->recv_waiters, deadline, stuck);
        if (r)
            return r;
    }
}

void ring_stat(const struct seg *s, uint32_t *count, uint64_t *bytes, uint64_t *sent,
               uint64_t *received, uint32_t *repairs)
{
    const struct ring_ctl *ctl = ctl_of(s);
    uint32_t n = 0;
    uint64_t b = 0;
    for (uint32_t i = 0; i < s->ring_slots; i++) {
        struct ring_slot *sl = slot_at(s, i);
        if (slot_state_of(__atomic_load_n(&sl->word, __ATOMIC_ACQUIRE)) == SLOT_READY) {
            n++;
            b += __atomic_load_n(&sl->len, __ATOMIC_RELAXED);
        }
    }
    *count = n;
    *bytes = b;
    *sent = __atomic_load_n(&ctl->sent, __ATOMIC_RELAXED);
    *received = __atomic_load_n(&ctl->received, __ATOMIC_RELAXED);
    *repairs = __atomic_load_n(&ctl->unstuck, __ATOMIC_RELAXED);
}
