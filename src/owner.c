#include "owner.h"

#include "platform/linux/clock.h"
#include "platform/linux/proc.h"
#include "self_id.h"
#include "sync.h"

#include <errno.h>
#include <stddef.h>
#include <unistd.h>

static int owned(const struct mbx *m)
{
    return (m->seg.flags & MBX_OWNED) != 0;
}

static int is_me(const struct seg_proc *p)
{
    return p->pid == self_pid() && p->start == proc_self_start();
}

static int lives(const struct seg_proc *p)
{
    return is_me(p) || proc_alive(p->pid, p->start, 0);
}

void owner_format(struct seg *s)
{
    struct seg_proc *o = &s->hdr->model.owner;
    o->pid = self_pid();
    o->start = proc_self_start();
    s->hdr->owner_pid = o->pid;
}

/* Returns 1 while the owner or the pending owner lives, 0 when both are
 * gone, or -EUCLEAN. The liveness checks run outside the lock: only a live
 * owner changes these fields, so a dead one cannot come back meanwhile. */
static int owner_lives(struct seg *s)
{
    int r = sync_lock(s);
    if (r)
        return r;
    struct seg_proc o = s->hdr->model.owner, p = s->hdr->model.pending_owner;
    sync_unlock(s);
    return lives(&o) || (p.pid != 0 && lives(&p));
}

void owner_remove(struct mbx *m)
{
    __atomic_store_n(&m->seg.hdr->hot.removed, 1, __ATOMIC_SEQ_CST);
    sync_wake_all(&m->seg);
    char path[NAME_PATH_MAX];
    if (name_path(m->name, path, sizeof(path)) == 0)
        shmfile_unlink_same(path, &m->file);
}

int owner_check(struct mbx *m)
{
    if (__atomic_load_n(&m->seg.hdr->hot.removed, __ATOMIC_ACQUIRE))
        return -EIDRM;
    int r = owner_lives(&m->seg);
    if (r < 0)
        return r;
    if (r == 0) {
        owner_remove(m);
        return -EIDRM;
    }
    return 0;
}

int owner_check_open(struct mbx *m)
{
    if (!owned(m))
        return 0;
    __atomic_store_n(&m->owner_checked_ns, clock_now_ns(), __ATOMIC_RELAXED);
    int r = owner_check(m);
    return r == -EIDRM ? -ENOENT : r;
}

/* Caller holds the lock. Whether this process holds the receive right; a
 * pending owner takes ownership here, and a transfer to a process that died
 * before taking it is void. */
static int claim(struct seg_model *md)
{
    if (md->pending_owner.pid != 0 && is_me(&md->pending_owner)) {
        md->owner = md->pending_owner;
        md->pending_owner = (struct seg_proc){0, 0, 0};
        return 0;
    }
    if (!is_me(&md->owner))
        return -EACCES;
    if (md->pending_owner.pid != 0 && lives(&md->pending_owner))
        return -EACCES;
    md->pending_owner = (struct seg_proc){0, 0, 0};
    return 0;
}

int owner_take_recv(struct mbx *m)
{
    if (!owned(m) || !(m->flags & MBX_RECV))
        return 0;
    int r = sync_lock(&m->seg);
    if (r)
        return r;
    struct seg_hdr *h = m->seg.hdr;
    r = claim(&h->model);
    if (!r)
        __atomic_store_n(&h->owner_pid, h->model.owner.pid, __ATOMIC_RELAXED);
    sync_unlock(&m->seg);
    return r;
}

int owner_recv_check(struct mbx *m)
{
    if (!owned(m))
        return 0;
    struct seg_model *md = &m->seg.hdr->model;
    if (__atomic_load_n(&md->owner.pid, __ATOMIC_RELAXED) == self_pid() &&
        __atomic_load_n(&md->pending_owner.pid, __ATOMIC_RELAXED) == 0)
        return 0;
    return owner_take_recv(m);
}

int owner_send_check(struct mbx *m)
{
    if (!owned(m))
        return 0;
    int64_t now = clock_now_ns();
    if (now - __atomic_load_n(&m->owner_checked_ns, __ATOMIC_RELAXED) < OWNER_POLL_NS)
        return 0;
    __atomic_store_n(&m->owner_checked_ns, now, __ATOMIC_RELAXED);
    return owner_check(m);
}

int owner_poll(const struct mb_ctx *c)
{
    /* Handles pass their own seg (handle_ctx), so the handle is around it. */
    struct mbx *m = (struct mbx *)((char *)c->s - offsetof(struct mbx, seg));
    return owner_check(m);
}

EXPORT int mbx_transfer(mbx *m, pid_t new_owner)
{
    if (!m || new_owner <= 0 || !owned(m))
        return -EINVAL;
    if (__atomic_load_n(&m->seg.hdr->hot.removed, __ATOMIC_ACQUIRE))
        return -EIDRM;
    int r = sync_lock(&m->seg);
    if (r)
        return r;
    struct seg_model *md = &m->seg.hdr->model;
    uint64_t start;
    uint32_t uid;
    if (!is_me(&md->owner))
        r = -EPERM;
    else if (proc_start(new_owner, &start) || proc_euid(new_owner, &uid))
        r = -ESRCH;
    else if (uid != (uint32_t)geteuid())
        r = -EPERM;
    else if (new_owner == self_pid())
        md->pending_owner = (struct seg_proc){0, 0, 0}; /* calls a transfer off */
    else
        md->pending_owner = (struct seg_proc){new_owner, 0, start};
    sync_unlock(&m->seg);
    return r;
}
