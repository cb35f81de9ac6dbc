/* Round-robin receivers: tickets taken in call order under the lock, and
 * only the holder of the ticket being served takes the next message. */
#include "shm/heap/heap_queue.h"

#include "platform/platform.h"
#include "shm/heap/prioq.h"
#include "shm/lock.h"

#include <errno.h>

/* Caller holds the lock. Moves the served ticket past holders that gave up;
 * returns -EUCLEAN when the tickets make no sense. */
static int rr_skip(struct seg *s)
{
    struct seg_rr *rr = &s->hdr->rr;
    /* The loop runs on the values checked, read once: a peer that moves
     * `next` after the check must not stretch it past the window. */
    uint64_t next = __atomic_load_n(&rr->next, __ATOMIC_RELAXED);
    uint64_t serving = __atomic_load_n(&rr->serving, __ATOMIC_RELAXED);
    if (next - serving > SEG_RR_WINDOW)
        return -EUCLEAN;
    uint64_t from = serving;
    while (serving != next && rr->holder[serving % SEG_RR_WINDOW] == 0)
        serving++;
    if (serving != from)
        __atomic_store_n(&rr->serving, serving, __ATOMIC_RELAXED);
    return 0;
}

/* Caller holds the lock. Gives ticket `my` up and wakes the next holder. */
static void rr_drop(struct seg *s, uint64_t my)
{
    s->hdr->rr.holder[my % SEG_RR_WINDOW] = 0;
    rr_skip(s);
    heap_changed(s, SEG_POLL_RECV);
}

/* Whether a ticket's holder has left the line: it died, or is stopped
 * (SIGSTOP; a stopped one takes a new ticket when it runs again). */
int heap_rr_absent(ident_t who)
{
    return !ident_alive(who) || proc_stopped(ident_id(who));
}

/* Caller holds the lock. The turns of holders ahead of ticket `my` (or of
 * anyone: my == rr->next) who left the line pass on, until the turn is
 * ours or a present holder's. Every call does it, not only one that
 * waits: a receive that does not wait, behind a holder killed while it
 * waited, would otherwise get -EAGAIN for as long as nobody waits again,
 * with messages queued. One liveness check per call not served at once. */
static void rr_reap(struct seg *s, uint64_t my)
{
    struct seg_rr *rr = &s->hdr->rr;
    for (unsigned i = 0; i < SEG_RR_WINDOW; i++) {
        uint64_t t = rr->serving;
        ident_t who = rr->holder[t % SEG_RR_WINDOW];
        if (t == my || t == rr->next || !who || !heap_rr_absent(who))
            return;
        rr_drop(s, t);
    }
}

/* Caller holds the lock. Whether ticket `my` is still ours to wait on. */
static int rr_mine(const struct seg_rr *rr, uint64_t my, ident_t who)
{
    return my - rr->serving < SEG_RR_WINDOW && rr->holder[my % SEG_RR_WINDOW] == who;
}

#define RR_POLL_NS 50000000ll /* how soon a dead receiver's turn passes on */

/* Round-robin receive: take a ticket, wait for its turn, take the next
 * message. Receivers waiting together are thus served in turn. */
ssize_t heap_rr_recv(const struct mb_ctx *c, void *buf, size_t cap, mbx_msginfo *info,
                     int64_t timeout_ns)
{
    struct seg *s = c->s;
    struct seg_rr *rr = &s->hdr->rr;
    /* Waits look at the turns every RR_POLL_NS at most. */
    struct mb_ctx rc = *c;
    if (rc.wait.poll_ns == 0 || rc.wait.poll_ns > RR_POLL_NS)
        rc.wait.poll_ns = RR_POLL_NS;
    int64_t deadline = CLOCK_DEADLINE_LATER; /* read at the first wait */
    uint64_t my = 0;
    int have = 0, r;
    for (;;) {
        r = seg_lock_call(s, &deadline, timeout_ns);
        if (r) {
            r = seg_lock_error(r, timeout_ns);
            break;
        }
        ssize_t got = seg_removed(s) ? -EIDRM : rr_skip(s);
        int done = got != 0;
        /* Stopped a while, we may have lost our turn: take a new ticket. */
        if (have && !rr_mine(rr, my, c->who))
            have = 0;
        if (!done)
            rr_reap(s, have ? my : rr->next);
        if (!done && !have && rr->next - rr->serving < SEG_RR_WINDOW) {
            my = rr->next++;
            rr->holder[my % SEG_RR_WINDOW] = c->who;
            have = 1;
        }
        if (!done && have && rr->serving == my) {
            struct seg_blk *b = NULL;
            got = prioq_top(s, &b);
            if (!got && b) {
                got = heap_take(c, b, buf, cap, info);
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
            heap_unlock(s);
            return got;
        }
        uint64_t seen = heap_seen(s, 1);
        heap_unlock(s);
        r = heap_wait(&rc, 1, seen, clock_deadline_now(&deadline, timeout_ns));
        if (r)
            break;
    }
    /* Our ticket goes. Without the lock (another holds it past the
     * grace: a peer, or a large copy), its holder word is cleared alone,
     * which the next holder of the lock passes (rr_skip): left naming us,
     * alive and running, it kept every later receive waiting behind it.
     * The word is ours while the ticket is in the window; if the ticket
     * passed meanwhile and another thread of ours took the slot, that
     * thread finds its ticket gone and takes a new one. */
    if (have && seg_lock(s, clock_deadline(SEG_LOCK_GRACE_NS)) == 0) {
        if (rr_mine(rr, my, c->who))
            rr_drop(s, my);
        heap_unlock(s);
    } else if (have && my - __atomic_load_n(&rr->serving, __ATOMIC_ACQUIRE) < SEG_RR_WINDOW) {
        uint64_t mine = c->who;
        __atomic_compare_exchange_n(&rr->holder[my % SEG_RR_WINDOW], &mine, 0, 0, __ATOMIC_ACQ_REL,
                                    __ATOMIC_RELAXED);
    }
    return r;
}
