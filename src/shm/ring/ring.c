#include "shm/ring/ring_impl.h"

#include "platform/platform.h"
#include "shm/receipts.h"
#include "shm/sleepers.h"
#include "shm/wait.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>

uint64_t ring_slot_size(uint64_t max_msg)
{
    /* At least a line, so that every slot's payload has an address of its
     * own (a loan of 0 bytes names its slot). */
    return max_msg ? (max_msg + SEG_LINE - 1) & ~(uint64_t)(SEG_LINE - 1) : SEG_LINE;
}

int ring_back(const struct seg *s, struct ring_slot *sl, size_t len)
{
    /* A slot's pages get storage the first time it carries a message this
     * long: memory follows the messages, and a full file system is an
     * error here rather than a fault in memcpy. What has storage is known
     * per handle (a slot's storage is never given back), never read from
     * the segment, where a scribbled value would make us skip it. */
    uint32_t *known = s->slot_backed ? &s->slot_backed[ring_buf_id(s, sl)] : NULL;
    if (known && len <= __atomic_load_n(known, __ATOMIC_RELAXED))
        return 0;
    int r = plat_reserve(s->fd, (uint64_t)(ring_payload(s, sl) - s->base), len);
    if (!r && known)
        __atomic_store_n(known, (uint32_t)len, __ATOMIC_RELAXED);
    return r;
}

int ring_give_up_if(const struct seg *s, struct ring_slot *sl, uint64_t mine)
{
    return ring_skip(s, sl, mine);
}

void ring_give_up(const struct seg *s, struct ring_slot *sl, uint64_t t, uint64_t mine)
{
    (void)t;
    /* A sender that came round a lap later may have moved the claim on
     * (relocation): give it up where it is now, or the slot stays claimed
     * in our name, moved on every lap, one slot of room lost until we die. */
    while (!ring_give_up_if(s, sl, mine) && ring_relocated(s, sl, &mine))
        ;
}

/* How long a receiver spins on a head slot being written or copied out
 * before it scans past it for messages behind. */
#define BUSY_HEAD_SPIN_NS 1000

/* Sends this thread made since its last receive, on any ring: a thread
 * sending back to back is a stream, one that alternates is in a round trip. */
static MBX_TLS unsigned sends_in_a_row;

/* Asks for the lines of the slot a sender back to back will claim soon, for
 * writing (prefetch_write): they were last written by its receiver, a lap
 * ago, and fetching them then overlaps with filling this one instead of
 * stalling a later claim (one-way 64 B: about 9 -> 12M msg/s here). Not in
 * a round trip, where it cost 10% of the round trip. */
static void prefetch_for_write(const struct seg *s, const struct ring_slot *next)
{
    prefetch_write(next);
    const unsigned char *p = ring_payload(s, next);
    for (size_t off = 0; off < s->slot_size && off < 3 * SEG_LINE; off += SEG_LINE)
        prefetch_write(p + off);
}

/* A receiver that keeps finding messages waiting (TAKE_STREAK takes in a
 * row without waiting) is behind its senders: it asks for the slot
 * TAKE_AHEAD positions on (header for writing, as its take will write it;
 * the payload's first line for reading), so that slot's lines come from the
 * senders' CPU while it copies out the messages before it, instead of one
 * miss after another. Only in rings of TAKE_AHEAD_MIN_SLOTS or more, where
 * that slot lies well behind the senders' tail. Measured (2 CPUs, 64 B,
 * 1.2 s runs): one sender into a default mailbox 12.3-13.0M -> 21.6-23.5M
 * msg/s, 16 senders 9.5-11.8M -> 13.2-15.0M; the benchmark's one-way row
 * 12.8-13.1M -> 19.0-20.0M. Closer prefetches (4 ahead) cost fan-in (16
 * senders 7.4-9.1M); the streak keeps round trips, where the receiver
 * waits for every message, as they were (0.56-0.59 us at 64 B). Nothing
 * but the benchmark sees it: a prefetch never faults and changes no
 * state. */
#define TAKE_AHEAD           8
#define TAKE_STREAK          8
#define TAKE_AHEAD_MIN_SLOTS 32

/* Takes this thread made on a first look, without waiting, in a row. */
static MBX_TLS unsigned takes_in_a_row;

static void prefetch_ahead(const struct seg *s, uint64_t h)
{
    if (++takes_in_a_row < TAKE_STREAK || s->ring_slots < TAKE_AHEAD_MIN_SLOTS)
        return;
    const struct ring_slot *next = ring_slot_at(s, h + TAKE_AHEAD);
    prefetch_write(next);
    __builtin_prefetch(ring_payload(s, next), 0, 3);
}

/* A slot a waiter keeps an eye on: its holder may have died, or (for a
 * sender wanting position want) may hold it for long. */
struct stuck {
    const struct seg *s;
    struct ring_slot *sl; /* NULL: none */
    uint64_t w;
    uint64_t want; /* RING_NO_POS for a receiver */
};

/* Repairs the stuck slot k names, if its holder died; for a receiver whose
 * stuck slot's holder lives, also the messages of dead receivers behind it.
 * Returns 1 when something was repaired or moved (look again). */
static int unstuck(const struct stuck *k)
{
    if (!k->sl)
        return 0;
    if (ring_unstick(k->s, k->sl, k->w, k->want))
        return 1;
    return k->want == RING_NO_POS && ring_put_back_dead_takers(k->s);
}

static int unstuck_look(void *arg)
{
    return unstuck(arg);
}

/* How long an MBX_NONBLOCK call trusts that a busy slot's holder lives
 * (one found alive by reading /proc, some 10 us) and waits before looking
 * for dead takers again (a walk of every slot). */
#define NB_RECHECK_NS 10000000

/* unstuck() for MBX_NONBLOCK calls, which a program may make in a loop
 * while a slot stays busy (a sender filling a loan): the full check of a
 * holder already found alive is made again only after NB_RECHECK_NS,
 * meanwhile a kill(pid, 0) says whether it is certainly gone; the walk for
 * dead takers runs at most that often per handle. A death is seen at once
 * (its pid gone) or within NB_RECHECK_NS (a zombie, a reused pid), as by a
 * waiting call. Returns 1 when something was repaired or moved. */
static int unstuck_nonblock(const struct mb_ctx *c, const struct stuck *k)
{
    struct shm_box *b = c->box;
    if (!k->sl || !b)
        return unstuck(k);
    int64_t now = clock_now_ns();
    int trusted = k->w == __atomic_load_n(&b->nb_alive_w, __ATOMIC_RELAXED) &&
                  now - __atomic_load_n(&b->nb_alive_at, __ATOMIC_RELAXED) < NB_RECHECK_NS &&
                  ident_id_exists(slot_pid_of(k->w));
    if (!trusted) {
        if (ring_unstick(k->s, k->sl, k->w, k->want))
            return 1;
        __atomic_store_n(&b->nb_alive_w, k->w, __ATOMIC_RELAXED);
        __atomic_store_n(&b->nb_alive_at, now, __ATOMIC_RELAXED);
    }
    if (k->want != RING_NO_POS ||
        now - __atomic_load_n(&b->nb_sweep_at, __ATOMIC_RELAXED) < NB_RECHECK_NS)
        return 0;
    __atomic_store_n(&b->nb_sweep_at, now, __ATOMIC_RELAXED);
    return ring_put_back_dead_takers(k->s);
}

/* Waits (wait.h) until *watch moves off seen, or the stuck slot's word
 * moves (another process may repair it), looking at the stuck slot after
 * the spin and every 10 ms. futex held fseen before the caller looked, so
 * a wake-up after its look is never missed. */
static int ring_wait(const struct mb_ctx *c, const uint64_t *watch, uint64_t seen, uint32_t *futex,
                     uint32_t fseen, uint32_t *waiters, int64_t deadline, struct stuck *k,
                     int *slept)
{
    struct wait_for w = {
        .watch = watch,
        .seen = seen,
        .also = k->sl ? &k->sl->word : NULL,
        .also_seen = k->w,
        .futex = futex,
        .fseen = fseen,
        .waiters = waiters,
        .deadline = deadline,
        .cap_ns = k->sl ? STUCK_POLL_NS : 0,
        .look = k->sl ? unstuck_look : NULL,
        .arg = k,
        .slept = slept,
    };
    return wait_change(c, &w);
}

/* Fills the slot claimed as `mine` and publishes it. Returns 0, or RETRY
 * when the slot was taken from us meanwhile (we were judged dead): the
 * message was then not sent. */
int ring_publish(const struct mb_ctx *c, struct ring_slot *sl, uint64_t t, uint64_t mine,
                 const void *buf, size_t len, unsigned prio, uint64_t token)
{
    const struct seg *s = c->s;
    struct ring_ctl *ctl = ring_ctl_of(s);
    if (s->ring_pool && buf != (const void *)ring_payload(s, sl))
        ring_pool_take(s, sl, len); /* a copy: into the buffer freed last */
    int r = ring_back(s, sl, len);
    if (r) {
        ring_give_up(s, sl, t, mine);
        return r;
    }
    __atomic_store_n(&sl->len, (uint32_t)len, __ATOMIC_RELAXED);
    __atomic_store_n(&sl->sender_pid, c->pid, __ATOMIC_RELAXED);
    __atomic_store_n(&sl->sender_uid, c->uid, __ATOMIC_RELAXED);
    __atomic_store_n(&sl->origin, c->origin, __ATOMIC_RELAXED);
    __atomic_store_n(&sl->token, token, __ATOMIC_RELAXED);
    __atomic_store_n(&sl->type, c->send_type, __ATOMIC_RELAXED);
    unsigned char *payload = ring_payload(s, sl);
    if (len && buf != (const void *)payload) /* a loan is written in place */
        memcpy(payload, buf, len);
    if (prio) {
        __atomic_fetch_add(&ctl->hiprio, 1, __ATOMIC_SEQ_CST);
        __atomic_store_n(&sl->prio, prio | PRIO_COUNTED, __ATOMIC_RELAXED);
    } else {
        __atomic_store_n(&sl->prio, 0, __ATOMIC_RELAXED);
    }
    /* A sender that came round a lap later may have moved our claim on
     * (relocation): publish at the position it moved to. */
    if (!ring_let_go(s, sl, &mine, SLOT_READY, 0))
        return RETRY;
    (void)t;
    /* Scanning receivers watch `sent`: bump it before looking for sleepers. */
    __atomic_fetch_add(&ctl->sent, 1, __ATOMIC_SEQ_CST);
    wake_for_message(s);
    return 0;
}

/* After claiming position t: a sender woken for room that leaves room
 * behind it wakes the next sleeping sender (see wake_for_room). Only a
 * sender counted asleep since its claim began (ring_claim) does: a wake-up
 * for room goes to such a sender. One that never slept took none, and
 * looking past its claim read the very line the receiver was freeing, on
 * every claim while any sender slept (16 senders into one receiver on 2
 * CPUs, 64 B, default mailbox of 64 slots, 1.5 s runs alternated with the
 * code before: 12.8-15.2M -> 15.9-21.3M msg/s). So the woken sender looks
 * past the positions such senders took meanwhile, to the first that
 * nobody holds: with three senders, one woken (claims t), one that never
 * slept (claims t + 1 before the woken one looks) and one asleep, looking
 * at t + 1 only left the third asleep next to room (found in review). */
static void pass_room_on(const struct seg *s, uint64_t t)
{
    if (!sleepers_any(&s->hdr->hot.send_waiters))
        return;
    for (uint64_t p = t + 1; p < t + s->ring_slots; p++) {
        uint64_t w = __atomic_load_n(&ring_slot_at(s, p)->word, __ATOMIC_SEQ_CST);
        if (slot_dist(w, p) != 0)
            return; /* a lap behind: full */
        if (slot_state_of(w) == SLOT_FREE) {
            wake_for_room(s);
            return;
        }
    }
}

/* Rings this small take the next free slot as it comes (a half is too few
 * slots to be worth waiting for). */
#define HALF_WAIT_MIN_SLOTS 8

enum { HALF_NONE, HALF_HIT, HALF_MISSED };

/* A sender that found position t still holding the last lap's message
 * (full) spins, before it waits for that slot, until the receivers have
 * freed half the ring: while a sender takes each slot the moment it frees,
 * it reads the very line the receiver is copying out of and freeing, and
 * that line crosses between the CPUs several times per message. Waiting
 * for half, each side then works through its own half of the ring, every
 * line crossing once. No later message arrives later: the ring was full,
 * and the receivers drain it meanwhile. Measured (2 CPUs, one sender and
 * one receiver, 64 B, 1.5 s runs alternated with the build before):
 * 64 slots 6.6-7.1M -> 12.0-13.6M msg/s, 8 slots 5.9-7.0M -> 9.1-10.0M,
 * 16 slots 6.8 -> 12.1M, 1024 slots 6.8 -> 14.9-16.1M; a quarter of the
 * ring did less (11.6-12.1M at 64 slots).
 * Only a spin, within the handle's spin budget (wait.c) and the call's
 * deadline; not while other senders sleep for room (they go first); after
 * it the usual wait for slot t, without a second spin when this one
 * missed: two spins per wait took the CPU a relay beside it needed (the
 * benchmark's NATS bridge row, one-way: 0.57-0.81M msg/s before, 0.48-0.65M
 * with two spins, 0.57-0.78M with one).
 * Returns HALF_NONE when it did not spin, HALF_HIT, or HALF_MISSED. Kept out of
 * ring_claim: in its loop, this code slowed the claims of loans, which
 * never wait (loaned one-way 11-15M -> 8.6-9.7M msg/s). */
static __attribute__((noinline)) int wait_for_half(const struct mb_ctx *c, uint64_t t,
                                                   int64_t deadline)
{
    const struct seg *s = c->s;
    uint64_t lap = s->ring_slots, far = t + lap / 2 - 1;
    if (lap < HALF_WAIT_MIN_SLOTS || c->wait.spin_ns == 0 ||
        sleepers_any(&s->hdr->hot.send_waiters))
        return HALF_NONE;
    struct ring_slot *sl = ring_slot_at(s, far);
    uint64_t w = __atomic_load_n(&sl->word, __ATOMIC_ACQUIRE);
    if (slot_dist(w, far) != -(int64_t)lap)
        return HALF_NONE; /* freed already, or not a plain full ring */
    int64_t spin = wait_spin_budget(&c->wait, c->wait.spin_ns > 0 ? c->wait.spin_ns : 20000);
    int64_t left = clock_remaining(deadline);
    if (left >= 0 && left < spin)
        spin = left;
    if (spin <= 0)
        return HALF_NONE;
    int64_t start = clock_now_ns();
    int hit = wait_spin(s, &sl->word, w, spin, &c->wait);
    wait_spin_record(&c->wait, hit, clock_now_ns() - start);
    return hit ? HALF_HIT : HALF_MISSED;
}

/* A sender's wait for the slot of position t, held as k says (f: the
 * senders' futex word before it looked): once per position (*halved) the
 * spin of wait_for_half, then ring_wait (without its spin when the first
 * missed). Returns 0 to look again, or an error of ring_wait. */
static int room_wait(const struct mb_ctx *c, uint64_t t, uint64_t *halved, uint32_t f,
                     int64_t deadline, struct stuck *k, int *slept)
{
    struct mb_ctx once = *c;
    if (t != *halved) {
        *halved = t;
        int spun = wait_for_half(c, t, deadline);
        if (spun == HALF_HIT)
            return 0;
        if (spun == HALF_MISSED && c->wait.spin_ns > 0)
            once.wait.spin_ns = 0; /* spun already; a handle that spins only keeps spinning */
    }
    struct seg_hot *hot = &c->s->hdr->hot;
    return ring_wait(&once, &k->sl->word, k->w, &hot->send_futex, f, &hot->send_waiters, deadline,
                     k, slept);
}

/* Claims the slot of the next position for a message: CLAIMED(t, pid),
 * waiting for room per timeout_ns. Returns 0 with *out and *t set, or
 * -EAGAIN, -ETIMEDOUT, -EINTR, -EIDRM, -EUCLEAN. */
int ring_claim(const struct mb_ctx *c, int64_t timeout_ns, struct ring_slot **out, uint64_t *t_out)
{
    const struct seg *s = c->s;
    struct ring_ctl *ctl = ring_ctl_of(s);
    struct seg_hot *hot = &s->hdr->hot;
    int64_t deadline = CLOCK_DEADLINE_LATER;
    int64_t lap = s->ring_slots;
    unsigned advances = 0;
    /* Positions in a row found held a lap behind (each one's holder moved
     * on, repaired, or waited for): past a lap, every slot is held by a
     * live process, and moving them on again would only spin. */
    int64_t behind = 0;
    uint64_t last_full = RING_NO_POS; /* the last full position met */
    /* Full positions met in this call, never reset: a peer can write a
     * pattern that resets both counters above in turn (a hold to move on,
     * then a slot "taken already" far ahead, again and again), so past
     * RELOCATE_LAPS laps of them no live holder is moved on any more. */
    int64_t full_seen = 0;
    uint64_t halved = RING_NO_POS; /* the position wait_for_half spun for */
    int slept = 0;                 /* counted asleep in a wait: pass_room_on */
    for (;;) {
        if (seg_removed(s))
            return -EIDRM;
        uint32_t f = __atomic_load_n(&hot->send_futex, __ATOMIC_SEQ_CST);
        uint64_t t = __atomic_load_n(&ctl->tail, __ATOMIC_ACQUIRE);
        struct ring_slot *sl = ring_slot_at(s, t);
        uint64_t w = __atomic_load_n(&sl->word, __ATOMIC_ACQUIRE);
        int64_t d = slot_dist(w, t);
        if (d == 0 && slot_state_of(w) == SLOT_FREE) {
            uint64_t mine = slot_word(t, SLOT_CLAIMED, c->pid);
            if (__atomic_compare_exchange_n(&sl->word, &w, mine, 0, __ATOMIC_ACQUIRE,
                                            __ATOMIC_RELAXED)) {
                ring_note_holder(sl, mine, c->who);
                __atomic_store_n(&sl->moved, 0, __ATOMIC_RELAXED);
                ring_advance(&ctl->tail, t);
                if (slept)
                    pass_room_on(s, t);
                if (++sends_in_a_row > 2)
                    prefetch_for_write(s, ring_slot_at(s, t + 2));
                *out = sl;
                *t_out = t;
                return 0;
            }
            continue;
        }
        if (d >= 0) {
            /* Position t is taken already: move the hint on. A hold that
             * another sender moved on there is not progress: counted as
             * progress, two senders would move the same live hold on in
             * turn, each within its lap (found by the model check). */
            if (++advances > ADVANCE_LIMIT)
                return -EUCLEAN;
            if (!__atomic_load_n(&sl->moved, __ATOMIC_ACQUIRE))
                behind = 0;
            ring_advance(&ctl->tail, t);
            continue;
        }
        if (d != -lap || slot_state_of(w) == SLOT_FREE || slot_state_of(w) > SLOT_LENT)
            return -EUCLEAN;
        /* The slot still holds the message of the last lap: full, unless
         * its holder died or holds it for long (see ring_unstick). */
        advances = 0;
        if (t != last_full) {
            behind++;
            full_seen++;
        } else if (!behind) {
            behind++;
        }
        last_full = t;
        /* Within a lap, a live holder is moved on; after that, only dead
         * ones are repaired, and a live one is waited for. */
        int move_on = behind <= lap && full_seen <= RELOCATE_LAPS * lap;
        struct stuck k = {s, sl, w, move_on ? t : RING_NO_POS};
        if (timeout_ns == MBX_NONBLOCK) {
            if (unstuck_nonblock(c, &k))
                continue;
            return -EAGAIN;
        }
        int r = room_wait(c, t, &halved, f, clock_deadline_now(&deadline, timeout_ns), &k, &slept);
        if (r) {
            /* A wake-up for room may have come to us as we left (timed
             * out, interrupted, closing): give it to the next sleeper. */
            if (slept)
                wake_for_room(s);
            return r;
        }
    }
}

int ring_send(const struct mb_ctx *c, const void *buf, size_t len, unsigned prio,
              int64_t timeout_ns)
{
    for (;;) {
        struct ring_slot *sl;
        uint64_t t;
        int r = ring_claim(c, timeout_ns, &sl, &t);
        if (r)
            return r;
        r = ring_publish(c, sl, t, slot_word(t, SLOT_CLAIMED, c->pid), buf, len, prio,
                         c->reply_token);
        if (r != RETRY)
            return r;
    }
}

/* Takes the SLOT_READY message w at position pos: checks its size first, so a
 * too-small buffer leaves it queued. Returns its size, -EMSGSIZE, -EUCLEAN,
 * or RETRY when another receiver took it first. */
static ssize_t take(const struct mb_ctx *c, struct ring_slot *sl, uint64_t pos, uint64_t w,
                    void *buf, size_t cap, mbx_msginfo *info, const void **lend)
{
    const struct seg *s = c->s;
    struct ring_ctl *ctl = ring_ctl_of(s);
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
    uint64_t mine = slot_word(pos, lend ? SLOT_LENT : SLOT_TAKING, c->pid);
    if (!__atomic_compare_exchange_n(&sl->word, &w, mine, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return RETRY;
    ring_note_holder(sl, mine, c->who);
    uint32_t raw_prio = __atomic_load_n(&sl->prio, __ATOMIC_RELAXED);
    uint32_t prio = raw_prio & ~PRIO_COUNTED;
    /* The pool buffer the message lies in, if any (ours to give back once
     * the slot is free). */
    uint32_t pooled = s->ring_pool ? __atomic_load_n(&sl->buf, __ATOMIC_RELAXED) : 0;
    if (len && !lend)
        memcpy(buf, ring_payload(s, sl), len);
    if (info) {
        info->size = len;
        info->priority = prio;
        info->sender_pid = __atomic_load_n(&sl->sender_pid, __ATOMIC_RELAXED);
        info->sender_uid = __atomic_load_n(&sl->sender_uid, __ATOMIC_RELAXED);
        info->sender_host = __atomic_load_n(&sl->origin, __ATOMIC_RELAXED);
        info->seq = pos + 1;
        info->reply_token = __atomic_load_n(&sl->token, __ATOMIC_RELAXED);
    }
    if (c->type_out)
        *c->type_out = __atomic_load_n(&sl->type, __ATOMIC_RELAXED);
    /* A call's caller learns who took its request while the slot is still
     * ours: if we die now, the request goes back to the queue. A caller
     * taking its own request back (withdraw: it asked for this token)
     * signs nothing: its receipt would name it, alive, for good. */
    uint64_t token = __atomic_load_n(&sl->token, __ATOMIC_RELAXED);
    if (token && !(token & REPLY_BIT) && token != c->want_token)
        receipt_taken(s, token, c->who, c->uid);
    if (lend && prio < MBX_PRIO_MAX) {
        /* The slot stays LENT until mbx_release frees it; the message is
         * received now, as in heap mailboxes, so a borrower that dies
         * before releasing does not leave the totals apart. */
        *lend = ring_payload(s, sl);
        __atomic_fetch_add(&ctl->received, 1, __ATOMIC_RELAXED);
        return (ssize_t)len;
    }
    /* A damaged message (a priority a peer wrote) is not lent: the caller
     * gets no pointer to release, and the slot stayed LENT for the
     * process's life (a ring's worth of them stopped every send; found by
     * a review). Its slot is freed as a copy's is. */
    /* Off the count of high priorities while the slot is still ours, so
     * the mark cannot outlive this lap. */
    if (raw_prio & PRIO_COUNTED)
        ring_release_prio(ctl, sl);
    /* Still ours? If someone judged us dead and freed the slot, what we
     * copied may be a newer message's bytes: look again. A sender may have
     * moved our hold on by whole laps (relocation): free it there. */
    if (!ring_let_go(s, sl, &mine, SLOT_FREE, s->ring_slots))
        return RETRY;
    if (pooled) /* on top of the pool, for the next large copy */
        ring_pool_put(s, sl, pooled,
                      slot_word((mine >> (64 - SLOT_POS_BITS)) + s->ring_slots, SLOT_FREE, 0));
    if (prio >= MBX_PRIO_MAX)
        return -EUCLEAN;
    __atomic_fetch_add(&ctl->received, 1, __ATOMIC_RELAXED);
    /* A sender asleep on a full ring is woken when a slot frees (a system
     * call only while one sleeps and none was woken already). */
    wake_for_room(s);
    return (ssize_t)len;
}

/* Moves the head hint past positions already taken or left empty by a dead
 * sender, and returns it. It stops at a message being copied out, so that
 * if its receiver dies the message is found again at the head. *budget
 * bounds the moves a corrupt ring could ask. */
static int ring_settle_head(const struct seg *s, uint64_t *out, unsigned *budget)
{
    struct ring_ctl *ctl = ring_ctl_of(s);
    for (;;) {
        uint64_t h = __atomic_load_n(&ctl->head, __ATOMIC_ACQUIRE);
        struct ring_slot *sl = ring_slot_at(s, h);
        uint64_t w = __atomic_load_n(&sl->word, __ATOMIC_ACQUIRE);
        int64_t d = slot_dist(w, h);
        unsigned st = slot_state_of(w);
        if (st > SLOT_LENT || (d < 0 && d != -(int64_t)s->ring_slots))
            return -EUCLEAN;
        /* A loan out to a receiver is taken: the head passes it. */
        if (!(d > 0 || (d == 0 && (st == SLOT_SKIP || st == SLOT_LENT)))) {
            *out = h;
            return 0;
        }
        if (++*budget > ADVANCE_LIMIT)
            return -EUCLEAN;
        if (d == 0 && st == SLOT_SKIP)
            ring_free_skipped(s, sl, h);
        ring_advance(&ctl->head, h);
    }
}

static int held_by_dead(uint64_t w);

/* A slot word a scan saw being copied out, and when (this thread's). */
static MBX_TLS uint64_t taking_seen_w;
static MBX_TLS int64_t taking_seen_ns;

/* Whether a scan of this thread saw the slot word w being copied out at
 * least TAKING_LOOK_NS ago: only then is its receiver asked whether it
 * lives (a system call). Nearly every such slot is a live receiver's at
 * work, done in microseconds; asking at every sighting cost small
 * receives a kill(2) each time a large higher-priority one was being
 * copied beside them (a review counted 236 in 1,442 receives). */
#define TAKING_LOOK_NS 1000000ll
static int taking_too_long(uint64_t w)
{
    int64_t now = clock_now_ns();
    if (w != taking_seen_w) {
        taking_seen_w = w;
        taking_seen_ns = now;
        return 0;
    }
    return now - taking_seen_ns >= TAKING_LOOK_NS;
}

/* The READY message to take among positions [lo, hi): the oldest of the
 * highest priority (only the one carrying reply token c->want_token, when
 * nonzero, else only from process `from`, when nonzero, and only of the
 * types c selects; MBX_SEL_LE: the lowest type first). Also notes the first
 * slot seen CLAIMED or TAKING, which a waiter must keep an eye on. */
struct pick {
    struct ring_slot *sl;
    uint64_t pos, w;
    uint32_t prio;
    uint64_t type;
    struct ring_slot *claimed;
    uint64_t claimed_w;
    /* The highest priority message being copied out this lap (scan_take
     * looks whether its receiver lives). */
    struct ring_slot *taking;
    uint64_t taking_w;
    uint32_t taking_prio;
};

/* Whether a message of (prio, type) at a later position goes before the
 * one picked so far, p. */
static int goes_before(const struct mb_ctx *c, const struct pick *p, uint32_t prio, uint64_t type)
{
    if (!p->sl)
        return 1;
    if (sel_mode(c->sel_how) == MBX_SEL_LE && type != p->type)
        return type < p->type;
    return prio > p->prio;
}

static void pick(const struct mb_ctx *c, pid_t from, uint64_t lo, uint64_t hi, struct pick *p)
{
    const struct seg *s = c->s;
    uint64_t token = c->want_token;
    p->sl = p->claimed = p->taking = NULL;
    p->taking_prio = 0;
    for (uint64_t pos = lo; pos < hi; pos++) {
        struct ring_slot *sl = ring_slot_at(s, pos);
        uint64_t w = __atomic_load_n(&sl->word, __ATOMIC_ACQUIRE);
        unsigned st = slot_state_of(w);
        int64_t d = slot_dist(w, pos);
        /* Being written, or being copied out (this lap or the last): a
         * waiter keeps an eye on it in case its process died. */
        if (!p->claimed && ((d == 0 && st == SLOT_CLAIMED) ||
                            (d <= 0 && d >= -(int64_t)s->ring_slots && st == SLOT_TAKING))) {
            p->claimed = sl;
            p->claimed_w = w;
        }
        if (d == 0 && st == SLOT_TAKING) {
            uint32_t tp = __atomic_load_n(&sl->prio, __ATOMIC_RELAXED) & ~PRIO_COUNTED;
            if (tp > p->taking_prio) {
                p->taking = sl;
                p->taking_w = w;
                p->taking_prio = tp;
            }
        }
        if (d != 0)
            continue;
        if (slot_state_of(w) != SLOT_READY)
            continue;
        uint32_t prio = __atomic_load_n(&sl->prio, __ATOMIC_RELAXED) & ~PRIO_COUNTED;
        uint64_t type = __atomic_load_n(&sl->type, __ATOMIC_RELAXED);
        if (token ? __atomic_load_n(&sl->token, __ATOMIC_RELAXED) != token
                  : from > 0 && __atomic_load_n(&sl->sender_pid, __ATOMIC_RELAXED) != from)
            continue;
        if (!sel_match(c->sel_how, c->sel_type, type))
            continue;
        if (goes_before(c, p, prio, type)) {
            p->sl = sl;
            p->pos = pos;
            p->w = w;
            p->prio = prio;
            p->type = type;
        }
    }
}

/* Takes the message pick() chooses from the head on. Returns its size, an
 * error, RETRY, or -EAGAIN when there is none (then *p says what was seen
 * CLAIMED). */
static ssize_t scan_take(const struct mb_ctx *c, pid_t from, void *buf, size_t cap,
                         mbx_msginfo *info, const void **lend, unsigned *budget, struct pick *p)
{
    const struct seg *s = c->s;
    struct ring_ctl *ctl = ring_ctl_of(s);
    uint64_t h;
    p->sl = p->claimed = NULL;
    int r = ring_settle_head(s, &h, budget);
    if (r)
        return r;
    /* Up to one past the tail hint: a claim may not have moved it yet; at
     * least the head's slot, which may hold the last lap's message. */
    uint64_t t = __atomic_load_n(&ctl->tail, __ATOMIC_ACQUIRE);
    uint64_t n = t + 1 > h ? t + 1 - h : 1;
    if (n > s->ring_slots)
        n = s->ring_slots;
    pick(c, from, h, h + n, p);
    if (!p->sl)
        return -EAGAIN;
    if (p->prio >= MBX_PRIO_MAX)
        return -EUCLEAN;
    /* A message of a higher priority than ours that a receiver is copying
     * out: if that receiver died, the message goes back and is taken
     * first. It came out after the lower ones (found by a review). */
    if (p->taking && p->taking_prio > p->prio && taking_too_long(p->taking_w) &&
        held_by_dead(p->taking_w) && ring_unstick(s, p->taking, p->taking_w, RING_NO_POS))
        return RETRY;
    /* A slot before ours that was still being written may be READY now. If
     * it holds an older message of at least our priority, it goes first:
     * having seen ours READY, we are bound to see it too. */
    struct pick before;
    pick(c, from, h, p->pos, &before);
    if (before.sl && !goes_before(c, &before, p->prio, p->type))
        return RETRY;
    ssize_t got = take(c, p->sl, p->pos, p->w, buf, cap, info, lend);
    if (got >= 0 && p->pos == h)
        ring_advance(&ctl->head, h);
    return got;
}

/* Receives by copy into buf, or (lend not NULL) by lending the slot. */
ssize_t ring_recv_any(const struct mb_ctx *c, pid_t from, void *buf, size_t cap, mbx_msginfo *info,
                      int64_t timeout_ns, const void **lend)
{
    const struct seg *s = c->s;
    struct ring_ctl *ctl = ring_ctl_of(s);
    struct seg_hot *hot = &s->hdr->hot;
    int64_t deadline = CLOCK_DEADLINE_LATER;
    unsigned budget = 0;
    sends_in_a_row = 0;
    uint64_t busy_w = 0; /* the busy head's word we last spun on */
    int first_look = 1;  /* no wait yet in this call */
    for (;;) {
        if (seg_removed(s))
            return -EIDRM;
        uint32_t f = __atomic_load_n(&hot->recv_futex, __ATOMIC_SEQ_CST);
        const uint64_t *watch;
        uint64_t seen;
        struct stuck stuck = {s, NULL, 0, RING_NO_POS};
        int scan = from > 0 || c->want_token || c->sel_how != MBX_SEL_ANY ||
                   __atomic_load_n(&ctl->hiprio, __ATOMIC_ACQUIRE);
        if (!scan) {
            uint64_t h;
            int r = ring_settle_head(s, &h, &budget);
            if (r)
                return r;
            struct ring_slot *sl = ring_slot_at(s, h);
            uint64_t w = __atomic_load_n(&sl->word, __ATOMIC_ACQUIRE);
            unsigned st = slot_state_of(w);
            if (slot_dist(w, h) == 0 && st == SLOT_READY) {
                ssize_t got = take(c, sl, h, w, buf, cap, info, lend);
                if (got == RETRY)
                    continue;
                if (got >= 0) {
                    ring_advance(&ctl->head, h);
                    if (first_look)
                        prefetch_ahead(s, h);
                }
                return got;
            }
            /* The head's slot moved on since ring_settle_head looked at it
             * (a later lap's message, a loan, a give-up): look again. Its
             * word may never change again, and a message published
             * meanwhile woke nobody (the model check found this). */
            int64_t d = slot_dist(w, h);
            if (d > 0 || (d == 0 && (st == SLOT_SKIP || st == SLOT_LENT)))
                continue;
            /* Nothing to take at the head: free, being written, or being
             * copied out. A process slow at the head must not hide the
             * messages behind it: those need a scan. */
            watch = &sl->word;
            seen = w;
            if (st == SLOT_CLAIMED || st == SLOT_TAKING) {
                stuck.sl = sl;
                stuck.w = w;
                /* Busy: about to change. A short spin on it first, and a
                 * scan (which reads the senders' line, taking it from a
                 * sender streaming messages) only if it stays busy. */
                if (w != busy_w && timeout_ns != MBX_NONBLOCK && c->wait.spin_ns != 0) {
                    busy_w = w;
                    /* No deadline here: the spin is short, and a call must
                     * not time out before it has looked past the head. */
                    wait_spin(s, &sl->word, w, BUSY_HEAD_SPIN_NS, &c->wait);
                    continue;
                }
                scan = 1;
            }
        }
        if (scan) {
            /* Scanners watch `sent`, which every publish bumps. */
            uint64_t sent = __atomic_load_n(&ctl->sent, __ATOMIC_SEQ_CST);
            struct pick p;
            ssize_t r = scan_take(c, from, buf, cap, info, lend, &budget, &p);
            if (r == RETRY)
                continue;
            if (r != -EAGAIN)
                return r;
            watch = &ctl->sent;
            seen = sent;
            if (!stuck.sl && p.claimed) {
                stuck.sl = p.claimed;
                stuck.w = p.claimed_w;
            }
        }
        budget = 0;
        if (timeout_ns == MBX_NONBLOCK) {
            if (unstuck_nonblock(c, &stuck))
                continue;
            return -EAGAIN;
        }
        first_look = 0;
        takes_in_a_row = 0;
        int r = ring_wait(c, watch, seen, &hot->recv_futex, f, &hot->recv_waiters,
                          clock_deadline_now(&deadline, timeout_ns), &stuck, NULL);
        if (r)
            return r;
    }
}

ssize_t ring_recv(const struct mb_ctx *c, pid_t from, void *buf, size_t cap, mbx_msginfo *info,
                  int64_t timeout_ns)
{
    return ring_recv_any(c, from, buf, cap, info, timeout_ns, NULL);
}

void ring_stat(const struct seg *s, mbx_stat *st)
{
    const struct ring_ctl *ctl = ring_ctl_of(s);
    uint32_t n = 0;
    uint64_t b = 0;
    for (uint32_t i = 0; i < s->ring_slots; i++) {
        struct ring_slot *sl = ring_slot_at(s, i);
        uint64_t w = __atomic_load_n(&sl->word, __ATOMIC_ACQUIRE);
        /* A message a dead receiver was copying out counts: the next
         * receive puts it back (ring_ready counts it too; a review saw 2
         * counted of 3 to receive). */
        if (slot_state_of(w) == SLOT_READY ||
            (slot_state_of(w) == SLOT_TAKING && held_by_dead(w))) {
            uint32_t len = __atomic_load_n(&sl->len, __ATOMIC_RELAXED);
            n++;
            b += len <= s->max_msg_size ? len : 0; /* a scribbled length is not counted */
        }
    }
    st->count = n;
    st->bytes = b;
    st->sent_total = __atomic_load_n(&ctl->sent, __ATOMIC_RELAXED);
    st->received_total = __atomic_load_n(&ctl->received, __ATOMIC_RELAXED);
    st->repairs = __atomic_load_n(&ctl->unstuck, __ATOMIC_RELAXED);
}

/* Whether slot word w is held (claimed, being taken, lent) by a process
 * that no longer exists: a call that does not wait repairs it (puts a
 * message being taken back, frees a slot), so the slot counts as what
 * the repair makes of it. One kill(2) per such slot looked at. */
static int held_by_dead(uint64_t w)
{
    unsigned st = slot_state_of(w);
    return (st == SLOT_CLAIMED || st == SLOT_TAKING || st == SLOT_LENT) &&
           !ident_id_exists(slot_pid_of(w));
}

/* Whether a receive would find a READY message: one at or past the head,
 * before the first position no sender has claimed yet. A message a dead
 * receiver was taking counts: the receive puts it back. */
static int ready_recv(const struct seg *s)
{
    uint64_t h = __atomic_load_n(&ring_ctl_of(s)->head, __ATOMIC_SEQ_CST);
    for (uint32_t i = 0; i < s->ring_slots; i++) {
        uint64_t w = __atomic_load_n(&ring_slot_at(s, h + i)->word, __ATOMIC_SEQ_CST);
        int64_t d = slot_dist(w, h + i);
        if (d == 0 && slot_state_of(w) == SLOT_READY)
            return 1;
        if (d == 0 && slot_state_of(w) == SLOT_TAKING && held_by_dead(w))
            return 1;
        if (d < 0 || (d == 0 && slot_state_of(w) == SLOT_FREE))
            return 0; /* the end of what was sent */
    }
    return 0;
}

/* Whether a send would find a free slot: as ring_claim looks, from the
 * tail past positions already claimed to one that is free this lap. A
 * slot of the last lap that a dead process held to write or as a loan
 * counts as free: the send frees it. */
static int ready_send(const struct seg *s)
{
    uint64_t t = __atomic_load_n(&ring_ctl_of(s)->tail, __ATOMIC_SEQ_CST);
    for (uint32_t i = 0; i < s->ring_slots; i++) {
        uint64_t w = __atomic_load_n(&ring_slot_at(s, t + i)->word, __ATOMIC_SEQ_CST);
        int64_t d = slot_dist(w, t + i);
        if (d == 0 && slot_state_of(w) == SLOT_FREE)
            return 1;
        if (d < 0) /* still the last lap's: full, unless a dead process held it as
                      a slot to write or a loan (a message being taken goes back) */
            return slot_state_of(w) != SLOT_TAKING && held_by_dead(w);
    }
    return 0;
}

int ring_ready(const struct seg *s, unsigned dir, uint64_t want)
{
    (void)want; /* every slot takes any message */
    return dir == SEG_POLL_RECV ? ready_recv(s) : ready_send(s);
}
