#include "shm/owner.h"

#include "platform/platform.h"
#include "shm/poll.h"
#include "shm/files.h"
#include "shm/poller.h"
#include "shm/wait.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

/* The owner fields are single 64-bit identities changed with atomic
 * operations, so no call on an owned mailbox takes its lock. */

static int owned(const struct shm_box *b)
{
    return (b->seg.flags & MBX_OWNED) != 0;
}

static uint64_t load(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static int lives(ident_t who)
{
    return who == ident_self() || ident_alive(who);
}

void owner_format(struct seg *s)
{
    ident_t me = ident_self();
    s->hdr->model.owner = me;
    s->hdr->owner_pid = ident_id(me);
}

/* Returns 1 while the owner or the pending owner lives, 0 when both are
 * gone. Only a live owner changes these fields, so a dead one cannot come
 * back meanwhile. */
static int owner_lives(const struct seg *s)
{
    const struct seg_model *md = &s->hdr->model;
    ident_t o = load(&md->owner), p = load(&md->pending_owner);
    return lives(o) || (p != 0 && lives(p));
}

void owner_remove(struct shm_box *b)
{
    __atomic_store_n(&b->seg.hdr->hot.removed, 1, __ATOMIC_SEQ_CST);
    wake_everyone(&b->seg);
    poll_signal_all(&b->seg);
    shm_unlink_file(b);
}

int owner_check(struct shm_box *b)
{
    if (__atomic_load_n(&b->seg.hdr->hot.removed, __ATOMIC_ACQUIRE))
        return -EIDRM;
    if (!owner_lives(&b->seg)) {
        owner_remove(b);
        return -EIDRM;
    }
    return 0;
}

int owner_check_open(struct shm_box *b)
{
    if (!owned(b))
        return 0;
    __atomic_store_n(&b->owner_checked_ns, clock_now_ns(), __ATOMIC_RELAXED);
    /* Marked removed and still under its name: its remover was killed
     * between the two (owner_remove marks first, so that nobody sends
     * into it meanwhile). The name is taken away now, or a create under
     * it said -EEXIST for ever (found by a review); only if it still
     * names this file. */
    if (__atomic_load_n(&b->seg.hdr->hot.removed, __ATOMIC_ACQUIRE)) {
        shm_unlink_file(b);
        return -ENOENT;
    }
    int r = owner_check(b);
    return r == -EIDRM ? -ENOENT : r;
}

/* Whether this process holds the receive right; a pending owner takes
 * ownership here, and a transfer to a process that died before taking it
 * is void. Returns 0 or -EACCES. */
static int claim(struct seg_hdr *h)
{
    struct seg_model *md = &h->model;
    ident_t me = ident_self(), pending = load(&md->pending_owner);
    if (pending == me) {
        __atomic_store_n(&md->owner, me, __ATOMIC_RELEASE);
        __atomic_compare_exchange_n(&md->pending_owner, &pending, 0, 0, __ATOMIC_ACQ_REL,
                                    __ATOMIC_RELAXED);
        __atomic_store_n(&h->owner_pid, ident_id(me), __ATOMIC_RELAXED);
        return 0;
    }
    if (load(&md->owner) != me)
        return -EACCES;
    if (pending != 0 && ident_alive(pending))
        return -EACCES;
    if (pending != 0)
        __atomic_compare_exchange_n(&md->pending_owner, &pending, 0, 0, __ATOMIC_ACQ_REL,
                                    __ATOMIC_RELAXED);
    return 0;
}

int owner_take_recv(struct shm_box *b)
{
    if (!owned(b) || !(b->base.flags & MBX_RECV))
        return 0;
    return claim(b->seg.hdr);
}

int owner_recv_check(struct shm_box *b)
{
    if (!owned(b))
        return 0;
    const struct seg_model *md = &b->seg.hdr->model;
    if (load(&md->owner) == ident_self() && load(&md->pending_owner) == 0)
        return 0;
    return claim(b->seg.hdr);
}

int owner_send_check(struct shm_box *b)
{
    if (!owned(b))
        return 0;
    int64_t now = clock_now_ns();
    /* Looked at most every OWNER_POLL_NS; at once when a pollable
     * descriptor saw a watched process die (the call it woke for must
     * say -EIDRM, not succeed into a mailbox nobody will read). */
    if (now - __atomic_load_n(&b->owner_checked_ns, __ATOMIC_RELAXED) < OWNER_POLL_NS &&
        !poller_peer_died(b, SEG_POLL_SEND))
        return 0;
    __atomic_store_n(&b->owner_checked_ns, now, __ATOMIC_RELAXED);
    return owner_check(b);
}

int owner_poll(const struct mb_ctx *c)
{
    return owner_check(c->box);
}

int shm_transfer(struct mbx *m, pid_t new_owner)
{
    struct shm_box *b = shm_box_of(m);
    if (!owned(b))
        return -EINVAL;
    if (__atomic_load_n(&b->seg.hdr->hot.removed, __ATOMIC_ACQUIRE))
        return -EIDRM;
    struct seg_model *md = &b->seg.hdr->model;
    ident_t me = ident_self();
    uint64_t start;
    uint32_t uid;
    if (load(&md->owner) != me)
        return -EPERM;
    if (proc_start(new_owner, &start) || proc_euid(new_owner, &uid))
        return -ESRCH;
    if (uid != (uint32_t)geteuid())
        return -EPERM;
    /* new_owner == us calls a transfer off. */
    ident_t next = new_owner == ident_id(me) ? 0 : ident_make(new_owner, (uint32_t)start);
    __atomic_store_n(&md->pending_owner, next, __ATOMIC_SEQ_CST);
    /* Pollers watch the pending owner's death too: they look again. */
    poll_signal_all(&b->seg);
    return 0;
}

int owner_is_me(struct shm_box *b)
{
    if (!owned(b) || seg_removed(&b->seg))
        return 0;
    const struct seg_model *md = &b->seg.hdr->model;
    ident_t p = load(&md->pending_owner);
    return load(&md->owner) == ident_self() && (p == 0 || !ident_alive(p));
}

int32_t owner_named(const struct seg *s)
{
    const struct seg_model *md = &s->hdr->model;
    int32_t pid = __atomic_load_n(&s->hdr->owner_pid, __ATOMIC_RELAXED);
    if (!(s->flags & MBX_OWNED))
        return pid;
    ident_t o = load(&md->owner), p = load(&md->pending_owner);
    return p != 0 && !lives(o) && lives(p) ? ident_id(p) : pid;
}

int owner_gone(const struct seg *s)
{
    return (s->flags & MBX_OWNED) && !owner_lives(s);
}

void owner_reap(const char *name)
{
    struct shm_box b = {0};
    char path[NAME_PATH_MAX];
    if (shm_open_file(name, 0, &b.file, path) != 0)
        return;
    /* Looked at again on the file we hold, so that a mailbox made under
     * the name meanwhile is never the one removed. */
    if (seg_attach(&b.seg, b.file.base, b.file.size) == 0 && owner_gone(&b.seg)) {
        b.path = path[0] ? path : NULL;
        b.dir = b.path ? dir_of(path) : NULL;
        b.seg.poll_dir = b.dir;
        __atomic_store_n(&b.seg.hdr->hot.removed, 1, __ATOMIC_SEQ_CST);
        wake_everyone(&b.seg);
        poll_signal_all(&b.seg);
        shm_unlink_file(&b);
        free(b.dir);
    }
    shmfile_close(&b.file);
}
