#include "call.h"

#include "handle.h"
#include "owner.h"
#include "platform/linux/clock.h"
#include "platform/linux/proc.h"
#include "self_id.h"
#include "sync.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define CALL_POLL_NS  20000000ll  /* how often a waiting call looks at the taker */
#define REPLY_WAIT_NS 100000000ll /* how long a reply waits for room */
#define SLOT_WAIT_NS  1000000l    /* retry period while all call slots are busy */
#define PEERS         8           /* cached handles on callers' mailboxes */

static uint32_t counter;

static uint64_t new_token(void)
{
    uint32_t n;
    do
        n = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED) & 0x7fffffffu;
    while (n == 0);
    return (uint64_t)(uint32_t)self_pid() << 32 | n;
}

static int removed(const struct seg *s)
{
    return __atomic_load_n(&s->hdr->hot.removed, __ATOMIC_ACQUIRE) != 0;
}

/* ---- call slots in the caller's own mailbox ---- */

/* Caller holds the lock. Index of the slot holding token, or -1. */
static int slot_find(const struct seg_model *md, uint64_t token)
{
    for (unsigned i = 0; i < SEG_CALLS; i++)
        if (md->calls[i].token == token)
            return (int)i;
    return -1;
}

/* Takes a free slot for token; waits while all are busy (that many calls of
 * this process are under way). Returns the index, -ETIMEDOUT or -EUCLEAN. */
static int slot_claim(struct seg *s, uint64_t token, int64_t deadline)
{
    for (;;) {
        int r = sync_lock(s);
        if (r)
            return r;
        struct seg_model *md = &s->hdr->model;
        int i = slot_find(md, 0);
        if (i >= 0)
            md->calls[i] = (struct seg_call){token, 0, 0};
        sync_unlock(s);
        if (i >= 0)
            return i;
        if (clock_remaining(deadline) == 0)
            return -ETIMEDOUT;
        nanosleep(&(struct timespec){0, SLOT_WAIT_NS}, NULL);
    }
}

static void slot_release(struct seg *s, int i, uint64_t token)
{
    if (sync_lock(s))
        return;
    struct seg_call *c = &s->hdr->model.calls[i];
    if (c->token == token)
        *c = (struct seg_call){0, 0, 0};
    sync_unlock(s);
}

/* ---- handles on callers' mailboxes, for recording takers and replying ---- */

struct peer {
    int32_t pid;
    int refs;
    mbx *m;
};

static struct peer peers[PEERS];
static pthread_mutex_t peers_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t peers_once = PTHREAD_ONCE_INIT;

static void peers_lock_fn(void)
{
    pthread_mutex_lock(&peers_lock);
}

static void peers_unlock_fn(void)
{
    pthread_mutex_unlock(&peers_lock);
}

static void peers_setup(void)
{
    pthread_atfork(peers_lock_fn, peers_unlock_fn, peers_unlock_fn);
}

/* Stores in *out a send handle on "@pid", cached. Returns 0 or an error of
 * mbx_open (-ENOENT when that process is gone). Give it back with peer_put. */
static int peer_get(pid_t pid, mbx **out)
{
    pthread_once(&peers_once, peers_setup);
    pthread_mutex_lock(&peers_lock);
    for (unsigned i = 0; i < PEERS; i++) {
        struct peer *p = &peers[i];
        if (p->m && p->pid == pid && !removed(&p->m->seg)) {
            p->refs++;
            *out = p->m;
            pthread_mutex_unlock(&peers_lock);
            return 0;
        }
    }
    pthread_mutex_unlock(&peers_lock);
    char name[16];
    snprintf(name, sizeof(name), "@%d", (int)pid);
    mbx *m;
    int r = mbx_open(name, MBX_SEND, NULL, &m);
    if (r)
        return r;
    pthread_mutex_lock(&peers_lock);
    for (unsigned i = 0; i < PEERS; i++) {
        struct peer *p = &peers[i];
        if (!p->m || p->refs == 0) {
            if (p->m)
                mbx_close(p->m);
            *p = (struct peer){pid, 1, m};
            break;
        }
    }
    pthread_mutex_unlock(&peers_lock);
    *out = m;
    return 0;
}

static void peer_put(mbx *m)
{
    pthread_mutex_lock(&peers_lock);
    unsigned i = 0;
    while (i < PEERS && peers[i].m != m)
        i++;
    if (i < PEERS)
        peers[i].refs--;
    pthread_mutex_unlock(&peers_lock);
    if (i == PEERS)
        mbx_close(m); /* the cache was full of handles in use */
}

void call_taken(const mbx_msginfo *info)
{
    uint64_t t = info->reply_token;
    mbx *p;
    if (t == 0 || (t & REPLY_BIT) || peer_get((pid_t)(t >> 32), &p))
        return;
    if (sync_lock(&p->seg) == 0) {
        struct seg_model *md = &p->seg.hdr->model;
        int i = slot_find(md, t);
        if (i >= 0) {
            md->calls[i].taker_start = (uint32_t)proc_self_start();
            md->calls[i].taker_pid = self_pid();
        }
        sync_unlock(&p->seg);
    }
    peer_put(p);
}

/* ---- the caller's wait ---- */

struct call_wait {
    struct mb_ctx c; /* first, so the poll hook finds the rest */
    struct seg *target;
    int slot;
    uint64_t token;
};

/* Ends the wait with -EPIPE once the request's taker is gone, or -EIDRM when
 * the target mailbox was removed before anyone took it. */
static int call_poll(const struct mb_ctx *c)
{
    const struct call_wait *w = (const struct call_wait *)c;
    int r = sync_lock(c->s);
    if (r)
        return r;
    struct seg_call slot = c->s->hdr->model.calls[w->slot];
    sync_unlock(c->s);
    if (slot.token != w->token)
        return -EUCLEAN; /* someone scribbled over our slot */
    if (slot.taker_pid != 0)
        return proc_alive(slot.taker_pid, slot.taker_start, 1) ? 0 : -EPIPE;
    return removed(w->target) ? -EIDRM : 0;
}

/* Takes the reply without waiting; one that does not fit is discarded
 * (-EMSGSIZE) so it never lingers in the caller's mailbox. */
static ssize_t take_reply(struct call_wait *w, void *reply, size_t cap)
{
    mbx_msginfo info;
    ssize_t n = mb_recv(&w->c, 0, reply, cap, &info, MBX_NONBLOCK);
    if (n != -EMSGSIZE)
        return n;
    void *tmp = malloc(info.size ? info.size : 1);
    if (tmp) {
        mb_recv(&w->c, 0, tmp, info.size, &info, MBX_NONBLOCK);
        free(tmp);
    }
    return -EMSGSIZE;
}

static ssize_t await_reply(mbx *me, struct seg *target, int slot, uint64_t token, void *reply,
                           size_t cap, int64_t deadline)
{
    struct call_wait w = {handle_ctx(me), target, slot, token};
    w.c.poll = call_poll;
    w.c.wait.poll_ns = CALL_POLL_NS;
    w.c.want_token = token | REPLY_BIT;
    int64_t left = clock_remaining(deadline);
    ssize_t n = mb_recv(&w.c, 0, reply, cap, NULL, left < 0 ? MBX_FOREVER : left);
    slot_release(&me->seg, slot, token);
    if (n >= 0)
        return n;
    /* A reply that came in just as the wait ended still counts; after the
     * slot is gone no new one is sent. */
    ssize_t late = take_reply(&w, reply, cap);
    return late == -EAGAIN ? n : late;
}

EXPORT ssize_t mbx_call(mbx *m, const void *req, size_t len, unsigned prio, void *reply, size_t cap,
                        int64_t timeout_ns)
{
    if (!m)
        return -EINVAL;
    if (!(m->flags & MBX_SEND))
        return -EBADF;
    if (prio >= MBX_PRIO_MAX || (!req && len) || (!reply && cap) || timeout_ns < MBX_FOREVER)
        return -EINVAL;
    if (len > m->seg.max_msg_size)
        return -EMSGSIZE;
    int r = owner_send_check(m);
    mbx *me;
    if (!r)
        r = mbx_self(&me);
    if (r)
        return r;
    int64_t deadline = clock_deadline(timeout_ns);
    uint64_t token = new_token();
    int slot = slot_claim(&me->seg, token, deadline);
    if (slot < 0)
        return slot;
    struct mb_ctx c = handle_ctx(m);
    c.reply_token = token;
    r = mb_send(&c, req, len, prio, timeout_ns);
    if (r) {
        slot_release(&me->seg, slot, token);
        return r;
    }
    return await_reply(me, &m->seg, slot, token, reply, cap, deadline);
}

EXPORT int mbx_reply(const mbx_msginfo *request, const void *buf, size_t len)
{
    if (!request || (!buf && len))
        return -EINVAL;
    uint64_t token = request->reply_token;
    if (token == 0 || (token & REPLY_BIT) || (int32_t)(token >> 32) <= 0)
        return -EINVAL;
    mbx *p;
    int r = peer_get((pid_t)(token >> 32), &p);
    if (r)
        return r == -ENOENT ? -ESRCH : r;
    /* The cached handle may have outlived the caller. */
    r = owner_check(p);
    if (!r && (r = sync_lock(&p->seg)) == 0) {
        r = slot_find(&p->seg.hdr->model, token) >= 0 ? 0 : -ESRCH;
        sync_unlock(&p->seg);
    }
    if (!r && len > p->seg.max_msg_size)
        r = -EMSGSIZE;
    if (!r) {
        struct mb_ctx c = handle_ctx(p);
        c.reply_token = token | REPLY_BIT;
        r = mb_send(&c, buf, len, 0, REPLY_WAIT_NS);
    }
    peer_put(p);
    return r == -EIDRM ? -ESRCH : r;
}
