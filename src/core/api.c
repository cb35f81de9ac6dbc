/* The public entry points: the argument checks every transport shares, the
 * handle's transport for the rest, and the guard that lets mbx_close wake
 * a call another thread is blocked in. */
#include "mbx.h"

#include "core/guard.h"
#include "core/monitor.h"
#include "core/handle.h"
#include "core/process.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALL_FLAGS                                                                                  \
    (MBX_SEND | MBX_RECV | MBX_CREATE | MBX_EXCL | MBX_OWNED | MBX_STREAM | MBX_SHARED)
#define DEFAULT_SPIN_NS  20000
#define MIN_MEMORY_LIMIT 4096ull
#define MAX_MSG          (1ull << 30)
#define MAX_MEMORY       (1ull << 44)

/* The spin from $MBX_SPIN_NS, or the default; *chosen: whether the
 * variable gave a valid value (the default alone may be lengthened after
 * large messages, a chosen one is kept). */
static int64_t spin_from_env(uint32_t *chosen)
{
    const char *e = getenv("MBX_SPIN_NS");
    *chosen = 0;
    if (!e || !*e)
        return DEFAULT_SPIN_NS;
    char *end;
    long long v = strtoll(e, &end, 10);
    if (*end || v < -1)
        return DEFAULT_SPIN_NS;
    *chosen = 1;
    return v;
}

void handle_init(struct mbx *m, const struct mbx_transport *tp, const char *name, int flags)
{
    m->tp = tp;
    m->flags = flags;
    m->closing = 0;
    uint32_t chosen;
    m->spin_ns = spin_from_env(&chosen);
    m->spin_default = !chosen;
    snprintf(m->name, sizeof(m->name), "%s", name);
}

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

EXPORT void mbx_options_init(mbx_options *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof(*o));
    o->size = sizeof(*o);
    o->kind = MBX_KIND_AUTO;
    mbx_attr_init(&o->attr);
}

static int attr_check(const mbx_attr *a)
{
    if (a->max_msg_size == 0 || a->max_msg_size > MAX_MSG)
        return -EINVAL;
    if (a->capacity > (1u << 31) && a->capacity != MBX_UNBOUNDED)
        return -EINVAL;
    if (a->recv_policy > MBX_RECV_PAIR || a->mode > 0777)
        return -EINVAL;
    if (a->memory_limit < MIN_MEMORY_LIMIT || a->memory_limit > MAX_MEMORY)
        return -EINVAL;
    return 0;
}

/* The caller's options as this build knows them: fields past its size are
 * the defaults, fields past ours are not read. */
static int options_copy(const mbx_options *in, mbx_options *out)
{
    mbx_options_init(out);
    if (!in)
        return 0;
    if (in->size < offsetof(mbx_options, attr) + sizeof(mbx_attr))
        return -EINVAL;
    memcpy(out, in, in->size < sizeof(*out) ? in->size : sizeof(*out));
    out->size = sizeof(*out);
    return out->kind > MBX_KIND_STREAM ? -EINVAL : 0;
}

static int open_checks(const struct mbx_transport *tp, const char *name, int flags,
                       const mbx_options *o)
{
    int r = tp->check_name(name);
    if (r)
        return r;
    if ((flags & ~ALL_FLAGS) || !(flags & (MBX_SEND | MBX_RECV)))
        return -EINVAL;
    if ((flags & (MBX_EXCL | MBX_OWNED | MBX_STREAM)) && !(flags & MBX_CREATE))
        return -EINVAL;
    if (!(flags & MBX_CREATE))
        return 0;
    r = attr_check(&o->attr);
    if (!r && (flags & MBX_STREAM) &&
        (o->attr.capacity == MBX_RENDEZVOUS || o->attr.capacity == MBX_UNBOUNDED))
        r = -EINVAL;
    if (!r && ((o->kind == MBX_KIND_STREAM) != !!(flags & MBX_STREAM) && o->kind != MBX_KIND_AUTO))
        r = -EINVAL;
    return r;
}

EXPORT int mbx_open_opts(const char *name, int flags, const mbx_options *opts, mbx **out)
{
    if (!out || !name)
        return -EINVAL;
    const struct mbx_transport *tp = transport_for(name);
    if (!tp)
        return -EPROTONOSUPPORT;
    mbx_options o;
    int r = options_copy(opts, &o);
    if (!r)
        r = open_checks(tp, name, flags, &o);
    if (r)
        return r;
    process_init();
    return tp->open(name, flags, &o, out);
}

EXPORT int mbx_open(const char *name, int flags, const mbx_attr *attr, mbx **out)
{
    mbx_options o;
    mbx_options_init(&o);
    if (attr && (flags & MBX_CREATE))
        o.attr = *attr;
    return mbx_open_opts(name, flags, &o, out);
}

/* Makes calls blocked on m look at its closing flag. */
static void wake_for_close(mbx *m)
{
    m->tp->wake(m);
}

EXPORT int mbx_close(mbx *m)
{
    if (!m)
        return -EINVAL;
    monitor_handle_closing(m); /* no notice goes to it any more */
    __atomic_store_n(&m->closing, 1, __ATOMIC_SEQ_CST);
    guard_wait_idle(m, wake_for_close);
    m->tp->close(m);
    return 0;
}

EXPORT int mbx_unlink(const char *name)
{
    if (!name)
        return -EINVAL;
    const struct mbx_transport *tp = transport_for(name);
    return tp ? tp->unlink(name) : -EPROTONOSUPPORT;
}

EXPORT int mbx_stat_name(const char *name, mbx_stat *st)
{
    if (!name || !st)
        return -EINVAL;
    const struct mbx_transport *tp = transport_for(name);
    return tp ? tp->stat_name(name, st) : -EPROTONOSUPPORT;
}

EXPORT int mbx_foreach(int (*fn)(const char *name, void *arg), void *arg)
{
    if (!fn)
        return -EINVAL;
    int r = 0;
    for (const struct mbx_transport *const *t = mbx_transports; *t && !r; t++)
        if ((*t)->foreach)
            r = (*t)->foreach (fn, arg);
    return r;
}

EXPORT int mbx_stat_get(mbx *m, mbx_stat *st)
{
    if (!m || !st)
        return -EINVAL;
    return m->tp->stat(m, st);
}

EXPORT int mbx_stat_ext_get(mbx *m, mbx_stat_ext *st)
{
    if (!m || !st || st->size < sizeof(uint32_t))
        return -EINVAL;
    mbx_stat_ext full;
    memset(&full, 0, sizeof(full));
    full.size = sizeof(full);
    int r = m->tp->stat_ext(m, &full);
    if (r)
        return r;
    uint32_t size = st->size;
    memcpy(st, &full, size < sizeof(full) ? size : sizeof(full));
    st->size = size < sizeof(full) ? size : (uint32_t)sizeof(full);
    return 0;
}

EXPORT int mbx_stat_ext_name(const char *name, mbx_stat_ext *st)
{
    if (!name || !st || st->size < sizeof(uint32_t))
        return -EINVAL;
    const struct mbx_transport *tp = transport_for(name);
    if (!tp)
        return -EPROTONOSUPPORT;
    if (!tp->stat_ext_name)
        return -ENOTSUP;
    mbx_stat_ext full;
    memset(&full, 0, sizeof(full));
    full.size = sizeof(full);
    int r = tp->stat_ext_name(name, &full);
    if (r)
        return r;
    uint32_t size = st->size;
    memcpy(st, &full, size < sizeof(full) ? size : sizeof(full));
    st->size = size < sizeof(full) ? size : (uint32_t)sizeof(full);
    return 0;
}

EXPORT int mbx_sync(mbx *m)
{
    if (!m)
        return -EINVAL;
    return m->tp->sync(m);
}

EXPORT int mbx_set_spin(mbx *m, int64_t spin_ns)
{
    if (!m || spin_ns < -1)
        return -EINVAL;
    __atomic_store_n(&m->spin_ns, spin_ns, __ATOMIC_RELAXED);
    __atomic_store_n(&m->spin_default, 0, __ATOMIC_RELAXED);
    return 0;
}

static int timeout_ok(int64_t t)
{
    return t >= MBX_FOREVER;
}

static const struct mbx_sel sel_any = {MBX_SEL_ANY, 0, NULL};

/* Whether a selection's how is an MBX_SEL_* value, with MBX_SEL_SYSV or
 * not: any other bit is refused, so that it can mean something later. */
static int sel_ok(uint32_t how)
{
    return (how & ~(uint32_t)MBX_SEL_SYSV) <= MBX_SEL_NE;
}

static int send_typed(mbx *m, const void *buf, size_t len, unsigned prio, uint64_t type,
                      int64_t timeout_ns)
{
    if (!m)
        return -EINVAL;
    if (!(m->flags & MBX_SEND))
        return -EBADF;
    if (prio >= MBX_PRIO_MAX || (!buf && len) || !timeout_ok(timeout_ns))
        return -EINVAL;
    struct mbx *prev = guard_enter(m);
    int r = m->tp->send(m, buf, len, prio, type, timeout_ns);
    guard_leave(prev);
    return r;
}

EXPORT int mbx_send(mbx *m, const void *buf, size_t len, unsigned prio, int64_t timeout_ns)
{
    return send_typed(m, buf, len, prio, 0, timeout_ns);
}

EXPORT int mbx_send_typed(mbx *m, const void *buf, size_t len, unsigned prio, uint64_t type,
                          int64_t timeout_ns)
{
    return send_typed(m, buf, len, prio, type, timeout_ns);
}

/* A confirmed send's token is the transport's business, not a call the
 * receiver could answer. */
static void hide_confirm_token(mbx_msginfo *info)
{
    if (info && (info->reply_token & MBX_TOKEN_CONFIRM))
        info->reply_token = 0;
}

static ssize_t receive(mbx *m, pid_t from, const struct mbx_sel *sel, void *buf, size_t cap,
                       mbx_msginfo *info, int64_t timeout_ns)
{
    if (!(m->flags & MBX_RECV))
        return -EBADF;
    if ((!buf && cap) || !timeout_ok(timeout_ns) || !sel_ok(sel->how))
        return -EINVAL;
    struct mbx *prev = guard_enter(m);
    ssize_t n = m->tp->recv(m, from, sel, buf, cap, info, timeout_ns);
    guard_leave(prev);
    hide_confirm_token(info);
    return n;
}

EXPORT ssize_t mbx_recv(mbx *m, void *buf, size_t cap, mbx_msginfo *info, int64_t timeout_ns)
{
    if (!m)
        return -EINVAL;
    return receive(m, 0, &sel_any, buf, cap, info, timeout_ns);
}

EXPORT ssize_t mbx_recv_select(mbx *m, int how, uint64_t type, void *buf, size_t cap,
                               mbx_msginfo *info, uint64_t *type_out, int64_t timeout_ns)
{
    if (!m || how < 0)
        return -EINVAL;
    struct mbx_sel sel = {(uint32_t)how, type, type_out};
    return receive(m, 0, &sel, buf, cap, info, timeout_ns);
}

EXPORT ssize_t mbx_recv_from(mbx *m, pid_t sender, void *buf, size_t cap, mbx_msginfo *info,
                             int64_t timeout_ns)
{
    if (!m)
        return -EINVAL;
    if (sender <= 0)
        return !(m->flags & MBX_RECV) ? -EBADF : -EINVAL;
    return receive(m, sender, &sel_any, buf, cap, info, timeout_ns);
}

EXPORT int mbx_self(mbx **out)
{
    if (!out)
        return -EINVAL;
    process_init();
    return transport_local()->self(out);
}

EXPORT ssize_t mbx_call(mbx *m, const void *req, size_t len, unsigned prio, void *reply, size_t cap,
                        int64_t timeout_ns)
{
    if (!m)
        return -EINVAL;
    if (!(m->flags & MBX_SEND))
        return -EBADF;
    if (prio >= MBX_PRIO_MAX || (!req && len) || (!reply && cap) || !timeout_ok(timeout_ns))
        return -EINVAL;
    struct mbx *prev = guard_enter(m);
    ssize_t n = m->tp->call(m, req, len, prio, reply, cap, timeout_ns);
    guard_leave(prev);
    return n;
}

EXPORT int mbx_send_confirmed(mbx *m, const void *buf, size_t len, unsigned prio,
                              int64_t timeout_ns, mbx_receipt *who)
{
    if (!m)
        return -EINVAL;
    if (!(m->flags & MBX_SEND))
        return -EBADF;
    if (prio >= MBX_PRIO_MAX || (!buf && len) || !timeout_ok(timeout_ns))
        return -EINVAL;
    if (!m->tp->send_confirmed)
        return -ENOTSUP;
    mbx_receipt mine;
    memset(&mine, 0, sizeof(mine));
    struct mbx *prev = guard_enter(m);
    int r = m->tp->send_confirmed(m, buf, len, prio, timeout_ns, &mine);
    guard_leave(prev);
    if (r == 0 && who)
        *who = mine;
    return r;
}

EXPORT int mbx_reply(const mbx_msginfo *request, const void *buf, size_t len)
{
    if (!request || (!buf && len))
        return -EINVAL;
    process_init();
    /* A request taken over a network transport is answered through it;
     * its tokens never look like local ones. */
    for (const struct mbx_transport *const *t = mbx_transports; *t; t++) {
        if (*t == transport_local() || !(*t)->reply)
            continue;
        int r = (*t)->reply(request, buf, len);
        if (r != -ENOENT)
            return r;
    }
    return transport_local()->reply(request, buf, len);
}

EXPORT int mbx_transfer(mbx *m, pid_t new_owner)
{
    if (!m || new_owner <= 0)
        return -EINVAL;
    return m->tp->transfer(m, new_owner);
}

EXPORT int mbx_loan(mbx *m, size_t len, void **buf)
{
    if (!m || !buf)
        return -EINVAL;
    if (!(m->flags & MBX_SEND))
        return -EBADF;
    struct mbx *prev = guard_enter(m);
    int r = m->tp->loan(m, len, buf);
    guard_leave(prev);
    return r;
}

static int send_loan_typed(mbx *m, void *buf, size_t len, unsigned prio, uint64_t type,
                           int64_t timeout_ns)
{
    if (!m || !buf)
        return -EINVAL;
    if (!(m->flags & MBX_SEND))
        return -EBADF;
    if (prio >= MBX_PRIO_MAX || !timeout_ok(timeout_ns))
        return -EINVAL;
    struct mbx *prev = guard_enter(m);
    int r = m->tp->send_loan(m, buf, len, prio, type, timeout_ns);
    guard_leave(prev);
    return r;
}

EXPORT int mbx_send_loan(mbx *m, void *buf, size_t len, unsigned prio, int64_t timeout_ns)
{
    return send_loan_typed(m, buf, len, prio, 0, timeout_ns);
}

EXPORT int mbx_send_loan_typed(mbx *m, void *buf, size_t len, unsigned prio, uint64_t type,
                               int64_t timeout_ns)
{
    return send_loan_typed(m, buf, len, prio, type, timeout_ns);
}

static ssize_t recv_loan_sel(mbx *m, const struct mbx_sel *sel, const void **buf, mbx_msginfo *info,
                             int64_t timeout_ns)
{
    if (!m || !buf)
        return -EINVAL;
    if (!(m->flags & MBX_RECV))
        return -EBADF;
    if (!timeout_ok(timeout_ns) || !sel_ok(sel->how))
        return -EINVAL;
    struct mbx *prev = guard_enter(m);
    ssize_t n = m->tp->recv_loan(m, sel, buf, info, timeout_ns);
    guard_leave(prev);
    hide_confirm_token(info);
    return n;
}

EXPORT ssize_t mbx_recv_loan(mbx *m, const void **buf, mbx_msginfo *info, int64_t timeout_ns)
{
    return recv_loan_sel(m, &sel_any, buf, info, timeout_ns);
}

EXPORT ssize_t mbx_recv_loan_select(mbx *m, int how, uint64_t type, const void **buf,
                                    mbx_msginfo *info, uint64_t *type_out, int64_t timeout_ns)
{
    if (how < 0)
        return -EINVAL;
    struct mbx_sel sel = {(uint32_t)how, type, type_out};
    return recv_loan_sel(m, &sel, buf, info, timeout_ns);
}

EXPORT int mbx_release(mbx *m, const void *buf)
{
    if (!m || !buf)
        return -EINVAL;
    if (!(m->flags & MBX_RECV))
        return -EBADF;
    return m->tp->release(m, buf);
}
