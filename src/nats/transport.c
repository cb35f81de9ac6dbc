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

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern const struct mbx_transport mbx__nats_transport;

#define NATS_PREFIX "mbx"
#define RECV_SLICE  10 /* ms: how often a waiting receive looks at higher bands */

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
};

static struct nats_box *nb(struct mbx *m)
{
    return (struct nats_box *)m;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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
    if (!r)
        b->max_msg = natsConnection_GetMaxPayload(b->nc) - BRIDGE_HDR_ROOM;
    for (int i = 0; !r && (flags & MBX_RECV) && i < NSUBJ_BANDS; i++) {
        /* The queue group importing bridges form: the request subject. */
        if (natsConnection_QueueSubscribeSync(&b->sub[i], b->nc, b->subj[i],
                                              b->subj[NSUBJ_BANDS]) != NATS_OK)
            r = -EIO;
        else
            natsSubscription_SetPendingLimits(b->sub[i], 65536, 256 << 20);
    }
    if (!r && (flags & MBX_RECV))
        r = nconn_errno(natsConnection_FlushTimeout(b->nc, 5000));
    if (r) {
        for (int i = 0; i < NSUBJ_BANDS; i++)
            natsSubscription_Destroy(b->sub[i]);
        natsConnection_Destroy(b->nc);
        pthread_mutex_destroy(&b->mu);
        free(b);
        return r;
    }
    *out = &b->base;
    return 0;
}

static void nats_close(struct mbx *m)
{
    struct nats_box *b = nb(m);
    natsMsg_Destroy(b->held);
    for (int i = 0; i < NSUBJ_BANDS; i++)
        natsSubscription_Destroy(b->sub[i]);
    natsConnection_FlushTimeout(b->nc, 2000);
    natsConnection_Destroy(b->nc);
    pthread_mutex_destroy(&b->mu);
    free(b);
}

static void nats_wake(struct mbx *m)
{
    (void)m; /* a waiting receive looks at closing every RECV_SLICE ms */
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

/* The next message, the highest band first, waiting up to timeout. */
static natsMsg *next(struct nats_box *b, int64_t timeout_ns, unsigned *band, int *err)
{
    int64_t deadline = timeout_ns < 0 ? -1 : mono_ms() + timeout_ns / 1000000;
    for (;;) {
        for (int k = NSUBJ_BANDS - 1; k >= 0; k--) {
            int pending = 0;
            natsMsg *msg = NULL;
            if (natsSubscription_GetPending(b->sub[k], &pending, NULL) == NATS_OK && pending > 0 &&
                natsSubscription_NextMsg(&msg, b->sub[k], 1) == NATS_OK) {
                *band = (unsigned)k;
                return msg;
            }
        }
        if (__atomic_load_n(&b->base.closing, __ATOMIC_SEQ_CST)) {
            *err = -EBADF;
            return NULL;
        }
        int64_t left = deadline < 0 ? RECV_SLICE : deadline - mono_ms();
        if (left <= 0) {
            *err = timeout_ns == 0 ? -EAGAIN : -ETIMEDOUT;
            return NULL;
        }
        natsMsg *msg = NULL;
        if (natsSubscription_NextMsg(&msg, b->sub[0], left < RECV_SLICE ? left : RECV_SLICE) ==
            NATS_OK) {
            *band = 0;
            return msg;
        }
    }
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

static ssize_t nats_call(struct mbx *m, const void *req, size_t len, unsigned prio, void *reply,
                         size_t cap, int64_t timeout_ns)
{
    struct nats_box *b = nb(m);
    if ((int64_t)len > b->max_msg)
        return -EMSGSIZE;
    natsMsg *msg = NULL, *ans = NULL;
    char v[32];
    snprintf(v, sizeof(v), "%u", prio);
    natsStatus s = natsMsg_Create(&msg, b->subj[NSUBJ_BANDS], NULL, req, (int)len);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(msg, HDR_PRIO, v);
    int64_t ms = timeout_ns < 0 ? INT32_MAX : timeout_ns / 1000000 ? timeout_ns / 1000000 : 1;
    if (s == NATS_OK)
        s = natsConnection_RequestMsg(&ans, b->nc, msg, ms);
    natsMsg_Destroy(msg);
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
    natsMsg *msg = NULL, *ans = NULL;
    char v[32];
    snprintf(v, sizeof(v), "%u", prio);
    natsStatus s = natsMsg_Create(&msg, b->subj[NSUBJ_BANDS], NULL, buf, (int)len);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(msg, HDR_PRIO, v);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(msg, HDR_CONFIRM, "1");
    int64_t ms = timeout_ns < 0 ? INT32_MAX : timeout_ns / 1000000 ? timeout_ns / 1000000 : 1;
    if (s == NATS_OK)
        s = natsConnection_RequestMsg(&ans, b->nc, msg, ms);
    natsMsg_Destroy(msg);
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
