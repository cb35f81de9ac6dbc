/* Telling pollers of a change (poll.h). */
#include "shm/poll.h"

#include "platform/platform.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int poll_path(const struct seg *s, uint64_t id, unsigned place, char *buf)
{
    const char *dir = place ? "/dev/shm" : s->poll_dir;
    if (!dir)
        return -ENOENT;
    int n = snprintf(buf, POLL_PATH_MAX, "%s/.mbx-poll.%016llx", dir, (unsigned long long)id);
    return n > 0 && n < POLL_PATH_MAX ? 0 : -ENAMETOOLONG;
}

static uint32_t epoch_of(uint32_t w)
{
    return w >> POLL_EPOCH_SHIFT;
}

/* Takes one off count word c, unless its epoch is no longer `epoch` (the
 * count was started again without it: poll.h) or its count is 0 (a
 * scribbled count only costs changers a look at the entries). */
static void count_down(uint32_t *c, uint32_t epoch)
{
    uint32_t v = __atomic_load_n(c, __ATOMIC_RELAXED);
    while (epoch_of(v) == epoch && (v & POLL_COUNTS) != 0 &&
           !__atomic_compare_exchange_n(c, &v, v - 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
        ;
}

/* Adds one to count word c, unless it is full (scribbled). Returns the
 * epoch it counted in. */
static uint32_t count_up(uint32_t *c)
{
    uint32_t v = __atomic_load_n(c, __ATOMIC_RELAXED);
    while ((v & POLL_COUNTS) != POLL_COUNTS &&
           !__atomic_compare_exchange_n(c, &v, v + 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
        ;
    return epoch_of(v);
}

/* Uncounts an entry whose armed word was `was` (taken from it by the
 * caller): in the epoch it was counted in, if still current. */
static void uncount(const struct seg *s, uint32_t was)
{
    unsigned d = poll_armed_for(was);
    if (d == 1 + SEG_POLL_RECV || d == 1 + SEG_POLL_SEND)
        count_down(&s->hdr->hot.armed[d - 1], epoch_of(was));
}

int poll_disarm(const struct seg *s, struct seg_poller *p)
{
    uint32_t was = __atomic_exchange_n(&p->armed, 0, __ATOMIC_SEQ_CST);
    if (was == 0)
        return 0;
    uncount(s, was);
    return 1;
}

/* Times a poller counts itself again when the epoch keeps moving while it
 * arms: only a peer who rewrites the count word moves it that often, and
 * such a peer can hide the poller anyway (poll.h). */
#define ARM_TRIES 4

int poll_arm(const struct seg *s, struct seg_poller *p, unsigned dir)
{
    if (dir >= 2) /* removal only: nobody counts those */
        return __atomic_exchange_n(&p->armed, 1 + dir, __ATOMIC_SEQ_CST) != 1 + dir;
    uint32_t *c = &s->hdr->hot.armed[dir];
    uint32_t mine = __atomic_load_n(&p->armed, __ATOMIC_SEQ_CST);
    if (mine == poll_tag(dir, epoch_of(__atomic_load_n(c, __ATOMIC_SEQ_CST))))
        return 0;
    for (int tries = 0; tries < ARM_TRIES; tries++) {
        /* Counted first: a changer that finds the count at zero must not
         * miss an armed entry (it may find a counted one not yet armed:
         * the poller looks again after arming). */
        uint32_t e = count_up(c);
        uint32_t t = poll_tag(dir, e);
        if (tries == 0) {
            uncount(s, __atomic_exchange_n(&p->armed, t, __ATOMIC_SEQ_CST));
        } else if (!__atomic_compare_exchange_n(&p->armed, &mine, t, 0, __ATOMIC_SEQ_CST,
                                                __ATOMIC_SEQ_CST)) {
            /* Told since it armed (disarmed, a datagram sent): left as
             * the changer left it. */
            if (!poll_telling_for(mine)) {
                count_down(c, e);
                return 1;
            }
            /* Being told, from an armed word of an epoch that has moved
             * on: its teller uncounts in that epoch (nothing), and were it
             * killed before its datagram, nobody counted in this one
             * would look at the entry again: deaf (a review found it:
             * poll_kill_step_test deaf_after_killed_teller). Armed over
             * it, as on the first try; the teller's datagram, if sent,
             * is a spurious wake-up. */
            uncount(s, __atomic_exchange_n(&p->armed, t, __ATOMIC_SEQ_CST));
        }
        mine = t;
        /* The epoch moved since we counted: a changer started the count
         * again, perhaps after it looked at our entry, and we are not in
         * the count; counted again in the new epoch. Not moved: any later
         * start looks at the entries after it, finds ours armed and tells
         * us. */
        if (epoch_of(__atomic_load_n(c, __ATOMIC_SEQ_CST)) == e)
            return 1;
    }
    return 1;
}

int poll_reap(const struct seg *s, struct seg_poller *p)
{
    ident_t who = __atomic_load_n(&p->who, __ATOMIC_ACQUIRE);
    if (who == 0 || ident_alive(who))
        return 0;
    uint64_t id = __atomic_load_n(&p->id, __ATOMIC_RELAXED);
    unsigned place = __atomic_load_n(&p->place, __ATOMIC_RELAXED);
    /* The socket first, the entry after: who and id are whatever a peer
     * wrote, so the socket goes only if nobody has it bound (a dead
     * poller's), never a live one named by a forged entry. One we may not
     * remove (another user's, in a sticky directory) keeps its entry,
     * disarmed, for a process of its user or root to reap: freed, the
     * entry named the file nowhere any more, and such files piled up, one
     * per killed poller (found by a review). */
    char path[POLL_PATH_MAX];
    if (poll_path(s, id, place, path) == 0) {
        int r = note_unlink_unbound(path);
        /* Still bound although its process looks dead: one inside its
         * exit has given up its memory before its descriptors (or a child
         * it forked holds the socket). Freed now, the entry named the
         * file nowhere once the socket went, and it stayed for good (a
         * kill -9 chaos run left 67 in 14364 kills): kept, and reaped by
         * a later look. */
        if (r == -EBUSY)
            return 0;
        /* Nor one we may not even connect to (another user's, of a mode
         * that lets us write the mailbox but not the socket: root's, say,
         * mode 0600, reaped by the mailbox's owner): note_unlink_unbound
         * cannot tell whether it is bound and leaves it; freed, the entry
         * named it nowhere any more and it stayed for good. One system
         * call, only for a dead poller's entry. */
        if (r == 0 && faccessat(AT_FDCWD, path, W_OK, AT_EACCESS) != 0 &&
            (errno == EACCES || errno == EPERM))
            r = -EACCES;
        if (r == -EPERM || r == -EACCES) {
            poll_disarm(s, p);
            return 0;
        }
    }
    if (!__atomic_compare_exchange_n(&p->who, &who, 0, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
        return 0;
    poll_disarm(s, p);
    return 1;
}

/* Sends entry p its datagram; a socket nobody has bound any more belongs
 * to a poller that died: its entry is freed. */
static void tell(const struct seg *s, struct seg_poller *p)
{
    char path[POLL_PATH_MAX];
    uint64_t id = __atomic_load_n(&p->id, __ATOMIC_RELAXED);
    unsigned place = __atomic_load_n(&p->place, __ATOMIC_RELAXED);
    if (poll_path(s, id, place, path) != 0)
        return;
    int r = note_send(path);
    if (r == -ECONNREFUSED || r == -ENOENT)
        poll_reap(s, p);
}

/* Tells entry p, armed with word `was` for direction dir, the way that
 * survives our death at any point (poll.h): from armed to our telling
 * word, the datagram, then from our word to 0 (unless the poller armed or
 * disarmed it meanwhile, its word then), and the count we took it from
 * down. Killed before the datagram, we leave the entry being told and
 * counted: the next change tells it. Returns 0 when the entry was not
 * taken (*was then holds what it holds now). */
static int take_and_tell(const struct seg *s, struct seg_poller *p, unsigned dir, uint32_t *was)
{
    uint32_t mine = poll_telling(dir, ident_id(ident_thread()));
    if (!__atomic_compare_exchange_n(&p->armed, was, mine, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
        return 0;
    tell(s, p);
    __atomic_compare_exchange_n(&p->armed, &mine, 0, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
    uncount(s, *was);
    return 1;
}

/* Times a changer tries to take an entry whose word keeps changing under
 * it (only a peer who rewrites it does that often) before it tells it
 * anyway: a datagram more, no change untold. */
#define TAKE_TRIES 4

/* Tells entry p of direction dir, found with word `was`, armed or being
 * told: an armed one is taken from armed (take_and_tell); one being told,
 * by another changer or by one that died before its datagram, is told
 * again and left as it is (only its teller and its poller write its word,
 * poll.h). Returns 1 when it took an armed one, else 0. */
static __attribute__((noinline)) unsigned tell_one(const struct seg *s, struct seg_poller *p,
                                                   unsigned dir, uint32_t was)
{
    for (int tries = 0;; tries++) {
        if (poll_telling_for(was) == 1 + dir || tries == TAKE_TRIES) {
            tell(s, p);
            return 0;
        }
        if (poll_armed_for(was) != 1 + dir)
            return 0; /* disarmed: its poller looks after it arms (poll.h) */
        if (take_and_tell(s, p, dir, &was))
            return 1;
    }
}

/* Tells every entry of direction dir armed or being told (tell_one).
 * Returns how many armed ones it told. */
static unsigned tell_armed(const struct seg *s, unsigned dir)
{
    unsigned told = 0;
    for (unsigned i = 0; i < SEG_POLLERS; i++) {
        struct seg_poller *p = &s->hdr->pollers[i];
        uint32_t was = __atomic_load_n(&p->armed, __ATOMIC_SEQ_CST);
        /* One compare for the usual entry (free, disarmed, the other
         * direction): armed and telling words both end in 1 + dir. */
        if ((was & 3u) != 1 + dir)
            continue;
        told += tell_one(s, p, dir, was);
    }
    return told;
}

void poll_signal(const struct seg *s, unsigned dir)
{
    uint32_t *c = &s->hdr->hot.armed[dir];
    uint32_t w = __atomic_load_n(c, __ATOMIC_SEQ_CST);
    if (tell_armed(s, dir) != 0 || (w & POLL_COUNTS) == 0)
        return;
    /* Counted, but nobody armed: what a process killed between counting
     * and arming, or between disarming and uncounting, or before telling
     * an entry it took, left (or a poller on its way to arm, a changer
     * telling one now, or a peer's scribble). A new epoch, counted 1 (us),
     * so that were we killed before the look below, the next change still
     * looks; then every entry armed is told, those counted in the old
     * epoch among them, and our 1 taken off (poll.h). Entries being told
     * are not counted in the new epoch (their tellers uncount in the old
     * one, so later changes do not look at them again and again while a
     * teller lives), and are told again: one told in the look above may
     * have woken, re-armed and counted itself in the old epoch since, the
     * count then back at w (its teller's 1 gone, its own come), our
     * compare-and-swap none the wiser; skipped, it was left armed in an
     * epoch nobody counts, deaf (two receivers polling beside blocked
     * senders: poll_test). A datagram more, in this rare path only. Not
     * when the word moved meanwhile: someone counted or uncounted, and the
     * next change that finds nobody armed does it. */
    uint32_t fresh = (((epoch_of(w) + 1) << POLL_EPOCH_SHIFT) | 1u);
    if (!__atomic_compare_exchange_n(c, &w, fresh, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
        return;
    tell_armed(s, dir);
    count_down(c, epoch_of(fresh));
}

void poll_signal_all(const struct seg *s)
{
    for (unsigned i = 0; i < SEG_POLLERS; i++) {
        struct seg_poller *p = &s->hdr->pollers[i];
        if (__atomic_load_n(&p->who, __ATOMIC_ACQUIRE) == 0)
            continue;
        if (poll_reap(s, p))
            continue;
        if (poll_disarm(s, p))
            tell(s, p);
    }
}
