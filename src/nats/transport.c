/* nats://HOST:PORT/NAME: a program talks to the fleet directly, without a
 * bridge of its own (MBX_WITH_NATS builds). NAME is a mailbox name, mapped
 * to subjects as the bridge maps it (subject.h, prefix "mbx"): mbx_send
 * publishes to the band of its priority (core NATS: at most once),
 * mbx_recv takes from the name's subjects as one more member of the queue
 * group importing bridges form (the highest band first among what has
 * arrived), mbx_call is a NATS request (-ENOENT: no responders). One
 * connection per handle; credentials from $MBX_NATS_TOKEN or
 * $MBX_NATS_CREDS. Requests received here cannot be answered (their
 * reply_token is 0); loans, descriptors, transfer, unlink and stat by
 * name say -ENOTSUP. */
#include "core/handle.h"
#include "nats/bridge.h"
#include "nats/conn.h"
#include "platform/platform.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern const struct mbx_transport mbx__nats_transport;

#define NATS_PREFIX "mbx"
#define BAND_RING   256 /* messages a band holds here; more wait in the client */
/* Bytes a band holds here (more than that only as its one message), and
 * in the client: 64 MiB a band, 256 MiB a handle. The ring had no byte
 * bound: 256 messages of the server's largest on top of the client's
 * share (a review saw 1.3 GiB for a handle that did not receive). */
#define RING_BYTES   (16 << 20)
#define CLIENT_BYTES ((256 << 20) / NSUBJ_BANDS - RING_BYTES)
#define CLOSE_WAIT   5  /* s: the longest close waits for the handlers to end */
#define HIGHER_WAITS 20 /* ms a receive waits for a higher band's arrivals */

struct nats_box;

/* What a band's subscription has delivered and no receive has taken yet.
 * The client's thread for the subscription (on_msg) puts messages in,
 * receives take them out, both under the box's qmu. */
struct band_queue {
    struct nats_box *b;
    unsigned band;
    unsigned head, count;
    size_t bytes; /* of the messages in the ring */
    int full;     /* its handler waits for room */
    natsMsg *ring[BAND_RING];
};

struct nats_box {
    struct mbx base;
    natsConnection *nc;
    natsSubscription *sub[NSUBJ_BANDS];
    natsMsg *held; /* taken from NATS, too large for the last receive */
    unsigned held_band;
    char subj[NSUBJ_BANDS + 1][NSUBJ_MAX];
    int64_t max_msg;
    uint64_t seq;
    pthread_mutex_t mu; /* one receive at a time */
    /* Receiving: each band's messages arrive on a thread of the client
     * and wait here, so a receive that waits wakes for any band at once
     * (it used to sleep on the lowest band's subscription and look at the
     * others every 10 ms: a message of priority 1 or more then waited
     * 9 ms on average). */
    pthread_mutex_t qmu;
    pthread_cond_t arrived; /* a message was queued, or the handle closes */
    pthread_cond_t room;    /* a receive took one, or the handle closes */
    int qclosing;           /* close under way: handlers queue nothing more */
    unsigned completed;     /* subscriptions whose handler will not run again */
    int untracked;          /* a subscription whose end cannot be known */
    struct band_queue q[NSUBJ_BANDS];
};

static struct nats_box *nb(struct mbx *m)
{
    return (struct nats_box *)m;
}

/* Splits "nats://HOST:PORT/NAME": the server URL and the name. */
static int split(const char *name, char *url, size_t urlcap, const char **mbox)
{
    if (strncmp(name, "nats://", 7) != 0)
        return -EINVAL;
    const char *slash = strchr(name + 7, '/');
    if (!slash || slash == name + 7 || (size_t)(slash - name) >= urlcap)
        return -EINVAL;
    memcpy(url, name, (size_t)(slash - name));
    url[slash - name] = 0;
    *mbox = slash + 1;
    char tmp[NSUBJ_MAX];
    if ((*mbox)[0] == '@')
        return -EINVAL;
    int r = nsubj_subject(NATS_PREFIX, 0, *mbox, "h", tmp, sizeof(tmp));
    return r < 0 ? r : 0;
}

static int nats_check_name(const char *name)
{
    char url[300];
    const char *mbox;
    if (strlen(name) > NAME_FULL_MAX)
        return -ENAMETOOLONG;
    return split(name, url, sizeof(url), &mbox);
}

/* A band's message, on the client's thread for its subscription: queued
 * for the receives, waiting while the band's ring is full (the client then
 * holds what follows, up to the subscription's pending limits). */
static void on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    struct band_queue *q = closure;
    struct nats_box *b = q->b;
    (void)nc, (void)sub;
    /* Larger than any message of the name (the bridges refuse such a
     * one too): dropped, or it would stay at the head of its band for
     * every receive's buffer (found by a review). */
    int len = natsMsg_GetDataLength(msg);
    if (len < 0 || (int64_t)len > b->max_msg) {
        natsMsg_Destroy(msg);
        return;
    }
    pthread_mutex_lock(&b->qmu);
    while ((q->count == BAND_RING || (q->count && q->bytes + (size_t)len > RING_BYTES)) &&
           !b->qclosing) {
        q->full = 1;
        pthread_cond_wait(&b->room, &b->qmu);
    }
    if (b->qclosing) {
        pthread_mutex_unlock(&b->qmu);
        natsMsg_Destroy(msg);
        return;
    }
    q->ring[(q->head + q->count) % BAND_RING] = msg;
    q->count++;
    q->bytes += (size_t)len;
    pthread_cond_signal(&b->arrived);
    pthread_mutex_unlock(&b->qmu);
}

/* A subscription is closed and its handler has returned for good. */
static void on_complete(void *closure)
{
    struct nats_box *b = closure;
    pthread_mutex_lock(&b->qmu);
    b->completed++;
    pthread_cond_broadcast(&b->room);
    pthread_mutex_unlock(&b->qmu);
}

/* Ends the subscriptions, waits until no handler can run any more, then
 * frees the box with what it still holds. A handler that never ends
 * (CLOSE_WAIT seconds), or a subscription whose end cannot be known,
 * leaves the box allocated rather than freed under it. */
static void box_free(struct nats_box *b)
{
    unsigned subs = 0;
    pthread_mutex_lock(&b->qmu);
    b->qclosing = 1;
    pthread_cond_broadcast(&b->room);
    pthread_cond_broadcast(&b->arrived);
    pthread_mutex_unlock(&b->qmu);
    for (int i = 0; i < NSUBJ_BANDS; i++)
        if (b->sub[i]) {
            subs++;
            natsSubscription_Unsubscribe(b->sub[i]);
        }
    if (b->nc)
        natsConnection_Close(b->nc); /* closes any subscription left */
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += CLOSE_WAIT;
    int timed_out = b->untracked;
    pthread_mutex_lock(&b->qmu);
    while (b->completed < subs && !timed_out)
        timed_out = pthread_cond_timedwait(&b->room, &b->qmu, &until) == ETIMEDOUT;
    pthread_mutex_unlock(&b->qmu);
    if (timed_out)
        return;
    for (int i = 0; i < NSUBJ_BANDS; i++) {
        natsSubscription_Destroy(b->sub[i]);
        for (; b->q[i].count; b->q[i].count--, b->q[i].head = (b->q[i].head + 1) % BAND_RING)
            natsMsg_Destroy(b->q[i].ring[b->q[i].head]);
    }
    natsMsg_Destroy(b->held);
    natsConnection_Destroy(b->nc);
    pthread_cond_destroy(&b->arrived);
    pthread_cond_destroy(&b->room);
    pthread_mutex_destroy(&b->qmu);
    pthread_mutex_destroy(&b->mu);
    free(b);
}

static int nats_open(const char *name, int flags, const mbx_options *o, struct mbx **out)
{
    (void)o;
    char url[300];
    const char *mbox;
    int r = split(name, url, sizeof(url), &mbox);
    if (r)
        return r;
    if (flags & (MBX_OWNED | MBX_STREAM))
        return -ENOTSUP;
    struct nats_box *b = calloc(1, sizeof(*b));
    if (!b)
        return -ENOMEM;
    handle_init(&b->base, &mbx__nats_transport, name, flags);
    pthread_mutex_init(&b->mu, NULL);
    pthread_mutex_init(&b->qmu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&b->arrived, &ca);
    pthread_cond_init(&b->room, &ca);
    pthread_condattr_destroy(&ca);
    for (unsigned i = 0; i < NSUBJ_BANDS; i++) {
        b->q[i].b = b;
        b->q[i].band = i;
    }
    for (int i = 0; i < NSUBJ_BANDS && !r; i++)
        r = nsubj_subject(NATS_PREFIX, i, mbox, "h", b->subj[i], NSUBJ_MAX) < 0 ? -EINVAL : 0;
    if (!r) {
        snprintf(b->subj[NSUBJ_BANDS], NSUBJ_MAX, "%s", b->subj[0]);
        b->subj[NSUBJ_BANDS][strlen(NATS_PREFIX) + 1] = 'c';
        b->subj[NSUBJ_BANDS][strlen(NATS_PREFIX) + 2] = '.';
        memmove(b->subj[NSUBJ_BANDS] + strlen(NATS_PREFIX) + 2,
                b->subj[NSUBJ_BANDS] + strlen(NATS_PREFIX) + 3,
                strlen(b->subj[NSUBJ_BANDS]) - strlen(NATS_PREFIX) - 2);
    }
    mbx_bridge_options bo;
    mbx_bridge_options_init(&bo);
    bo.servers = url;
    bo.token = getenv("MBX_NATS_TOKEN");
    bo.creds_file = getenv("MBX_NATS_CREDS");
    if (!r)
        r = nconn_open(&bo, 1, &b->nc);
    if (!r) {
        /* The server's word: a max_payload with no room past the headers
         * is refused, one past what an int holds (lengths go to libnats
         * as int) is taken as that much (found by a review). */
        int64_t most = natsConnection_GetMaxPayload(b->nc);
        if (most <= BRIDGE_HDR_ROOM)
            r = -EPROTO;
        else
            b->max_msg = (most > INT32_MAX ? INT32_MAX : most) - BRIDGE_HDR_ROOM;
    }
    for (int i = 0; !r && (flags & MBX_RECV) && i < NSUBJ_BANDS; i++) {
        /* The queue group importing bridges form: the request subject. */
        if (natsConnection_QueueSubscribe(&b->sub[i], b->nc, b->subj[i], b->subj[NSUBJ_BANDS],
                                          on_msg, &b->q[i]) != NATS_OK) {
            b->sub[i] = NULL;
            r = -EIO;
        } else {
            /* Fails only for a subscription already closed, whose
             * handler may still run: then the box is never freed. */
            if (natsSubscription_SetOnCompleteCB(b->sub[i], on_complete, b) != NATS_OK) {
                b->untracked = 1;
                r = -EIO;
            }
            /* At least one message of the largest: libnats drops one
             * larger than the limit (found by a review: 48-64 MiB messages
             * of a server allowing 64 MiB were lost). */
            int64_t most = b->max_msg + BRIDGE_HDR_ROOM;
            natsSubscription_SetPendingLimits(b->sub[i], 65536,
                                              most > CLIENT_BYTES ? (int)most : CLIENT_BYTES);
        }
    }
    if (!r && (flags & MBX_RECV))
        r = nconn_errno(natsConnection_FlushTimeout(b->nc, 5000));
    if (r) {
        box_free(b);
        return r;
    }
    *out = &b->base;
    return 0;
}

static void nats_close(struct mbx *m)
{
    struct nats_box *b = nb(m);
    if (b->nc)
        natsConnection_FlushTimeout(b->nc, 2000);
    box_free(b);
}

/* mbx_close under way: a waiting receive ends at once (-EBADF). */
static void nats_wake(struct mbx *m)
{
    struct nats_box *b = nb(m);
    pthread_mutex_lock(&b->qmu);
    pthread_cond_broadcast(&b->arrived);
    pthread_mutex_unlock(&b->qmu);
}

static int nats_notsup_name(const char *name)
{
    (void)name;
    return -ENOTSUP;
}

static int nats_stat_name(const char *name, mbx_stat *st)
{
    (void)name, (void)st;
    return -ENOTSUP;
}

static int nats_stat(struct mbx *m, mbx_stat *st)
{
    struct nats_box *b = nb(m);
    memset(st, 0, sizeof(*st));
    snprintf(st->name, sizeof(st->name), "%s", strrchr(m->name, '/') + 1);
    st->max_msg_size = (uint64_t)b->max_msg;
    return 0;
}

static int nats_stat_ext(struct mbx *m, mbx_stat_ext *st)
{
    (void)m, (void)st;
    return -ENOTSUP;
}

static int nats_sync(struct mbx *m)
{
    return nconn_errno(natsConnection_FlushTimeout(nb(m)->nc, 10000));
}

static int nats_send(struct mbx *m, const void *buf, size_t len, unsigned prio, uint64_t type,
                     int64_t timeout_ns)
{
    (void)timeout_ns;
    struct nats_box *b = nb(m);
    if ((int64_t)len > b->max_msg)
        return -EMSGSIZE;
    natsMsg *msg = NULL;
    char v[32];
    natsStatus s = natsMsg_Create(&msg, b->subj[nsubj_band(prio)], NULL, buf, (int)len);
    snprintf(v, sizeof(v), "%u", prio);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(msg, HDR_PRIO, v);
    snprintf(v, sizeof(v), "%" PRIu64, type);
    if (s == NATS_OK && type)
        s = natsMsgHeader_Set(msg, HDR_TYPE, v);
    if (s == NATS_OK)
        s = natsConnection_PublishMsg(b->nc, msg);
    natsMsg_Destroy(msg);
    return nconn_errno(s);
}

/* The highest band with a message in the handle, or -1. */
static int top_band(const struct nats_box *b)
{
    for (int k = NSUBJ_BANDS - 1; k >= 0; k--)
        if (b->q[k].count)
            return k;
    return -1;
}

/* Whether a band above k has messages the client holds and its thread has
 * not handed over yet (woken, it may not have run: a busy machine). */
static int higher_arriving(const struct nats_box *b, int k)
{
    for (int j = k + 1; j < NSUBJ_BANDS; j++) {
        int pending = 0;
        if (b->sub[j] && natsSubscription_GetPending(b->sub[j], &pending, NULL) == NATS_OK &&
            pending > 0)
            return 1;
    }
    return 0;
}

static void ts_after(struct timespec *t, int64_t ns)
{
    clock_gettime(CLOCK_MONOTONIC, t);
    int64_t n = t->tv_nsec + ns % 1000000000;
    t->tv_sec += (time_t)(ns / 1000000000 + n / 1000000000);
    t->tv_nsec = (long)(n % 1000000000);
}

static int ts_before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* The next message, the highest band first among those that arrived,
 * waiting up to timeout (0: not at all, -1: without end). A receive that
 * may wait lets a higher band's messages that the client holds come in
 * first, for up to HIGHER_WAITS ms; one that may not takes what the
 * handle has. */
static natsMsg *next(struct nats_box *b, int64_t timeout_ns, unsigned *band, int *err)
{
    struct timespec until;
    if (timeout_ns > 0)
        ts_after(&until, timeout_ns);
    natsMsg *msg = NULL;
    int timed_out = 0, higher_waits = 0;
    pthread_mutex_lock(&b->qmu);
    for (;;) {
        int k = top_band(b);
        if (k >= 0 && timeout_ns != 0 && !timed_out && higher_waits < HIGHER_WAITS &&
            higher_arriving(b, k)) {
            struct timespec soon;
            ts_after(&soon, 1000000);
            higher_waits++;
            int past = timeout_ns > 0 && ts_before(&until, &soon);
            if (pthread_cond_timedwait(&b->arrived, &b->qmu, past ? &until : &soon) == ETIMEDOUT &&
                past)
                timed_out = 1; /* then takes band k */
            continue;
        }
        if (k >= 0) {
            struct band_queue *q = &b->q[k];
            msg = q->ring[q->head];
            q->head = (q->head + 1) % BAND_RING;
            q->count--;
            q->bytes -= (size_t)natsMsg_GetDataLength(msg);
            if (q->full) {
                q->full = 0;
                pthread_cond_broadcast(&b->room); /* its handler waits */
            }
            *band = (unsigned)k;
            break;
        }
        if (__atomic_load_n(&b->base.closing, __ATOMIC_SEQ_CST)) {
            *err = -EBADF;
            break;
        }
        if (timeout_ns == 0 || timed_out) {
            *err = timeout_ns == 0 ? -EAGAIN : -ETIMEDOUT;
            break;
        }
        if (timeout_ns < 0)
            pthread_cond_wait(&b->arrived, &b->qmu);
        else
            timed_out = pthread_cond_timedwait(&b->arrived, &b->qmu, &until) == ETIMEDOUT;
    }
    pthread_mutex_unlock(&b->qmu);
    return msg;
}

static ssize_t nats_recv(struct mbx *m, pid_t from, const struct mbx_sel *sel, void *buf,
                         size_t cap, mbx_msginfo *info, int64_t timeout_ns)
{
    struct nats_box *b = nb(m);
    if (from || (sel && sel->how != MBX_SEL_ANY))
        return -ENOTSUP;
    pthread_mutex_lock(&b->mu);
    int err = 0;
    unsigned band = b->held_band;
    natsMsg *msg = b->held;
    b->held = NULL;
    if (!msg)
        msg = next(b, timeout_ns, &band, &err);
    ssize_t n = err;
    if (msg) {
        unsigned prio;
        uint64_t type;
        bridge_msg_prio(msg, band, &prio, &type);
        n = natsMsg_GetDataLength(msg);
        if (info) {
            memset(info, 0, sizeof(*info));
            info->size = (uint64_t)n;
            info->priority = prio;
            info->seq = ++b->seq;
        }
        if ((size_t)n > cap) {
            b->held = msg; /* stays for a larger buffer */
            b->held_band = band;
            n = -EMSGSIZE;
        } else {
            memcpy(buf, natsMsg_GetData(msg), (size_t)n);
            if (sel && sel->type_out)
                *sel->type_out = type;
            natsMsg_Destroy(msg);
        }
    }
    pthread_mutex_unlock(&b->mu);
    return n;
}

/* A request to the name's request subject with priority prio (and the
 * confirmation header when confirm), answered on an inbox of this call's
 * own, "_INBOX.NUID.R" with R 64 random bits, subscribed for it alone:
 * libnats' requests share one inbox and number their calls in turn (.0,
 * .1, ...), so whoever saw one reply subject could have an answer of its
 * choosing sent to the next caller's, ahead of the true one (the
 * importing bridge answers on the subject a request names; found by a
 * review). Waits up to timeout_ns. Returns the answer in *ans, or a
 * status: NATS_NO_RESPONDERS when nobody imports the name. */
static natsStatus private_request(struct nats_box *b, const void *req, size_t len, unsigned prio,
                                  int confirm, int64_t timeout_ns, natsMsg **ans)
{
    char inbox[160], v[32];
    natsInbox *ib = NULL;
    uint64_t r = 0;
    if (natsInbox_Create(&ib) != NATS_OK)
        return NATS_NO_MEMORY;
    int n = snprintf(inbox, sizeof(inbox), "%s.%016" PRIx64, (const char *)ib,
                     plat_random(&r) == 0 ? r : (uint64_t)0);
    natsInbox_Destroy(ib);
    if (n < 0 || (size_t)n >= sizeof(inbox) || r == 0)
        return NATS_ERR;
    natsMsg *msg = NULL;
    natsSubscription *sub = NULL;
    snprintf(v, sizeof(v), "%u", prio);
    natsStatus s = natsMsg_Create(&msg, b->subj[NSUBJ_BANDS], inbox, req, (int)len);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(msg, HDR_PRIO, v);
    if (s == NATS_OK && confirm)
        s = natsMsgHeader_Set(msg, HDR_CONFIRM, "1");
    if (s == NATS_OK)
        s = natsConnection_SubscribeSync(&sub, b->nc, inbox);
    if (s == NATS_OK)
        s = natsConnection_PublishMsg(b->nc, msg);
    int64_t ms = timeout_ns < 0 ? INT32_MAX : timeout_ns / 1000000 ? timeout_ns / 1000000 : 1;
    if (s == NATS_OK)
        s = natsSubscription_NextMsg(ans, sub, ms);
    /* Ended at the server by name, whatever came: an auto-unsubscribe
     * after one message is not ended by a "no responders" status, which
     * libnats counts (its end is then never sent: a subscription left at
     * the server per such call; found by a review). */
    if (sub)
        natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
    natsMsg_Destroy(msg);
    return s;
}

static ssize_t nats_call(struct mbx *m, const void *req, size_t len, unsigned prio, void *reply,
                         size_t cap, int64_t timeout_ns)
{
    struct nats_box *b = nb(m);
    if ((int64_t)len > b->max_msg)
        return -EMSGSIZE;
    natsMsg *ans = NULL;
    natsStatus s = private_request(b, req, len, prio, 0, timeout_ns, &ans);
    if (s != NATS_OK)
        return s == NATS_NO_RESPONDERS ? -ENOENT : nconn_errno(s);
    const char *e = NULL;
    ssize_t n = natsMsg_GetDataLength(ans);
    if (natsMsgHeader_Get(ans, HDR_ERROR, &e) == NATS_OK && e) {
        char *end;
        long err = strtol(e, &end, 10);
        n = *end || err <= 0 || err > 4095 ? -EPROTO : -err;
    } else if ((size_t)n > cap) {
        n = -EMSGSIZE;
    } else {
        memcpy(reply, natsMsg_GetData(ans), (size_t)n);
    }
    natsMsg_Destroy(ans);
    return n;
}

/* A decimal header of ans in [lo, hi], or -1. */
static long long header_num(natsMsg *ans, const char *key, long long lo, long long hi)
{
    const char *v = NULL;
    if (natsMsgHeader_Get(ans, key, &v) != NATS_OK || !v || !*v)
        return -1;
    char *end;
    long long x = strtoll(v, &end, 10);
    return *end || x < lo || x > hi ? -1 : x;
}

/* mbx_send_confirmed: a request to the importing bridge, which makes the
 * confirmed send into its mailbox (waiting up to its --call-timeout) and
 * answers with the taker; nobody importing the name: -ENOENT. The answer
 * is untrusted: a taker it does not state whole is -EPROTO. */
static int nats_send_confirmed(struct mbx *m, const void *buf, size_t len, unsigned prio,
                               int64_t timeout_ns, mbx_receipt *who)
{
    struct nats_box *b = nb(m);
    if ((int64_t)len > b->max_msg)
        return -EMSGSIZE;
    natsMsg *ans = NULL;
    natsStatus s = private_request(b, buf, len, prio, 1, timeout_ns, &ans);
    if (s != NATS_OK)
        return s == NATS_NO_RESPONDERS ? -ENOENT : nconn_errno(s);
    int r;
    long long err = header_num(ans, HDR_ERROR, 1, 4095);
    const char *host = NULL;
    if (err > 0) {
        r = (int)-err;
    } else {
        long long pid = header_num(ans, HDR_TAKER_PID, 1, INT32_MAX);
        long long uid = header_num(ans, HDR_TAKER_UID, 0, UINT32_MAX);
        if (pid < 0 || uid < 0 || natsMsgHeader_Get(ans, HDR_TAKER_HOST, &host) != NATS_OK ||
            !host) {
            r = -EPROTO;
        } else {
            who->taker_pid = (int32_t)pid;
            who->taker_uid = (uint32_t)uid;
            snprintf(who->taker_host, sizeof(who->taker_host), "%.255s", host);
            r = 0;
        }
    }
    natsMsg_Destroy(ans);
    return r;
}

static int nats_transfer(struct mbx *m, pid_t p)
{
    (void)m, (void)p;
    return -ENOTSUP;
}

static int nats_loan(struct mbx *m, size_t len, void **buf)
{
    (void)m, (void)len, (void)buf;
    return -ENOTSUP;
}

static int nats_send_loan(struct mbx *m, void *buf, size_t len, unsigned prio, uint64_t type,
                          int64_t timeout_ns)
{
    (void)m, (void)buf, (void)len, (void)prio, (void)type, (void)timeout_ns;
    return -ENOTSUP;
}

static ssize_t nats_recv_loan(struct mbx *m, const struct mbx_sel *sel, const void **buf,
                              mbx_msginfo *info, int64_t timeout_ns)
{
    (void)m, (void)sel, (void)buf, (void)info, (void)timeout_ns;
    return -ENOTSUP;
}

static int nats_release(struct mbx *m, const void *buf)
{
    (void)m, (void)buf;
    return -EINVAL;
}

static int nats_reply(const mbx_msginfo *request, const void *buf, size_t len)
{
    (void)request, (void)buf, (void)len;
    return -ENOENT; /* never a request of ours */
}

const struct mbx_transport mbx__nats_transport = {
    .scheme = "nats",
    .open = nats_open,
    .close = nats_close,
    .wake = nats_wake,
    .unlink = nats_notsup_name,
    .stat_name = nats_stat_name,
    .stat = nats_stat,
    .stat_ext = nats_stat_ext,
    .sync = nats_sync,
    .send = nats_send,
    .recv = nats_recv,
    .call = nats_call,
    .send_confirmed = nats_send_confirmed,
    .transfer = nats_transfer,
    .loan = nats_loan,
    .send_loan = nats_send_loan,
    .recv_loan = nats_recv_loan,
    .release = nats_release,
    .reply = nats_reply,
    .check_name = nats_check_name,
};
