/* Pollable descriptors, the handle's side (poller.h). */
#include "shm/poller.h"

#include "platform/platform.h"
#include "shm/lock.h"
#include "shm/owner.h"
#include "shm/poll_later.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Makes pollers one at a time (rare), so two threads asking for the same
 * descriptor get the same one; guards the list of this process's pollers,
 * whose sockets a normal exit removes. */
static pthread_mutex_t make_lock = PTHREAD_MUTEX_INITIALIZER;
static struct shm_poller *all_pollers;

static struct seg_poller *entry_of(struct shm_box *b, const struct shm_poller *p)
{
    return &b->seg.hdr->pollers[p->slot];
}

static void tell_self(const struct shm_poller *p)
{
    (void)note_send(p->path);
}

/* Takes entry e for p if it names `was` (0: free; a dead poller),
 * naming p's process, id, place and direction. Returns 1 when taken. */
static int take_entry(struct shm_box *b, struct shm_poller *p, unsigned i, uint64_t was)
{
    struct seg_poller *e = &b->seg.hdr->pollers[i];
    if (!__atomic_compare_exchange_n(&e->who, &was, p->maker, 0, __ATOMIC_SEQ_CST,
                                     __ATOMIC_RELAXED))
        return 0;
    poll_disarm(&b->seg, e);
    __atomic_store_n(&e->id, p->id, __ATOMIC_RELAXED);
    __atomic_store_n(&e->place, (uint16_t)p->place, __ATOMIC_RELAXED);
    __atomic_store_n(&e->dir, (uint16_t)p->dir, __ATOMIC_RELEASE);
    p->slot = i;
    return 1;
}

/* Takes a free entry of the header for p (after freeing those of dead
 * pollers), or, when none is free, one of a dead poller whose socket the
 * reap could not remove (another user's: left for its user or root, with
 * its file); such entries kept shut every other user out (-EUSERS, found
 * by a review), so under that pressure the file stays behind instead.
 * Returns 0 or -EUSERS. */
static int claim(struct shm_box *b, struct shm_poller *p)
{
    struct seg_hdr *h = b->seg.hdr;
    for (unsigned i = 0; i < SEG_POLLERS; i++)
        poll_reap(&b->seg, &h->pollers[i]);
    for (unsigned i = 0; i < SEG_POLLERS; i++)
        if (take_entry(b, p, i, 0))
            return 0;
    for (unsigned i = 0; i < SEG_POLLERS; i++) {
        ident_t who = __atomic_load_n(&h->pollers[i].who, __ATOMIC_ACQUIRE);
        if (who != 0 && !ident_alive(who) && take_entry(b, p, i, who))
            return 0;
    }
    return -EUSERS;
}

/* Returns 1 while p's entry is still p's (someone who can write the
 * mailbox could have taken it); otherwise claims another: 0, or -EUSERS.
 * A place a peer wrote into our own entry is put back from p: changers
 * told a socket nobody has, and, taken from the entry itself, the place
 * stayed wrong at every later call, the descriptor deaf for good (found
 * by a review). */
static int keep_entry(struct shm_box *b, struct shm_poller *p)
{
    struct seg_poller *e = entry_of(b, p);
    if (__atomic_load_n(&e->who, __ATOMIC_ACQUIRE) == p->maker &&
        __atomic_load_n(&e->id, __ATOMIC_RELAXED) == p->id &&
        __atomic_load_n(&e->dir, __ATOMIC_RELAXED) == p->dir) {
        if (__atomic_load_n(&e->place, __ATOMIC_RELAXED) != p->place)
            __atomic_store_n(&e->place, (uint16_t)p->place, __ATOMIC_SEQ_CST);
        return 1;
    }
    return claim(b, p);
}

uint64_t poller_sent_mark(struct shm_box *b)
{
    mbx_stat st = {0};
    b->seg.kind->stat(&b->seg, &st);
    return st.sent_total + 1;
}

/* Whether there is something to do in direction dir (not SEG_POLL_GONE).
 * want: for a send, the size that found no room; for a receive, the sent
 * mark (poller_sent_mark) of a filtered receive that found nothing: the
 * messages queued are not for it, only a new one may be. */
static int kind_ready(struct shm_box *b, unsigned dir, uint64_t want)
{
    if (dir == SEG_POLL_RECV && want)
        return poller_sent_mark(b) != want;
    return b->seg.kind->ready(&b->seg, dir, want);
}

static int is_ready(struct shm_box *b, const struct shm_poller *p, uint64_t want)
{
    if (seg_removed(&b->seg))
        return 1;
    if (p->dir == SEG_POLL_GONE)
        return 0;
    return kind_ready(b, p->dir, want);
}

/* Whether the descriptor for direction dir is an epoll set watching
 * deaths (poller.h). */
static int watches_peers(const struct shm_box *b, unsigned dir)
{
    return (b->seg.flags & MBX_OWNED) ||
           (b->seg.kind->peers && b->seg.kind->peers(&b->seg, dir, NULL));
}

/* The processes whose death matters to p: the owner and pending owner
 * (other than us) of an owned mailbox, then the kind's. Returns how many
 * are stored in who; *owners of them are owners. */
static int wanted_peers(struct shm_box *b, const struct shm_poller *p, ident_t who[POLLER_PEERS],
                        int *owners)
{
    int n = 0;
    ident_t me = ident_self();
    if (b->seg.flags & MBX_OWNED) {
        ident_t o = __atomic_load_n(&b->seg.hdr->model.owner, __ATOMIC_ACQUIRE);
        ident_t q = __atomic_load_n(&b->seg.hdr->model.pending_owner, __ATOMIC_ACQUIRE);
        if (o == me || q == me) {
            *owners = -1; /* we are one: never all dead while we run */
        } else {
            if (o)
                who[n++] = o;
            if (q && q != o)
                who[n++] = q;
            *owners = n;
        }
    } else {
        *owners = 0;
    }
    uint64_t k[2];
    int nk = b->seg.kind->peers ? b->seg.kind->peers(&b->seg, p->dir, k) : 0;
    for (int i = 0; i < nk && n < POLLER_PEERS; i++)
        who[n++] = k[i];
    return n;
}

/* Keeps p's epoll set watching the live processes whose death matters,
 * and makes the descriptor readable when their deaths already decided
 * the next call (an owned mailbox with no live owner left; a stream whose
 * sender died). With `full`, also drops the dead (a system call each, so
 * only after a call found nothing: a death is what may have woken it). */
static void sync_peers(struct shm_box *b, struct shm_poller *p, int full)
{
    ident_t want[POLLER_PEERS];
    int owners;
    int n = wanted_peers(b, p, want, &owners);
    /* Drop who is no longer wanted, or dead (a dead pidfd stays readable). */
    for (int i = 0; i < POLLER_PEERS; i++) {
        if (p->pidfd[i] < 0)
            continue;
        int still = 0;
        for (int j = 0; j < n; j++)
            still |= want[j] == p->peer[i];
        if (still && (!full || fd_readable(p->pidfd[i]) == 0))
            continue;
        evset_del(p->fd, p->pidfd[i]);
        close(p->pidfd[i]);
        p->pidfd[i] = -1;
        p->peer[i] = 0;
    }
    int live_owners = 0, dead_peer = 0, unknown = 0;
    for (int j = 0; j < n; j++) {
        int have = -1, free_at = -1;
        for (int i = 0; i < POLLER_PEERS; i++) {
            if (p->pidfd[i] >= 0 && p->peer[i] == want[j])
                have = i;
            if (p->pidfd[i] < 0 && free_at < 0)
                free_at = i;
        }
        if (have < 0 && free_at >= 0) {
            int fd = pidfd_of(want[j]);
            if (fd >= 0 && evset_add(p->fd, fd) == 0) {
                p->pidfd[free_at] = fd;
                p->peer[free_at] = want[j];
                have = free_at;
            } else if (fd >= 0) {
                close(fd);
            } else if (fd == -ENOSYS || fd == -EINVAL) {
                /* No pidfd, or an id that names no process (a thread's,
                 * as a peer may write): not a death; the next call
                 * finds out. Taken for one, the descriptor was readable
                 * for ever while the call found nothing. */
                have = POLLER_PEERS;
            } else if (fd == -EMFILE || fd == -ENFILE || fd == -ENOMEM) {
                /* No descriptor to spare: not a death either. Taken for
                 * one, the descriptor was readable at every look and an
                 * event loop spun (found by a review); it is looked at
                 * again POLL_LATER_MS on, when the pidfd may be had. */
                have = POLLER_PEERS;
                unknown = 1;
            }
        }
        if (have >= 0 && j < owners)
            live_owners++;
        if (have < 0 && j >= (owners > 0 ? owners : 0))
            dead_peer = 1;
    }
    if ((owners > 0 && live_owners == 0) || dead_peer)
        tell_self(p);
    else if (unknown && poll_later(p->path) != 0)
        tell_self(p);
}

void poller_settle(struct shm_box *b, struct shm_poller *p, enum poller_after after, uint64_t want)
{
    if (p->maker != ident_self())
        return; /* a forked child's copy: the parent's */
    pthread_mutex_lock(&p->mu);
    if (after == POLLER_DID)
        want = 0;
    p->want = want;
    if (keep_entry(b, p) < 0) {
        /* No entry (a peer holds them all): nobody will tell us of a
         * change. Readable now when there is something to do, else once
         * POLL_LATER_MS have passed, when the caller looks again. Made
         * readable at every look, an event loop waiting on it spun
         * (found by a review). */
        p->clean = 0;
        if (is_ready(b, p, want)) {
            tell_self(p);
        } else {
            note_drain(p->sock);
            if (watches_peers(b, p->dir))
                sync_peers(b, p, after == POLLER_EMPTY);
            if (poll_later(p->path) != 0)
                tell_self(p);
        }
        pthread_mutex_unlock(&p->mu);
        return;
    }
    struct seg_poller *e = entry_of(b, p);
    if (is_ready(b, p, want)) {
        if (poll_disarm(&b->seg, e))
            tell_self(p);
        p->clean = 0;
        pthread_mutex_unlock(&p->mu);
        return;
    }
    /* Armed and told nothing since: no datagram is queued (but one sent
     * just to wake us, which an empty call drains). After a call that did
     * something, nothing to do; after one that found nothing, the drain is
     * skipped once when the handle drained and armed since its last
     * wake-up (the loop's usual last receive, -EAGAIN, costs no system
     * call), and done the next time, so a datagram sent only to wake us
     * is reported at most twice. */
    /* Armed in an epoch before the current one (poll.h) counts too: the
     * changer that moved the epoch on tells it, or leaves the count so
     * that the next change does. */
    int armed = poll_armed_for(__atomic_load_n(&e->armed, __ATOMIC_SEQ_CST)) == 1 + p->dir;
    if (armed && after == POLLER_DID) {
        pthread_mutex_unlock(&p->mu);
        return;
    }
    if (armed && p->clean) {
        p->clean = 0;
        pthread_mutex_unlock(&p->mu);
        return;
    }
    note_drain(p->sock);
    p->clean = 1;
    if (watches_peers(b, p->dir))
        sync_peers(b, p, after == POLLER_EMPTY);
    poll_arm(&b->seg, e, p->dir);
    /* A change made before we armed was not told to us: look again. */
    if (is_ready(b, p, want) && poll_disarm(&b->seg, e)) {
        tell_self(p);
        p->clean = 0;
    }
    pthread_mutex_unlock(&p->mu);
}

/* Caller holds make_lock. */
static void unlist(struct shm_poller *p)
{
    for (struct shm_poller **q = &all_pollers; *q; q = &(*q)->next_in_process)
        if (*q == p) {
            *q = p->next_in_process;
            return;
        }
}

void poller_at_exit(void)
{
    /* No lock: exit may come from a thread that holds it. The sockets
     * only; their entries go when someone finds the process gone. */
    for (struct shm_poller *p = all_pollers; p; p = p->next_in_process)
        if (p->maker == ident_self())
            unlink(p->path);
}

/* Whether entry e is still p's (a peer who may write the mailbox can take
 * it, or rewrite it). */
static int is_mine(const struct seg_poller *e, const struct shm_poller *p)
{
    return __atomic_load_n(&e->who, __ATOMIC_ACQUIRE) == p->maker &&
           __atomic_load_n(&e->id, __ATOMIC_RELAXED) == p->id;
}

static void poller_free(struct shm_box *b, struct shm_poller *p, int own)
{
    unlist(p);
    if (own) {
        struct seg_poller *e = entry_of(b, p);
        if (is_mine(e, p))
            poll_disarm(&b->seg, e);
        /* The socket first, the entry after: killed in between, the entry
         * still names the file for whoever reaps it. Freed first, the
         * entry named it nowhere and the file stayed for good (a chaos
         * run). Not bound (sock < 0): the path may be another's file. */
        if (p->sock >= 0)
            unlink(p->path);
        poll_later_cancel(p->path);
        ident_t me = p->maker;
        if (is_mine(e, p))
            __atomic_compare_exchange_n(&e->who, &me, 0, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
    }
    for (int i = 0; i < POLLER_PEERS; i++)
        if (p->pidfd[i] >= 0)
            close(p->pidfd[i]);
    if (p->fd != p->sock)
        close(p->fd);
    if (p->sock >= 0)
        close(p->sock);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* Writes id and place into p and its entry, before a socket is bound
 * there: a process killed at any point after leaves an entry that names
 * the file and a dead process, which whoever next finds it reaps (the next
 * poller, a change that tells it, the mailbox's removal). */
static void name_socket(struct shm_box *b, struct shm_poller *p, uint64_t id, unsigned place)
{
    struct seg_poller *e = entry_of(b, p);
    p->id = id;
    p->place = place;
    __atomic_store_n(&e->id, id, __ATOMIC_SEQ_CST);
    __atomic_store_n(&e->place, (uint16_t)place, __ATOMIC_SEQ_CST);
}

/* Binds p's socket beside the mailbox, or in /dev/shm when that directory
 * will not have it, at the place and id p's entry (claimed) names first.
 * Returns 0 or -errno. */
static int bind_socket(struct shm_box *b, struct shm_poller *p)
{
    uint32_t uid, gid, mode;
    if (shmfile_owner(&b->file, &uid, &gid, &mode) != 0)
        mode = 0600, gid = (uint32_t)-1;
    /* Whoever may write the mailbox may wake its pollers. */
    unsigned smode = 0600 | (mode & 0066);
    int r = -ENOENT, named = 1; /* the first id and place: claim wrote them */
    for (unsigned place = p->place; place < 2; place++) {
        for (int tries = 0; tries < 8; tries++) {
            if (!named) {
                uint64_t id;
                if ((r = plat_random(&id)) != 0)
                    return r;
                name_socket(b, p, id, place);
            }
            named = 0;
            if ((r = poll_path(&b->seg, p->id, place, p->path)) != 0)
                break;
            r = note_bind(p->path, smode, gid);
            if (r >= 0) {
                p->sock = r;
                return 0;
            }
            if (r != -EADDRINUSE)
                break;
        }
        if (r != -EACCES && r != -EPERM && r != -EROFS && r != -ENAMETOOLONG && r != -ENOENT)
            return r;
    }
    return r;
}

/* Makes p's entry, then its socket: the other way round, a process killed
 * between the two left a socket file that nothing named, and that nothing
 * ever removed (71 after 3440 killed pollers in a chaos run). */
static int poller_new(struct shm_box *b, unsigned dir, struct shm_poller **out)
{
    struct shm_poller *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->dir = dir;
    p->maker = ident_self();
    p->sock = p->fd = -1;
    for (int i = 0; i < POLLER_PEERS; i++)
        p->pidfd[i] = -1;
    pthread_mutex_init(&p->mu, NULL);
    p->place = b->seg.poll_dir ? 0 : 1;
    int r = plat_random(&p->id);
    if (r == 0)
        r = claim(b, p);
    if (r < 0) {
        pthread_mutex_destroy(&p->mu);
        free(p);
        return r;
    }
    r = bind_socket(b, p);
    p->fd = p->sock;
    if (r >= 0 && watches_peers(b, dir)) {
        r = p->fd = evset_new();
        if (r >= 0)
            r = evset_add(p->fd, p->sock);
    }
    if (r < 0) {
        if (p->fd >= 0 && p->fd != p->sock)
            close(p->fd);
        p->fd = p->sock;
        poller_free(b, p, 1); /* the socket (if bound), then the entry */
        return r;
    }
    *out = p;
    return 0;
}

int poller_fd(struct shm_box *b, unsigned dir)
{
    if (seg_removed(&b->seg))
        return -EIDRM;
    pthread_mutex_lock(&make_lock);
    struct shm_poller *p = b->poller[dir];
    if (p && p->maker != ident_self()) {
        /* Inherited over fork: the parent's. The child's copies of its
         * descriptors go; the child gets its own. */
        __atomic_store_n(&b->poller[dir], NULL, __ATOMIC_RELEASE);
        poller_free(b, p, 0);
        p = NULL;
    }
    int r = 0;
    if (!p && (r = poller_new(b, dir, &p)) == 0) {
        p->next_in_process = all_pollers;
        all_pollers = p;
        /* Armed from the start, so that "not armed" always means a
         * datagram was sent: the first look then sends one if ready. */
        poll_arm(&b->seg, entry_of(b, p), dir);
        __atomic_store_n(&b->poller[dir], p, __ATOMIC_RELEASE);
        poller_settle(b, p, POLLER_EMPTY, 0);
    }
    pthread_mutex_unlock(&make_lock);
    return r ? r : p->fd;
}

int poller_check(struct shm_box *b, unsigned dir)
{
    if (seg_removed(&b->seg))
        return 2;
    /* Removed by one killed between taking its name away and marking it
     * (shm_box_unlink): its file has no name left. Looked at for monitors
     * only (a system call; found by a review: the notice never came). */
    if (dir == SEG_POLL_GONE && b->path && shmfile_unlinked(&b->file))
        return 2;
    struct shm_poller *p = __atomic_load_n(&b->poller[dir], __ATOMIC_ACQUIRE);
    /* What the handle's last call found, for receives too: messages a
     * filtered receive found not for it made mbx_poll say "readable" at
     * every look, and the loop spun (found by a review). A forked child's
     * copy of the poller is the parent's. */
    uint64_t want = p && p->maker == ident_self() ? p->want : 0;
    if (dir != SEG_POLL_GONE && kind_ready(b, dir, want))
        return 1;
    /* A process killed holding the mailbox's lock left its counts half
     * way (a heap receiver that freed its block but did not uncount it
     * reads as full): repaired now, before we sleep, rather than by the
     * next call, which may never come. One load while nobody holds it. */
    if (dir != SEG_POLL_GONE && __atomic_load_n(&b->seg.hdr->hot.lock.word, __ATOMIC_ACQUIRE)) {
        seg_settle(&b->seg);
        if (kind_ready(b, dir, want))
            return 1;
    }
    /* What dead processes hold (a heap's lent blocks) given back. */
    if (dir != SEG_POLL_GONE && b->seg.kind->settle && b->seg.kind->settle(&b->seg, dir) &&
        kind_ready(b, dir, want))
        return 1;
    /* Nothing to do: unless the owner died (which nobody signals; its
     * pidfd in our set may be what woke us), sleep until told. */
    if ((b->seg.flags & MBX_OWNED) && owner_check(b) == -EIDRM)
        return 2;
    if (!p || p->maker != ident_self())
        return 0;
    poller_settle(b, p, POLLER_EMPTY, want);
    return 0;
}

int poller_peer_died(struct shm_box *b, unsigned dir)
{
    struct shm_poller *p = __atomic_load_n(&b->poller[dir], __ATOMIC_ACQUIRE);
    if (!p || p->maker != ident_self())
        return 0;
    int died = 0;
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < POLLER_PEERS; i++)
        if (p->pidfd[i] >= 0 && fd_readable(p->pidfd[i]) == 1)
            died = 1;
    pthread_mutex_unlock(&p->mu);
    return died;
}

void poller_close(struct shm_box *b)
{
    pthread_mutex_lock(&make_lock);
    for (unsigned d = 0; d < 3; d++) {
        struct shm_poller *p = b->poller[d];
        if (p)
            poller_free(b, p, p->maker == ident_self());
        b->poller[d] = NULL;
    }
    pthread_mutex_unlock(&make_lock);
}

/* The transport's operations (shm.h). dir is MBX_RECV or MBX_SEND, checked
 * against the handle by the core, or 0: removal only (monitors). */
static unsigned dir_of_flag(int dir)
{
    return dir == MBX_RECV ? SEG_POLL_RECV : dir == MBX_SEND ? SEG_POLL_SEND : SEG_POLL_GONE;
}

int shm_fd(struct mbx *m, int dir)
{
    return poller_fd(shm_box_of(m), dir_of_flag(dir));
}

int shm_ready(struct mbx *m, int dir)
{
    return poller_check(shm_box_of(m), dir_of_flag(dir));
}
