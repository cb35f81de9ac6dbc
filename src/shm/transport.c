/* The shared-memory transport's entry in the transport table, and the
 * calls on a handle: what mbx.h says beyond the core's argument checks
 * (sizes, rights, owners), then the mailbox's kind. */
#include "shm/shm.h"

#include "core/cancel.h"
#include "core/names.h"
#include "shm/origin.h"
#include "shm/call.h"
#include "shm/owner.h"
#include "shm/poller.h"
#include "shm/process.h"
#include "shm/recv_right.h"

#include <errno.h>
#include <sys/mman.h>

/* The longest a default wait spins after a message of len bytes: about the
 * time its peer needs to copy such a message in and out (a round trip of
 * large messages), at a pessimistic 4 bytes a nanosecond, up to 1 ms. A
 * fixed 20 us gave up on a 1 MiB reply while its copies were still under
 * way, and the futex sleep and wake-up that followed added their cost
 * to every round trip. Below 80 KiB this is less than the default. */
#define SIZED_SPIN_MAX_NS 1000000ll
static int64_t sized_spin(int64_t spin_ns, uint64_t len)
{
    int64_t want = (int64_t)(len / 4);
    if (want > SIZED_SPIN_MAX_NS)
        want = SIZED_SPIN_MAX_NS;
    return spin_ns > 0 && want > spin_ns ? want : spin_ns;
}

/* How often a wait looks at its thread's cancel hook (cancel.h), when it
 * has one. */
#define CANCEL_POLL_NS 20000000ll

/* The poll hook of a wait whose thread has a cancel hook: -ECANCELED
 * when it asks, else what an owned mailbox's hook says. */
static int cancel_poll(const struct mb_ctx *c)
{
    if (cancel_asked())
        return -ECANCELED;
    return c->s->flags & MBX_OWNED ? owner_poll(c) : 0;
}

MBX_TLS int *shm_recv_unlooked;

struct mb_ctx handle_ctx(struct shm_box *b)
{
    ident_t me = ident_self();
    int64_t spin = __atomic_load_n(&b->base.spin_ns, __ATOMIC_RELAXED);
    if (__atomic_load_n(&b->base.spin_default, __ATOMIC_RELAXED))
        spin = sized_spin(spin, __atomic_load_n(&b->last_len, __ATOMIC_RELAXED));
    struct mb_ctx c = {
        .s = &b->seg,
        .box = b,
        .wait = {spin, b->poll_ns, &b->base.closing, &b->spins},
        .pid = ident_id(me),
        .uid = b->uid,
        .origin = origin_mine,
        .who = me,
    };
    if (b->seg.flags & MBX_OWNED)
        c.poll = owner_poll;
    if (__builtin_expect(cancel_mine.asked != NULL, 0)) {
        c.poll = cancel_poll;
        if (c.wait.poll_ns <= 0 || c.wait.poll_ns > CANCEL_POLL_NS)
            c.wait.poll_ns = CANCEL_POLL_NS;
    }
    return c;
}

static void wake(struct mbx *m)
{
    wake_everyone(&shm_box_of(m)->seg);
}

static int sync_file(struct mbx *m)
{
    struct shm_box *b = shm_box_of(m);
    if (seg_removed(&b->seg))
        return -EIDRM;
    return msync(b->file.base, b->file.size, MS_SYNC) == 0 ? 0 : -errno;
}

static int send(struct mbx *m, const void *buf, size_t len, unsigned prio, uint64_t type,
                int64_t timeout_ns)
{
    struct shm_box *b = shm_box_of(m);
    if (len > b->seg.max_msg_size && !b->seg.stream)
        return -EMSGSIZE;
    if (type && b->seg.stream)
        return -EINVAL; /* bytes have no types */
    int r = owner_send_check(b);
    if (!r)
        r = send_right_check(b);
    if (r)
        return r;
    struct mb_ctx c = handle_ctx(b);
    c.send_type = type;
    r = mb_send(&c, buf, len, prio, timeout_ns);
    poller_after(b, SEG_POLL_SEND, r, len);
    return r;
}

static ssize_t recv(struct mbx *m, pid_t from, const struct mbx_sel *sel, void *buf, size_t cap,
                    mbx_msginfo *info, int64_t timeout_ns)
{
    struct shm_box *b = shm_box_of(m);
    if (sel->how != MBX_SEL_ANY && b->seg.stream)
        return -EINVAL; /* bytes have no types */
    int r = recv_right_check(b);
    if (!r)
        r = owner_recv_check(b);
    if (r)
        return r;
    struct mb_ctx c = handle_ctx(b);
    c.sel_how = sel->how;
    c.sel_type = sel->type;
    c.type_out = sel->type_out;
    /* A receive from one sender that finds none of its messages must not
     * leave a descriptor readable for the others' (poller.h); one that
     * did not look (the lock stayed busy) leaves it readable while any
     * message is queued, or an event loop waited for ever beside the one
     * it wanted (found by a review). */
    uint64_t mark =
        (from > 0 || sel->how != MBX_SEL_ANY) && b->poller[SEG_POLL_RECV] ? poller_sent_mark(b) : 0;
    int unlooked = 0, *outer = shm_recv_unlooked;
    shm_recv_unlooked = mark ? &unlooked : NULL;
    ssize_t got = mb_recv(&c, from, buf, cap, info, timeout_ns);
    shm_recv_unlooked = outer; /* a signal handler's receive inside another's */
    if (unlooked)
        mark = 0;
    if (got >= 0)
        __atomic_store_n(&b->last_len, (uint64_t)got, __ATOMIC_RELAXED);
    if (got >= 0 && b->seg.stream && sel->type_out)
        *sel->type_out = 0;
    if (got >= 0 && info)
        info->reply_token = call_token_for_user(b, info->reply_token);
    poller_after(b, SEG_POLL_RECV, got, mark);
    return got;
}

/* A loan's receive: as shm_recv_loan, and a call's token handed over as
 * recv's is (bound to this mailbox, call.h). */
static ssize_t recv_loan(struct mbx *m, const struct mbx_sel *sel, const void **buf,
                         mbx_msginfo *info, int64_t timeout_ns)
{
    ssize_t got = shm_recv_loan(m, sel, buf, info, timeout_ns);
    if (got >= 0 && info)
        info->reply_token = call_token_for_user(shm_box_of(m), info->reply_token);
    return got;
}

const struct mbx_transport mbx__shm_transport = {
    .scheme = "",
    .open = shm_box_open,
    .close = shm_box_close,
    .wake = wake,
    .unlink = shm_box_unlink,
    .stat_name = shm_stat_name,
    .foreach = shm_foreach,
    .stat = shm_stat,
    .stat_ext = shm_stat_ext,
    .count_drop = shm_count_drop,
    .stat_ext_name = shm_stat_ext_name,
    .sync = sync_file,
    .send = send,
    .recv = recv,
    .call = shm_call,
    .send_confirmed = shm_send_confirmed,
    .transfer = shm_transfer,
    .loan = shm_loan,
    .send_loan = shm_send_loan,
    .recv_loan = recv_loan,
    .release = shm_release,
    .fd = shm_fd,
    .ready = shm_ready,
    .self = shm_self,
    .reply = shm_reply,
    .reply_error = shm_reply_error,
    .check_name = name_check,
    .fork_prepare = shm_fork_prepare,
    .fork_parent = shm_fork_parent,
    .fork_child = shm_fork_child,
    .at_exit = shm_at_exit,
};
