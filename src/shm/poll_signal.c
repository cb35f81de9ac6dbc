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

/* Takes one off count c, never below 0 (a scribbled count only costs
 * changers a look at the entries). */
static void count_down(uint32_t *c)
{
    uint32_t v = __atomic_load_n(c, __ATOMIC_RELAXED);
    while (v && !__atomic_compare_exchange_n(c, &v, v - 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
        ;
}

int poll_disarm(const struct seg *s, struct seg_poller *p)
{
    uint32_t was = __atomic_exchange_n(&p->armed, 0, __ATOMIC_SEQ_CST);
    if (was == 0)
        return 0;
    if (was == 1 + SEG_POLL_RECV || was == 1 + SEG_POLL_SEND)
        count_down(&s->hdr->hot.armed[was - 1]);
    return 1;
}

int poll_arm(const struct seg *s, struct seg_poller *p, unsigned dir)
{
    if (__atomic_load_n(&p->armed, __ATOMIC_SEQ_CST) == 1 + dir)
        return 0;
    /* Counted first: a changer that finds the count at zero must not miss
     * an armed entry (it may find a counted one not yet armed: the poller
     * looks again after arming). */
    if (dir < 2)
        __atomic_fetch_add(&s->hdr->hot.armed[dir], 1, __ATOMIC_SEQ_CST);
    uint32_t was = __atomic_exchange_n(&p->armed, 1 + dir, __ATOMIC_SEQ_CST);
    if (was == 1 + dir && dir < 2) {
        count_down(&s->hdr->hot.armed[dir]);
        return 0;
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

void poll_signal(const struct seg *s, unsigned dir)
{
    for (unsigned i = 0; i < SEG_POLLERS; i++) {
        struct seg_poller *p = &s->hdr->pollers[i];
        if (__atomic_load_n(&p->armed, __ATOMIC_SEQ_CST) != 1 + dir)
            continue;
        uint32_t want = 1 + dir;
        if (!__atomic_compare_exchange_n(&p->armed, &want, 0, 0, __ATOMIC_SEQ_CST,
                                         __ATOMIC_RELAXED))
            continue;
        count_down(&s->hdr->hot.armed[dir]);
        tell(s, p);
    }
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
