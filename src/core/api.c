/* Public entry points: argument checks, names, handles. */
#include "mbx.h"

#include "shm/heap/alloc.h"
#include "core/guard.h"
#include "shm/handle.h"
#include "shm/owner.h"
#include "platform/platform.h"
#include "shm/procbox.h"
#include "shm/reboot.h"
#include "shm/recv_right.h"
#include "shm/self.h"
#include "shm/sync.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define ALL_FLAGS                                                                                  \
    (MBX_SEND | MBX_RECV | MBX_CREATE | MBX_EXCL | MBX_OWNED | MBX_STREAM | MBX_SHARED)
#define DEFAULT_SPIN_NS  20000
#define MIN_MEMORY_LIMIT 4096ull

EXPORT void mbx_attr_init(mbx_attr *attr)
{
    if (!attr)
        return;
    attr->max_msg_size = 8192;
    attr->capacity = 64;
    attr->recv_policy = MBX_RECV_ANY;
    attr->mode = 0600;
    attr->memory_limit = 1ull << 30;
}

static int attr_check(const mbx_attr *a)
{
    if (a->max_msg_size == 0 || a->max_msg_size > SEG_MAX_MSG)
        return -EINVAL;
    if (a->capacity > (1u << 31) && a->capacity != MBX_UNBOUNDED)
        return -EINVAL;
    if (a->recv_policy > MBX_RECV_ROUND_ROBIN || a->mode > 0777)
        return -EINVAL;
    if (a->memory_limit < MIN_MEMORY_LIMIT || a->memory_limit > SEG_MAX_ARENA)
        return -EINVAL;
    return 0;
}

static int64_t default_spin(void)
{
    const char *e = getenv("MBX_SPIN_NS");
    if (!e || !*e)
        return DEFAULT_SPIN_NS;
    char *end;
    long long v = strtoll(e, &end, 10);
    return (*end || v < -1) ? DEFAULT_SPIN_NS : v;
}

struct mb_ctx handle_ctx(struct mbx *m)
{
    ident_t me = ident_self();
    struct mb_ctx c = {
        .s = &m->seg, .wait = m->wait, .pid = ident_id(me), .uid = m->uid, .who = me, .handle = m};
    if (m->seg.flags & MBX_OWNED)
        c.poll = owner_poll;
    return c;
}

int handle_unlink_file(struct mbx *m)
{
    return m->path ? shmfile_unlink_same(m->path, &m->file) : 0;
}

/* The kind a new mailbox gets. */
static uint32_t kind_flags(const mbx_attr *a, int flags)
{
    const char *kind = getenv("MBX_QUEUE");
    uint32_t f = (uint32_t)flags & (MBX_OWNED | MBX_STREAM);
    if (seg_wants_ring(a, (uint32_t)flags) && !(kind && strcmp(kind, "heap") == 0))
        f |= SEG_RING;
    return f;
}

/* Formats the new file in m->file as a mailbox with these attributes. */
static int format(struct mbx *m, const mbx_attr *a, uint32_t kind)
{
    int r = seg_format(m->file.base, m->file.size, a, m->name, kind, m->file.fd);
    if (r)
        return r;
    if ((r = seg_attach(&m->seg, m->file.base, m->file.size)))
        return r;
    m->seg.fd = m->file.fd;
    alloc_init(&m->seg);
    reboot_stamp(&m->seg);
    if (kind & MBX_OWNED)
        owner_format(&m->seg);
    return 0;
}

/* Creates, formats and publishes a new mailbox file. Returns 0, -EEXIST when
 * another process published the name first, or -errno. */
static int create_named(struct mbx *m, const mbx_attr *a, int flags)
{
    uint32_t kind = kind_flags(a, flags);
    uint64_t size = seg_size_for(a, kind);
    int r = shmfile_create(name_dir(), size, seg_prefix_size(a, kind), a->mode, &m->file);
    if (r)
        return r;
    if ((r = format(m, a, kind))) {
        shmfile_close(&m->file);
        return r;
    }
    return shmfile_publish(&m->file, m->path);
}

/* This process's own mailbox, "@PID": owned, default attributes. */
static int create_procbox(struct mbx *m, const mbx_attr *a, int flags)
{
    uint32_t kind = kind_flags(a, flags | MBX_OWNED);
    int r = procbox_create(seg_size_for(a, kind), &m->file);
    if (r)
        return r;
    if ((r = format(m, a, kind)))
        shmfile_close(&m->file);
    m->anon = 1;
    return r;
}

/* A file is adopted only if the caller would have created it: its own, or
 * root's, or any with MBX_SHARED (see mbx.h). */
static int owner_ok(const struct mbx *m)
{
    uint32_t me = (uint32_t)geteuid();
    return m->file.uid == me || m->file.uid == 0 || (m->flags & MBX_SHARED) ? 0 : -EACCES;
}

static int attach_existing(struct mbx *m)
{
    int r = owner_ok(m);
    if (!r)
        r = seg_attach(&m->seg, m->file.base, m->file.size);
    m->seg.fd = m->file.fd;
    if (!r && m->seg.hdr->pidns && ident_pidns() && m->seg.hdr->pidns != ident_pidns())
        r = -EXDEV;
    if (!r)
        r = reboot_check(&m->seg, m->file.fd);
    if (!r)
        r = owner_check_open(m);
    if (r)
        shmfile_close(&m->file);
    return r;
}

static int open_named(struct mbx *m, int flags, const mbx_attr *a)
{
    int r = -ENOENT;
    /* Open, else create; a lost creation race means it exists now. */
    for (int tries = 0; tries < 8; tries++) {
        r = shmfile_open(m->path, 0, &m->file);
        if (r == 0)
            r = attach_existing(m);
        if (r == 0 && (flags & MBX_CREATE) && (flags & MBX_EXCL)) {
            shmfile_close(&m->file);
            r = -EEXIST;
        }
        if (r != -ENOENT || !(flags & MBX_CREATE))
            break;
        r = create_named(m, a, flags);
        if (r != -EEXIST || (flags & MBX_EXCL))
            break;
    }
    return r;
}

static int open_procbox(struct mbx *m, pid_t pid, int flags, const mbx_attr *a)
{
    int r = procbox_open(pid, 0, &m->file);
    if (r == 0) {
        m->anon = 1;
        r = attach_existing(m);
        if (r == 0 && (flags & MBX_CREATE) && (flags & MBX_EXCL)) {
            shmfile_close(&m->file);
            r = -EEXIST;
        }
    }
    if (r == -ENOENT && (flags & MBX_CREATE))
        r = create_procbox(m, a, flags);
    return r;
}

static int open_checks(const char *name, int flags, mbx **out)
{
    if (!out)
        return -EINVAL;
    int r = name_check(name);
    if (r)
        return r;
    if ((flags & ~ALL_FLAGS) || !(flags & (MBX_SEND | MBX_RECV)))
        return -EINVAL;
    if ((flags & (MBX_EXCL | MBX_OWNED | MBX_STREAM)) && !(flags & MBX_CREATE))
        return -EINVAL;
    return 0;
}

/* Ownership, the receive rights, and what this handle knows of the file's
 * storage, once the mailbox is mapped. */
static int attach_model(struct mbx *m)
{
    if (m->seg.flags & MBX_OWNED)
        m->wait.poll_ns = OWNER_POLL_NS;
    int r = owner_take_recv(m);
    if (!r)
        r = recv_right_take(m);
    if (!r) {
        struct mb_ctx c = handle_ctx(m);
        r = mb_open(&c, m->flags);
        if (r)
            recv_right_drop(m);
    }
    if (!r && m->seg.ring && !(m->seg.slot_backed = calloc(m->seg.ring_slots, sizeof(uint32_t)))) {
        struct mb_ctx c = handle_ctx(m);
        mb_close(&c, m->flags);
        recv_right_drop(m);
        r = -ENOMEM;
    }
    return r;
}

static void handle_free(struct mbx *m)
{
    free(m->seg.slot_backed);
    free(m->path);
    free(m);
}

EXPORT int mbx_open(const char *name, int flags, const mbx_attr *attr, mbx **out)
{
    int r = open_checks(name, flags, out);
    if (!r)
        r = self_name_check(name, &flags);
    if (r)
        return r;
    mbx_attr a;
    mbx_attr_init(&a);
    if ((flags & MBX_CREATE) && attr) {
        a = *attr;
        if ((r = attr_check(&a)))
            return r;
    }
    if ((flags & MBX_STREAM) && (a.capacity == MBX_RENDEZVOUS || a.capacity == MBX_UNBOUNDED))
        return -EINVAL;
    struct mbx *m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    strcpy(m->name, name);
    m->flags = flags;
    m->uid = (uint32_t)geteuid();
    m->wait.spin_ns = default_spin();
    m->wait.closing = &m->closing;
    pid_t pid = procbox_pid(name);
    if (pid > 0) {
        r = open_procbox(m, pid, flags, &a);
    } else {
        char path[NAME_PATH_MAX];
        r = name_path(name, path, sizeof(path));
        if (!r && !(m->path = strdup(path)))
            r = -ENOMEM;
        if (!r)
            r = open_named(m, flags, &a);
    }
    if (r) {
        handle_free(m);
        return r;
    }
    if ((r = attach_model(m))) {
        shmfile_close(&m->file);
        handle_free(m);
        return r;
    }
    *out = m;
    return 0;
}

/* Wakes every waiter of the handle's mailbox, so that a call blocked on the
 * handle sees it closing. */
static void wake_for_close(struct mbx *m)
{
    sync_wake_all(&m->seg);
}

EXPORT int mbx_close(mbx *m)
{
    if (!m)
        return -EINVAL;
    __atomic_store_n(&m->closing, 1, __ATOMIC_SEQ_CST);
    guard_wait_idle(m, wake_for_close);
    recv_right_drop(m);
    struct mb_ctx c = handle_ctx(m);
    mb_close(&c, m->flags);
    if (m->lend_view)
        shmfile_unmap_view(&m->file, m->lend_view);
    shmfile_close(&m->file);
    handle_free(m);
    return 0;
}

int handle_open_name(const char *name, int readonly, struct shmfile *f, char *path)
{
    int r = name_check(name);
    if (r)
        return r;
    path[0] = 0;
    pid_t pid = procbox_pid(name);
    if (pid > 0)
        return procbox_open(pid, readonly, f);
    r = name_path(name, path, NAME_PATH_MAX);
    return r ? r : shmfile_open(path, readonly, f);
}

EXPORT int mbx_unlink(const char *name)
{
    struct shmfile f;
    char path[NAME_PATH_MAX];
    int r = handle_open_name(name, 0, &f, path);
    if (r)
        return r;
    /* The name goes first: a removal the directory refuses (-EPERM in a
     * sticky directory) or a kill half way must not leave a mailbox that
     * still exists but answers -EIDRM to everyone. */
    if (path[0])
        r = shmfile_unlink_same(path, &f);
    struct seg s;
    if (r == 0 && seg_attach(&s, f.base, f.size) == 0) {
        /* No lock needed: one atomic flag, then everyone is woken to see it. */
        __atomic_store_n(&s.hdr->hot.removed, 1, __ATOMIC_SEQ_CST);
        sync_wake_all(&s);
    }
    shmfile_close(&f);
    return r;
}

EXPORT int mbx_sync(mbx *m)
{
    if (!m)
        return -EINVAL;
    if (__atomic_load_n(&m->seg.hdr->hot.removed, __ATOMIC_ACQUIRE))
        return -EIDRM;
    return msync(m->file.base, m->file.size, MS_SYNC) == 0 ? 0 : -errno;
}

EXPORT int mbx_set_spin(mbx *m, int64_t spin_ns)
{
    if (!m || spin_ns < -1)
        return -EINVAL;
    m->wait.spin_ns = spin_ns;
    return 0;
}

static int timeout_ok(int64_t t)
{
    return t >= MBX_FOREVER;
}

EXPORT int mbx_send(mbx *m, const void *buf, size_t len, unsigned prio, int64_t timeout_ns)
{
    if (!m)
        return -EINVAL;
    if (!(m->flags & MBX_SEND))
        return -EBADF;
    if (prio >= MBX_PRIO_MAX || (!buf && len) || !timeout_ok(timeout_ns))
        return -EINVAL;
    if (len > m->seg.max_msg_size && !m->seg.stream)
        return -EMSGSIZE;
    struct mbx *prev = guard_enter(m);
    int r = owner_send_check(m);
    if (!r) {
        struct mb_ctx c = handle_ctx(m);
        r = mb_send(&c, buf, len, prio, timeout_ns);
    }
    guard_leave(prev);
    return r;
}

static ssize_t recv_checks(mbx *m, const void *buf, size_t cap, int64_t timeout_ns)
{
    if (!m)
        return -EINVAL;
    if (!(m->flags & MBX_RECV))
        return -EBADF;
    if ((!buf && cap) || !timeout_ok(timeout_ns))
        return -EINVAL;
    int r = recv_right_check(m);
    return r ? r : owner_recv_check(m);
}

static ssize_t receive(mbx *m, pid_t from, void *buf, size_t cap, mbx_msginfo *info,
                       int64_t timeout_ns)
{
    struct mbx *prev = guard_enter(m);
    ssize_t n = recv_checks(m, buf, cap, timeout_ns);
    if (!n) {
        struct mb_ctx c = handle_ctx(m);
        n = mb_recv(&c, from, buf, cap, info, timeout_ns);
    }
    guard_leave(prev);
    return n;
}

EXPORT ssize_t mbx_recv(mbx *m, void *buf, size_t cap, mbx_msginfo *info, int64_t timeout_ns)
{
    if (!m)
        return -EINVAL;
    return receive(m, 0, buf, cap, info, timeout_ns);
}

EXPORT ssize_t mbx_recv_from(mbx *m, pid_t sender, void *buf, size_t cap, mbx_msginfo *info,
                             int64_t timeout_ns)
{
    if (!m)
        return -EINVAL;
    if (sender <= 0) {
        ssize_t r = recv_checks(m, buf, cap, timeout_ns);
        return r ? r : -EINVAL;
    }
    return receive(m, sender, buf, cap, info, timeout_ns);
}
