/* Public entry points: argument checks, names, handles. */
#include "mbx.h"

#include "alloc.h"
#include "call.h"
#include "handle.h"
#include "reboot.h"
#include "owner.h"
#include "recv_right.h"
#include "self.h"
#include "self_id.h"
#include "sync.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define ALL_FLAGS        (MBX_SEND | MBX_RECV | MBX_CREATE | MBX_EXCL | MBX_OWNED | MBX_STREAM)
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
    struct mb_ctx c = {.s = &m->seg, .wait = m->wait, .pid = self_pid(), .uid = m->uid};
    if (m->seg.flags & MBX_OWNED)
        c.poll = owner_poll;
    return c;
}

/* Creates, formats and publishes a new mailbox file. Returns 0, -EEXIST when
 * another process published the name first, or -errno. */
static int create(struct mbx *m, const char *path, const mbx_attr *a, int flags)
{
    char tmp[NAME_PATH_MAX];
    const char *kind = getenv("MBX_QUEUE");
    if (seg_wants_ring(a, (uint32_t)flags) && !(kind && strcmp(kind, "heap") == 0))
        flags |= SEG_RING;
    uint64_t size = seg_size_for(a, (uint32_t)flags);
    int r = shmfile_create(name_dir(), size, seg_prefix_size(a, (uint32_t)flags), a->mode, &m->file,
                           tmp, sizeof(tmp));
    if (r)
        return r;
    r = seg_format(m->file.base, size, a, m->name,
                   (uint32_t)flags & (MBX_OWNED | MBX_STREAM | SEG_RING), m->file.fd);
    if (!r)
        r = seg_attach(&m->seg, m->file.base, size);
    m->seg.fd = m->file.fd;
    if (!r) {
        alloc_init(&m->seg);
        reboot_stamp(&m->seg);
        if (flags & MBX_OWNED)
            owner_format(&m->seg);
        /* Publishing removes the temporary name, whatever happens. */
        r = shmfile_publish(tmp, path);
    } else {
        unlink(tmp);
    }
    if (r)
        shmfile_close(&m->file);
    return r;
}

static int open_existing(struct mbx *m, const char *path)
{
    int r = shmfile_open(path, 0, &m->file);
    if (r)
        return r;
    r = seg_attach(&m->seg, m->file.base, m->file.size);
    m->seg.fd = m->file.fd;
    if (!r)
        r = reboot_check(&m->seg, m->file.fd);
    if (!r)
        r = owner_check_open(m);
    if (r)
        shmfile_close(&m->file);
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

/* Ownership and the receive right, once the mailbox is mapped. */
static int attach_model(struct mbx *m)
{
    if (m->seg.flags & MBX_OWNED)
        m->wait.poll_ns = OWNER_POLL_NS;
    int r = owner_take_recv(m);
    return r ? r : recv_right_take(m);
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
    char path[NAME_PATH_MAX];
    if ((r = name_path(name, path, sizeof(path))))
        return r;
    struct mbx *m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    strcpy(m->name, name);
    m->flags = flags;
    m->uid = (uint32_t)geteuid();
    m->wait.spin_ns = default_spin();
    /* Open, else create; a lost creation race means it exists now. */
    for (int tries = 0; tries < 8; tries++) {
        r = open_existing(m, path);
        if (r == 0 && (flags & MBX_CREATE) && (flags & MBX_EXCL)) {
            shmfile_close(&m->file);
            r = -EEXIST;
        }
        if (r != -ENOENT || !(flags & MBX_CREATE))
            break;
        r = create(m, path, &a, flags);
        if (r != -EEXIST || (flags & MBX_EXCL))
            break;
    }
    if (!r && (r = attach_model(m)))
        shmfile_close(&m->file);
    if (!r) {
        struct mb_ctx c = handle_ctx(m);
        if ((r = mb_open(&c, flags)))
            shmfile_close(&m->file);
    }
    if (r) {
        free(m);
        return r;
    }
    *out = m;
    return 0;
}

EXPORT int mbx_close(mbx *m)
{
    if (!m)
        return -EINVAL;
    recv_right_drop(m);
    struct mb_ctx c = handle_ctx(m);
    mb_close(&c, m->flags);
    if (m->lend_view)
        shmfile_unmap_view(&m->file, m->lend_view);
    shmfile_close(&m->file);
    free(m);
    return 0;
}

int handle_open_name(const char *name, int readonly, char *path, struct shmfile *f)
{
    int r = name_check(name);
    if (!r)
        r = name_path(name, path, NAME_PATH_MAX);
    if (!r)
        r = shmfile_open(path, readonly, f);
    return r;
}

EXPORT int mbx_unlink(const char *name)
{
    char path[NAME_PATH_MAX];
    struct shmfile f;
    int r = handle_open_name(name, 0, path, &f);
    if (r)
        return r;
    struct seg s;
    if (seg_attach(&s, f.base, f.size) == 0) {
        /* No lock needed: one atomic flag, then everyone is woken to see it. */
        __atomic_store_n(&s.hdr->hot.removed, 1, __ATOMIC_SEQ_CST);
        sync_wake_all(&s);
    }
    r = shmfile_unlink_same(path, &f);
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
    int r = owner_send_check(m);
    if (r)
        return r;
    struct mb_ctx c = handle_ctx(m);
    return mb_send(&c, buf, len, prio, timeout_ns);
}

static ssize_t recv_checks(mbx *m, const void *buf, size_t cap, int64_t timeout_ns)
{
    if (!m)
        return -EINVAL;
    if (!(m->flags & MBX_RECV))
        return -EBADF;
    if ((!buf && cap) || !timeout_ok(timeout_ns))
        return -EINVAL;
    return owner_recv_check(m);
}

/* Receives, and tells a caller waiting in mbx_call who took its request: a
 * ring receive does so before it gives the slot up (see mb_ctx.taken); a
 * heap receive, which holds the mailbox lock meanwhile, just after. */
static ssize_t receive(mbx *m, pid_t from, void *buf, size_t cap, mbx_msginfo *info,
                       int64_t timeout_ns)
{
    mbx_msginfo local;
    if (!info)
        info = &local;
    struct mb_ctx c = handle_ctx(m);
    c.taken = call_taken;
    ssize_t n = mb_recv(&c, from, buf, cap, info, timeout_ns);
    if (n >= 0 && !m->seg.ring)
        call_taken(info);
    return n;
}

EXPORT ssize_t mbx_recv(mbx *m, void *buf, size_t cap, mbx_msginfo *info, int64_t timeout_ns)
{
    ssize_t r = recv_checks(m, buf, cap, timeout_ns);
    if (r)
        return r;
    return receive(m, 0, buf, cap, info, timeout_ns);
}

EXPORT ssize_t mbx_recv_from(mbx *m, pid_t sender, void *buf, size_t cap, mbx_msginfo *info,
                             int64_t timeout_ns)
{
    ssize_t r = recv_checks(m, buf, cap, timeout_ns);
    if (r)
        return r;
    if (sender <= 0)
        return -EINVAL;
    return receive(m, sender, buf, cap, info, timeout_ns);
}
