/* Opening a local mailbox: the file (named, or a process's own "@PID"),
 * the segment in it, and what the new handle holds in it; closing and
 * removing. */
#include "shm/shm.h"

#include "core/names.h"
#include "shm/call.h"
#include "shm/files.h"
#include "shm/handles.h"
#include "shm/owner.h"
#include "shm/poll.h"
#include "shm/poller.h"
#include "shm/procbox.h"
#include "shm/reboot.h"
#include "shm/recv_right.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Formats the new file in b->file as a mailbox of kind k. */
static int format(struct shm_box *b, const mbx_attr *a, const struct shm_kind *k, int flags)
{
    int r = seg_format(b->file.base, b->file.size, a, b->base.name, k, (uint32_t)flags, b->file.fd);
    if (r)
        return r;
    if ((r = seg_attach(&b->seg, b->file.base, b->file.size)))
        return r;
    b->seg.fd = b->file.fd;
    if (k->init)
        k->init(&b->seg);
    reboot_stamp(&b->seg);
    if (flags & MBX_OWNED)
        owner_format(&b->seg);
    return 0;
}

/* Creates, formats and publishes a new mailbox file. Returns 0, -EEXIST when
 * another process published the name first, or -errno. */
static int create_named(struct shm_box *b, const mbx_options *o, int flags)
{
    const struct shm_kind *k = shm_kind_choose(&o->attr, flags, o->kind);
    if (!k)
        return -EINVAL;
    /* Made in the folder it will be named in: a /DIR/NAME on another file
     * system than $MBX_DIR cannot be linked across (it said -EXDEV, "in
     * use in another PID namespace"; found by a review). */
    int r = shmfile_create(b->dir, seg_size_for(&o->attr, k), seg_prefix_size(&o->attr, k),
                           o->attr.mode, &b->file);
    if (r)
        return r;
    if ((r = format(b, &o->attr, k, flags)))
        goto out_close;
    return shmfile_publish(&b->file, b->path); /* closes it on failure */
out_close:
    shmfile_close(&b->file);
    return r;
}

/* This process's own mailbox, "@PID": owned. */
static int create_procbox(struct shm_box *b, const mbx_options *o, int flags)
{
    const struct shm_kind *k = shm_kind_choose(&o->attr, flags | MBX_OWNED, o->kind);
    if (!k)
        return -EINVAL;
    int r = procbox_create(seg_size_for(&o->attr, k), &b->file);
    if (r)
        return r;
    b->anon = 1;
    if ((r = format(b, &o->attr, k, flags | MBX_OWNED)))
        shmfile_close(&b->file);
    return r;
}

/* A file is adopted only if the caller would have created it: its own, or
 * root's, or any with MBX_SHARED (see mbx.h). */
static int owner_ok(const struct shm_box *b)
{
    uint32_t me = (uint32_t)geteuid();
    return b->file.uid == me || b->file.uid == 0 || (b->base.flags & MBX_SHARED) ? 0 : -EACCES;
}

/* Checks and attaches the file just opened in b->file; closes it on
 * failure. */
static int attach_existing(struct shm_box *b)
{
    int r = owner_ok(b);
    if (r)
        goto out_close;
    if ((r = seg_attach(&b->seg, b->file.base, b->file.size)))
        goto out_close;
    b->seg.fd = b->file.fd;
    if (b->seg.hdr->pidns && ident_pidns() && b->seg.hdr->pidns != ident_pidns()) {
        r = -EXDEV;
        goto out_close;
    }
    if ((r = reboot_check(&b->seg, b->file.fd)) || (r = owner_check_open(b)))
        goto out_close;
    return 0;
out_close:
    shmfile_close(&b->file);
    return r;
}

static int open_named(struct shm_box *b, int flags, const mbx_options *o)
{
    int r = -ENOENT;
    /* Open, else create; a lost creation race means it exists now. */
    for (int tries = 0; tries < 8; tries++) {
        r = shmfile_open(b->path, 0, &b->file);
        if (r == 0)
            r = attach_existing(b);
        if (r == 0 && (flags & MBX_CREATE) && (flags & MBX_EXCL)) {
            shmfile_close(&b->file);
            r = -EEXIST;
        }
        /* A file we may not open, created exclusively: the creation
         * says whether it exists (-EEXIST, whatever its mode, as
         * open(2) does) or what else stops it. */
        if (r == -EACCES && (flags & MBX_CREATE) && (flags & MBX_EXCL))
            r = -ENOENT;
        if (r != -ENOENT || !(flags & MBX_CREATE))
            break;
        r = create_named(b, o, flags);
        if (r != -EEXIST || (flags & MBX_EXCL))
            break;
    }
    return r;
}

static int open_procbox(struct shm_box *b, pid_t pid, int flags, const mbx_options *o)
{
    int r = procbox_open(pid, 0, &b->file);
    if (r == 0) {
        b->anon = 1;
        r = attach_existing(b);
        if (r == 0 && (flags & MBX_CREATE) && (flags & MBX_EXCL)) {
            shmfile_close(&b->file);
            r = -EEXIST;
        }
    }
    if (r == -ENOENT && (flags & MBX_CREATE))
        r = create_procbox(b, o, flags);
    return r;
}

/* What the new handle holds in the mailbox: the owner's receive right, an
 * exclusive receive right, a stream's ends, and its own record of the
 * ring's storage. Gives back what it took when a later step fails. */
static int take_rights(struct shm_box *b)
{
    if (b->seg.flags & MBX_OWNED)
        b->poll_ns = OWNER_POLL_NS;
    int r = owner_take_recv(b);
    if (r)
        return r;
    if ((r = recv_right_take(b)))
        return r;
    struct mb_ctx c = handle_ctx(b);
    if (b->seg.kind->open && (r = b->seg.kind->open(&c, b->base.flags)))
        goto out_right;
    if (b->seg.ring &&
        !(b->seg.slot_backed = calloc(b->seg.ring_slots + b->seg.ring_pool, sizeof(uint32_t)))) {
        r = -ENOMEM;
        goto out_kind;
    }
    return 0;
out_kind:
    if (b->seg.kind->close)
        b->seg.kind->close(&c, b->base.flags);
out_right:
    recv_right_drop(b);
    return r;
}

/* mbx_options.prefault, or MBX_PREFAULT=1 for every open of the process. */
static int wants_prefault(const mbx_options *o)
{
    if (o && o->prefault)
        return 1;
    const char *env = getenv("MBX_PREFAULT");
    return env && strcmp(env, "1") == 0;
}

int shm_box_open(const char *name, int flags, const mbx_options *o, struct mbx **out)
{
    pid_t pid = name_pid(name);
    if (pid > 0 && (flags & MBX_CREATE)) {
        /* Only process PID creates "@PID", always as an owned mailbox. */
        if (pid != ident_self_pid())
            return -EACCES;
        flags |= MBX_OWNED;
    }
    struct shm_box *b = calloc(1, sizeof(*b));
    if (!b)
        return -ENOMEM;
    handle_init(&b->base, &mbx__shm_transport, name, flags);
    b->uid = (uint32_t)geteuid();
    int r;
    if (pid > 0) {
        r = open_procbox(b, pid, flags, o);
    } else {
        char path[NAME_PATH_MAX];
        if ((r = name_path(name, path, sizeof(path))))
            goto out_free;
        if (!(b->path = strdup(path)) || !(b->dir = dir_of(path))) {
            r = -ENOMEM;
            goto out_free;
        }
        r = open_named(b, flags, o);
    }
    if (r)
        goto out_free;
    /* A process answers only calls to mailboxes it may receive from
     * (call.h). */
    if ((flags & MBX_RECV) && (r = call_box_opened(b)))
        goto out_unmap;
    /* Before the rights: taking a stream's send end tells the receiver's
     * pollers, whose sockets are named from it. */
    b->seg.poll_dir = b->dir;
    if ((r = take_rights(b))) {
        call_box_forget(b);
        goto out_unmap;
    }
    /* Best effort: a page that cannot be had now is had at first use (a
     * send that finds no storage then says -ENOSPC, as without it). */
    if (wants_prefault(o))
        (void)seg_prefault(&b->seg);
    if (b->seg.flags & MBX_OWNED)
        handles_add(b);
    *out = &b->base;
    return 0;
out_unmap:
    shmfile_close(&b->file);
out_free:
    free(b->dir);
    free(b->path);
    free(b);
    return r;
}

void shm_box_close(struct mbx *m)
{
    struct shm_box *b = shm_box_of(m);
    poller_close(b);
    /* The owner's last handle takes its mailbox with it. */
    if ((b->seg.flags & MBX_OWNED) && !handles_drop(b) && owner_is_me(b))
        owner_remove(b);
    recv_right_drop(b);
    struct mb_ctx c = handle_ctx(b);
    if (b->seg.kind->close)
        b->seg.kind->close(&c, m->flags);
    if (b->lend_view)
        shmfile_unmap_view(&b->file, b->lend_view);
    call_box_forget(b);
    shmfile_close(&b->file);
    free(b->seg.slot_backed);
    free(b->dir);
    free(b->path);
    free(b);
}

int shm_open_file(const char *name, int readonly, struct shmfile *f, char *path)
{
    path[0] = 0;
    pid_t pid = name_pid(name);
    if (pid > 0)
        return procbox_open(pid, readonly, f);
    int r = name_path(name, path, NAME_PATH_MAX);
    return r ? r : shmfile_open(path, readonly, f);
}

int shm_unlink_file(struct shm_box *b)
{
    return b->path ? shmfile_unlink_same(b->path, &b->file) : 0;
}

int shm_box_unlink(const char *name)
{
    struct shmfile f;
    char path[NAME_PATH_MAX];
    int r = name_check(name);
    if (r || (r = shm_open_file(name, 0, &f, path)))
        return r;
    /* The name goes first: a removal the directory refuses (-EPERM in a
     * sticky directory) or a kill half way must not leave a mailbox that
     * still exists but answers -EIDRM to everyone. */
    if (path[0])
        r = shmfile_unlink_same(path, &f);
    struct seg s;
    char *dir = path[0] ? dir_of(path) : NULL;
    if (r == 0 && seg_attach(&s, f.base, f.size) == 0) {
        /* No lock needed: one atomic flag, then everyone is woken to see it. */
        __atomic_store_n(&s.hdr->hot.removed, 1, __ATOMIC_SEQ_CST);
        wake_everyone(&s);
        s.poll_dir = dir;
        poll_signal_all(&s);
    }
    free(dir);
    shmfile_close(&f);
    return r;
}
