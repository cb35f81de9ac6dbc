#include "shm/wait.h"

#include "platform/platform.h"
#include "shm/shm.h"
#include "shm/poll.h"
#include "shm/sleepers.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>

/* Sleep in slices at most this long even without a deadline: a relative
 * futex timeout is what makes a signal handler end the wait with EINTR,
 * and a sleeper counts itself again after each slice (sleepers.h). */
#define SLICE_NS SLEEPERS_SLICE_NS

/* How long one sleeps who could not be counted (32767 sleepers already). */
#define UNCOUNTED_SLICE_NS 1000000ll

/* How often an endless spin looks at what nobody signals. */
#define LOOK_NS 10000000ll

/* Where the epoch of the count word `waiters` began: one per direction. */
static uint32_t *epoch_since(const struct seg *s, const uint32_t *waiters)
{
    return &s->hdr->meta.sleep_epoch_ms[waiters == &s->hdr->hot.recv_waiters ? 0 : 1];
}

/* What a spin reads at every step: the watched words, and removal unless
 * the wait is quiet (wait.h). */
static int moved(const struct seg *s, const struct wait_for *w)
{
    uint64_t now = w->watch ? __atomic_load_n(w->watch, __ATOMIC_ACQUIRE)
                            : __atomic_load_n(w->watch32, __ATOMIC_SEQ_CST);
    if (now != w->seen)
        return 1;
    if (w->also && __atomic_load_n(w->also, __ATOMIC_ACQUIRE) != w->also_seen)
        return 1;
    return !w->quiet && seg_removed(s);
}

/* What a quiet wait reads on the mailbox's hot line every few steps, and
 * before it sleeps: its futex word and removal. */
static int moved_hot(const struct seg *s, const struct wait_for *w)
{
    return w->quiet && (__atomic_load_n(w->futex, __ATOMIC_SEQ_CST) != w->fseen || seg_removed(s));
}

/* Everything that ends a wait. */
static int moved_any(const struct seg *s, const struct wait_for *w)
{
    return moved(s, w) || moved_hot(s, w);
}

/* The mark of a wake-up pending for the waiters of futex word f
 * (wait.h), or NULL for a word that has none. */
static uint32_t *woken_of(const struct seg *s, const uint32_t *f)
{
    struct seg_hot *hot = &s->hdr->hot;
    return f == &hot->send_futex   ? &hot->send_woken
           : f == &hot->recv_futex ? &hot->recv_woken
                                   : NULL;
}

/* The longest this sleep may last: the slice, the wait's cap, the call's
 * poll period and the deadline, whichever comes first. */
static int64_t nap_for(const struct mb_ctx *c, const struct wait_for *w, int64_t left, int ticket)
{
    int64_t nap = ticket < 0 ? UNCOUNTED_SLICE_NS : SLICE_NS;
    if (w->cap_ns > 0 && w->cap_ns < nap)
        nap = w->cap_ns;
    if (c->wait.poll_ns > 0 && c->wait.poll_ns < nap)
        nap = c->wait.poll_ns;
    return left >= 0 && left < nap ? left : nap;
}

/* Spinning only pays while the process that will end the wait runs on
 * another CPU. When both share one (another program keeps the other CPU
 * busy, and a wake-up put the peer beside us), a spin only keeps the peer
 * from running until it gives up: on a 2-CPU machine with one busy loop
 * beside it, a 64 B round trip took 47 us (two 20 us spins) instead of
 * 0.55. So a handle whose spins missed MISSES_TO_PROBE times in a row
 * spins only briefly (PROBE_TIMES what its spins took when they hit, at
 * least PROBE_MIN_NS), and every RETEST_EVERY-th wait whole again, which
 * a peer running beside us again turns back into hits. Measured there:
 * 47 -> 4.4-5 us, and no change on an idle machine.
 *
 * The handle's record of its spins (one word, struct wait_cfg):
 *   bits 0-7    spins in a row that missed (saturating)
 *   bits 8-15   short spins since the last whole one
 *   bits 16-31  how long a spin that hit took, a moving average, in
 *               units of 64 ns */
#define MISSES_TO_PROBE 4
#define PROBE_MIN_NS    1000
#define PROBE_TIMES     4
#define RETEST_EVERY    8
#define SR_MISSES(r)    ((r)&0xffu)
#define SR_SHORT(r)     (((r) >> 8) & 0xffu)
#define SR_HIT(r)       ((int64_t)((r) >> 16) * 64)

/* A spin also stops when the machine has more runnable threads than CPUs
 * (cpus_crowded): then it is likely to keep the very thread it waits for,
 * or one that thread waits for, off a CPU. A short wait never asks (a
 * round trip of a few hundred ns pays nothing); a longer one asks after
 * CROWD_AFTER_NS and again every CROWD_EVERY_NS. Measured on a 2-CPU VM,
 * 64 B one-way through a tcp:// gateway (client, its writer, the gateway's
 * reader and the receiver: four busy threads): the receiver's spins, most
 * of which hit, took a CPU the gateway needed; alternated quick benchmark
 * runs 1.08 and 1.54M -> 1.92 and 2.36M msg/s. */
#define CROWD_AFTER_NS 2000
#define CROWD_EVERY_NS 10000

int64_t wait_spin_budget(const struct wait_cfg *cfg, int64_t spin_ns)
{
    if (spin_ns <= 0 || !cfg->spins)
        return spin_ns;
    uint32_t r = __atomic_load_n(cfg->spins, __ATOMIC_RELAXED);
    if (SR_MISSES(r) < MISSES_TO_PROBE)
        return spin_ns;
    /* Now and then a whole spin again: the peer may run beside us again. */
    uint32_t n = (SR_SHORT(r) + 1) & 0xffu;
    __atomic_store_n(cfg->spins, (r & ~0xff00u) | n << 8, __ATOMIC_RELAXED);
    if (n % RETEST_EVERY == 0)
        return spin_ns;
    int64_t probe = SR_HIT(r) * PROBE_TIMES;
    if (probe < PROBE_MIN_NS)
        probe = PROBE_MIN_NS;
    return probe < spin_ns ? probe : spin_ns;
}

void wait_spin_record(const struct wait_cfg *cfg, int hit, int64_t took)
{
    if (!cfg->spins)
        return;
    uint32_t r = __atomic_load_n(cfg->spins, __ATOMIC_RELAXED), v;
    if (hit) {
        int64_t avg = SR_HIT(r), t = took < (0xffffll * 64) ? took : 0xffffll * 64;
        avg += (t - avg) / 4;
        v = (uint32_t)((avg + 32) / 64) << 16; /* rounded: truncating stalls low */
    } else {
        v = SR_MISSES(r) < 0xff ? r + 1 : r;
    }
    if (v != r)
        __atomic_store_n(cfg->spins, v, __ATOMIC_RELAXED);
}

/* When a spin first asks whether the machine is crowded: after
 * CROWD_AFTER_NS, or twice what its spins took when they hit if that is
 * longer, so that a wait which usually ends within a few microseconds (a
 * peer copying 64 KiB) does not notice its change up to a read of
 * /proc/loadavg late (64 KiB call round trip 11.5 -> 13 us when every
 * such wait asked after 2 us). */
static int64_t crowd_first(const struct wait_cfg *cfg)
{
    int64_t hit = cfg->spins ? SR_HIT(__atomic_load_n(cfg->spins, __ATOMIC_RELAXED)) * 2 : 0;
    return hit > CROWD_AFTER_NS ? hit : CROWD_AFTER_NS;
}

int wait_change(const struct mb_ctx *c, const struct wait_for *w)
{
    const struct seg *s = c->s;
    const struct wait_cfg *cfg = &c->wait;
    if (wait_closing(cfg))
        return -EBADF;
    int64_t spin_ns = cfg->spin_ns;
    if (spin_ns > 0 && sleepers_any(w->waiters))
        spin_ns = 0;
    spin_ns = wait_spin_budget(cfg, spin_ns);
    if (spin_ns != 0) {
        int64_t start = clock_now_ns(), looked = start, crowd_at = start + crowd_first(cfg);
        /* The deadline, at every wait, before a change can end it: a
         * caller looks again after each change, and peers that change the
         * mailbox before each of its waits without its operation ever
         * succeeding (a receive filtered for a sender that is silent
         * beside others exchanging messages) would end every wait within
         * its first steps, before the clock below is read, for as long as
         * they keep that up. The spin's own clock read: nothing more. */
        if (w->deadline >= 0 && start >= w->deadline)
            return -ETIMEDOUT;
        for (unsigned i = 1;; i++) {
            if (moved(s, w)) {
                if (spin_ns > 0)
                    wait_spin_record(cfg, 1, i < 16 ? 0 : clock_now_ns() - start);
                return 0;
            }
            spin_step();
            if (i % 16)
                continue;
            if (moved_hot(s, w)) {
                if (spin_ns > 0)
                    wait_spin_record(cfg, 1, clock_now_ns() - start);
                return 0;
            }
            if (wait_closing(cfg))
                return -EBADF;
            int64_t now = clock_now_ns();
            if (w->deadline >= 0 && now >= w->deadline)
                return -ETIMEDOUT;
            if (spin_ns > 0 && now - start >= spin_ns) {
                wait_spin_record(cfg, 0, 0);
                break;
            }
            if (spin_ns > 0 && now >= crowd_at) {
                crowd_at = now + CROWD_EVERY_NS;
                if (cpus_crowded()) {
                    wait_spin_record(cfg, 0, 0); /* a miss: the next spins are short */
                    break;
                }
            }
            /* A process spinning without end still notices what nobody
             * signals: a dead peer, a repair, an owner's death. */
            if (now - looked >= LOOK_NS) {
                looked = now;
                if (w->look && w->look(w->arg))
                    return 0;
                int r = c->poll ? c->poll(c) : 0;
                if (r)
                    return r;
            }
        }
    }
    /* The deadline first, as above: a change seen after the yield below (the
     * receiver and the other senders that ran in our place freed the slot
     * we wait for and filled it again) or a look that repaired something
     * ends the wait, and the caller, finding the mailbox full again, waits
     * again, for ever while they keep that up (tests/deadline_test.c). */
    int64_t left = clock_remaining(w->deadline);
    if (left == 0)
        return -ETIMEDOUT;
    /* A sender about to sleep for room while other senders sleep on the
     * same mailbox gives its CPU up once first. With more senders than
     * CPUs (fan-in), the receiver or another sender then runs in its place
     * and the ring drains and fills again with no wake-up system call; on
     * a CPU of its own the call returns at once. Measured (2 CPUs, default
     * mailbox of 64 slots, benchmark runs alternated): 16 senders into one
     * receiver 3.2-4.5M -> 11.4-12.1M msg/s, 8 senders 3.9-5.3M ->
     * 11.1-11.6M. Only beside sleeping senders: a lone sender that yielded
     * gave its turn to a busy program beside it (one-way 1.9-6.3M ->
     * 0.4-1.8M msg/s). Receivers never: a yield in every wait cost fan-in
     * and the NATS bridge more than it gained. */
    if (w->waiters == &s->hdr->hot.send_waiters && sleepers_any(w->waiters)) {
        sched_yield();
        if (moved_any(s, w))
            return 0;
        left = clock_remaining(w->deadline); /* the yield may have lasted */
        if (left == 0)
            return -ETIMEDOUT;
    }
    if (w->look && w->look(w->arg))
        return 0;
    int ticket = sleepers_enter(w->waiters, epoch_since(s, w->waiters));
    /* Counted asleep, before the last look: a wake-up from now on comes
     * to us (wake_for_room, wake_for_message), and one that found nobody
     * in the kernel before does not keep the next from coming. */
    uint32_t *woken = woken_of(s, w->futex);
    if (woken)
        __atomic_store_n(woken, 0, __ATOMIC_SEQ_CST);
    /* A rendezvous send has room while a receiver waits: tell the send
     * pollers that one now does. */
    if (w->waiters == &s->hdr->hot.recv_waiters && s->capacity == MBX_RENDEZVOUS)
        poll_notify(s, SEG_POLL_SEND);
    int r = 0;
    if (!moved_any(s, w) && !wait_closing(cfg))
        r = futex_wait(w->futex, w->fseen, nap_for(c, w, left, ticket));
    sleepers_leave(w->waiters, ticket);
    if (w->slept)
        *w->slept = 1;
    /* Whatever ended our sleep, a waiter woken has run: the next freed
     * slot may wake another sender, the next message the receivers. */
    if (woken)
        __atomic_store_n(woken, 0, __ATOMIC_SEQ_CST);
    if (r == -EINTR)
        return r;
    if (wait_closing(cfg))
        return -EBADF;
    if (moved_any(s, w))
        return 0;
    if (clock_remaining(w->deadline) == 0)
        return -ETIMEDOUT;
    return c->poll ? c->poll(c) : 0;
}

int wait_spin(const struct seg *s, const uint64_t *watch, uint64_t seen, int64_t spin_ns,
              const struct wait_cfg *cfg)
{
    int64_t start = spin_ns ? clock_now_ns() : 0;
    for (unsigned i = 1; spin_ns != 0; i++) {
        if (__atomic_load_n(watch, __ATOMIC_ACQUIRE) != seen || seg_removed(s) || wait_closing(cfg))
            return 1;
        spin_step();
        if (i % 16 == 0 && spin_ns > 0 && clock_now_ns() - start >= spin_ns)
            break;
    }
    return 0;
}

static uint32_t *futex_of(const struct seg *s, unsigned dir)
{
    return dir == SEG_POLL_RECV ? &s->hdr->hot.recv_futex : &s->hdr->hot.send_futex;
}

static uint32_t *waiters_of(const struct seg *s, unsigned dir)
{
    return dir == SEG_POLL_RECV ? &s->hdr->hot.recv_waiters : &s->hdr->hot.send_waiters;
}

void wake_change(const struct seg *s, unsigned dir)
{
    uint32_t *word = futex_of(s, dir);
    __atomic_fetch_add(word, 1, __ATOMIC_SEQ_CST);
    /* The seq_cst pair (waiter: add waiters, then read word; us: bump word,
     * then read waiters) means one of us sees the other. The same holds
     * for a poller's armed word (poll.h). */
    if (sleepers_any(waiters_of(s, dir)))
        futex_wake(word, INT_MAX);
    poll_notify(s, dir);
}

int wake_n_slow(const struct seg *s, unsigned dir, int n)
{
    uint32_t *futex = futex_of(s, dir);
    __atomic_fetch_add(futex, 1, __ATOMIC_SEQ_CST);
    return futex_wake(futex, n);
}

void wake_everyone(const struct seg *s)
{
    struct seg_hot *hot = &s->hdr->hot;
    __atomic_fetch_add(&hot->recv_futex, 1, __ATOMIC_SEQ_CST);
    __atomic_fetch_add(&hot->send_futex, 1, __ATOMIC_SEQ_CST);
    futex_wake(&hot->recv_futex, INT_MAX);
    futex_wake(&hot->send_futex, INT_MAX);
}
