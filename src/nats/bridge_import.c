/* Imported mailboxes: a thread per priority band takes what arrives on the
 * band's subject and delivers it into the mailbox, one delivery at a time
 * and the highest band first; another answers the requests of the
 * mailbox's request subject with mbx_call. Core NATS: queue subscriptions
 * (every bridge importing a name shares the subject's messages). JetStream:
 * a durable pull consumer per band that fetches no more than the mailbox
 * has room for, and acknowledges a message once it is in the mailbox. */
#include "nats/bridge.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define IMPORT_WAIT_MS 200       /* how often a waiting import looks at stopping */
#define SEND_WAIT_NS   100000000 /* a delivery into a full mailbox looks as often */
#define FETCH_MAX      256
#define PENDING_BYTES  (256 << 20) /* core: bytes held for a full mailbox */

/* JetStream: the fetched batch a band's thread holds, told "in progress"
 * while a full mailbox holds it up, so the stream does not send it to
 * another bridge meanwhile. */
struct held_batch {
    natsMsgList *list;
    unsigned band;
    int from;              /* the first message not yet delivered */
    int64_t last_progress; /* CLOCK_MONOTONIC ns */
};

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t own_seq(struct bimport *im, unsigned band, natsMsg *msg);

/* Tells the stream the batch h is still in hand (its messages only: what
 * else came to the inbox has a reply subject chosen by others). */
static void keep_held(struct bimport *im, struct held_batch *h)
{
    int64_t now = mono_ns();
    if (!h || now - h->last_progress < (int64_t)im->b->ack_wait_ms * 1000000 / 3)
        return;
    for (int k = h->from; k < h->list->Count; k++)
        if (own_seq(im, h->band, h->list->Msgs[k]))
            natsMsg_InProgress(h->list->Msgs[k], NULL);
    h->last_progress = now;
}

struct band_arg {
    struct bimport *im;
    unsigned band;
};

/* The delivery turn. A band's thread says it wants it as soon as it
 * holds a message (and keeps saying so while more of its band are at
 * hand), so a lower band never slips in between two messages of a
 * higher one. */
static void turn_want(struct bimport *im, unsigned band)
{
    pthread_mutex_lock(&im->mu);
    im->waiting[band]++;
    pthread_cond_broadcast(&im->cv); /* a lower band may wait for this */
    pthread_mutex_unlock(&im->mu);
}

/* 1 when a band above band wants the turn, or has messages that arrived
 * and its thread has not taken yet: woken, it may not have run yet (a
 * busy machine), and the lower band must not use that time to deliver
 * ahead of it. Not while stopping: the band's thread may be gone. */
static int higher_waits(struct bimport *im, unsigned band)
{
    for (unsigned k = band + 1; k < NSUBJ_BANDS; k++) {
        int pending = 0;
        if (im->waiting[k])
            return 1;
        if (!bridge_stopping(im->b) && im->sub[k] &&
            natsSubscription_GetPending(im->sub[k], &pending, NULL) == NATS_OK && pending > 0)
            return 1;
    }
    return 0;
}

/* Waits until nobody delivers and no higher band wants the turn. */
static void turn_take(struct bimport *im, unsigned band)
{
    pthread_mutex_lock(&im->mu);
    while (im->sending || higher_waits(im, band)) {
        /* Timed: a higher band's arrival and the bridge stopping do not
         * signal the condition. */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += IMPORT_WAIT_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&im->cv, &im->mu, &until);
    }
    im->sending = 1;
    pthread_mutex_unlock(&im->mu);
}

/* Ends a delivery; still_want: the band has more at hand. */
static void turn_give(struct bimport *im, unsigned band, int sending, int still_want)
{
    pthread_mutex_lock(&im->mu);
    if (sending)
        im->sending = 0;
    if (!still_want)
        im->waiting[band]--;
    pthread_cond_broadcast(&im->cv);
    pthread_mutex_unlock(&im->mu);
}

/* Delivers one message into the mailbox, waiting while it is full; more:
 * the band has more at hand (*held: it said it wants the turn). Returns 0,
 * 1 when refused (too large), or -1 when the bridge stops first. With
 * JetStream, records the delivery (jsstate) around it. */
static int deliver(struct bimport *im, unsigned band, natsMsg *msg, uint64_t seq, int *held,
                   int more, struct held_batch *hb)
{
    struct mbx_bridge *b = im->b;
    unsigned prio;
    uint64_t type;
    int len = natsMsg_GetDataLength(msg);
    if (!*held)
        turn_want(im, band);
    *held = 1;
    if (len < 0 || (uint64_t)len > im->max_msg) {
        __atomic_fetch_add(&b->n_refused, 1, __ATOMIC_RELAXED);
        turn_give(im, band, 0, more);
        *held = more;
        return 1;
    }
    bridge_msg_prio(msg, band, &prio, &type);
    turn_take(im, band);
    if (im->st) {
        mbx_stat st;
        int r = mbx_stat_get(im->m, &st);
        jsstate_begin(im->st, seq, band, r ? UINT64_MAX : st.sent_total);
    }
    int r;
    for (;;) {
        r = mbx_send_typed(im->m, natsMsg_GetData(msg), (size_t)len, prio, type, SEND_WAIT_NS);
        if ((r != -ETIMEDOUT && r != -EINTR && r != -EAGAIN) || bridge_stopping(b))
            break;
        keep_held(im, hb);
    }
    if (im->st)
        jsstate_end(im->st, r == 0);
    more = more && r == 0;
    turn_give(im, band, 1, more);
    *held = more;
    if (r == 0) {
        __atomic_fetch_add(&b->n_imported, 1, __ATOMIC_RELAXED);
        return 0;
    }
    if (bridge_stopping(b))
        return -1;
    __atomic_fetch_add(&b->n_refused, 1, __ATOMIC_RELAXED);
    return 1;
}

static void *core_band_main(void *arg)
{
    pthread_setname_np(pthread_self(), "mbx-br-import"); /* for top -H, perf, gdb */
    struct band_arg *a = arg;
    struct bimport *im = a->im;
    unsigned band = a->band;
    free(a);
    int held = 0;
    while (!bridge_stopping(im->b)) {
        natsMsg *msg = NULL;
        natsStatus s = natsSubscription_NextMsg(&msg, im->sub[band], IMPORT_WAIT_MS);
        if (s != NATS_OK) {
            if (held)
                turn_give(im, band, 0, 0);
            held = 0;
            if (s != NATS_TIMEOUT)
                nats_Sleep(50);
            continue;
        }
        __atomic_fetch_add(&im->b->n_held, 1, __ATOMIC_RELAXED);
        int pending = 0;
        natsSubscription_GetPending(im->sub[band], &pending, NULL);
        deliver(im, band, msg, 0, &held, pending > 0, NULL);
        __atomic_fetch_sub(&im->b->n_held, 1, __ATOMIC_RELAXED);
        natsMsg_Destroy(msg);
    }
    if (held)
        turn_give(im, band, 0, 0);
    return NULL;
}

/* The durable consumer of band band: "mbx-pB". */
static void durable_name(unsigned band, char *out, size_t cap)
{
    snprintf(out, cap, "mbx-p%u", band);
}

/* The stream sequence of a message band band fetched, or 0 when it is not
 * one the stream sent to the band's consumer: anyone who may publish to
 * the pull inbox can put a message there, or point a push consumer of
 * their own stream at it (genuine acks and metadata, of the wrong
 * stream). Such a message is not delivered, and its sequence must not be
 * recorded: the stream's own message of that number would be dropped. */
static uint64_t own_seq(struct bimport *im, unsigned band, natsMsg *msg)
{
    const char *reply = natsMsg_GetReply(msg);
    if (!reply || strncmp(reply, "$JS.ACK.", 8))
        return 0;
    jsMsgMetaData *meta = NULL;
    if (natsMsg_GetMetaData(&meta, msg) != NATS_OK)
        return 0;
    char durable[16];
    durable_name(band, durable, sizeof(durable));
    uint64_t seq = 0;
    if (meta->Stream && !strcmp(meta->Stream, im->stream) && meta->Consumer &&
        !strcmp(meta->Consumer, durable))
        seq = meta->Sequence.Stream;
    jsMsgMetaData_Destroy(meta);
    return seq;
}

/* Makes room in the delivery record's unacked table when it is full: what
 * each band's consumer says it had acked in full (its ack floor) can be
 * forgotten; those acks reached the stream, their confirmations did not
 * come back. */
static void prune_acked(struct bimport *im)
{
    if (jsstate_room(im->st) > 0)
        return;
    for (unsigned k = 0; k < NSUBJ_BANDS; k++) {
        char durable[16];
        jsConsumerInfo *ci = NULL;
        durable_name(k, durable, sizeof(durable));
        if (js_GetConsumerInfo(&ci, im->b->js, im->stream, durable, NULL, NULL) != NATS_OK)
            continue;
        jsstate_prune(im->st, k, ci->AckFloor.Stream);
        jsConsumerInfo_Destroy(ci);
    }
}

/* Acknowledges, waiting for the server to confirm (half a second each
 * time), a few times: a cluster electing a leader does not hold the
 * delivery of the rest for long. */
static void ack(struct bimport *im, natsMsg *msg, uint64_t seq)
{
    jsOptions o;
    jsOptions_Init(&o);
    o.Wait = 500;
    for (int i = 0; i < 4 && !bridge_stopping(im->b); i++) {
        if (natsMsg_AckSync(msg, &o, NULL) == NATS_OK) {
            jsstate_acked(im->st, seq);
            return;
        }
        nats_Sleep(50);
    }
    /* Not confirmed: the stream sends it again after the ack wait, and
     * jsstate keeps it as delivered until an ack is confirmed. */
}

static void *js_band_main(void *arg)
{
    pthread_setname_np(pthread_self(), "mbx-br-import"); /* for top -H, perf, gdb */
    struct band_arg *a = arg;
    struct bimport *im = a->im;
    unsigned band = a->band;
    free(a);
    while (!bridge_stopping(im->b)) {
        mbx_stat st;
        int room = 1;
        if (mbx_stat_get(im->m, &st) == 0 && st.capacity != MBX_UNBOUNDED && st.capacity > st.count)
            room = (int)(st.capacity - st.count);
        else if (st.capacity == MBX_UNBOUNDED)
            room = FETCH_MAX;
        if (room > FETCH_MAX)
            room = FETCH_MAX;
        natsMsgList list = {0};
        jsFetchRequest req;
        jsFetchRequest_Init(&req);
        req.Batch = room;
        req.Expires = (int64_t)IMPORT_WAIT_MS * 1000000;
        natsStatus s = natsSubscription_FetchRequest(&list, im->sub[band], &req);
        if (s != NATS_OK) {
            if (s != NATS_TIMEOUT)
                nats_Sleep(100);
            continue;
        }
        int stop = 0, held = 0;
        struct held_batch hb = {&list, band, 0, mono_ns()};
        __atomic_fetch_add(&im->b->n_held, (uint64_t)list.Count, __ATOMIC_RELAXED);
        /* Each message stops being held when its turn of the loop ends. */
        for (int k = 0; k < list.Count;
             k++, __atomic_fetch_sub(&im->b->n_held, 1, __ATOMIC_RELAXED)) {
            natsMsg *msg = list.Msgs[k];
            if (stop)
                continue; /* not acknowledged: sent again later */
            uint64_t seq = own_seq(im, band, msg);
            if (!seq) {
                /* Not acked either: its reply subject is not ours to use. */
                __atomic_fetch_add(&im->b->n_refused, 1, __ATOMIC_RELAXED);
                continue;
            }
            if (jsstate_seen(im->st, seq)) {
                __atomic_fetch_add(&im->b->n_redeliver, 1, __ATOMIC_RELAXED);
                ack(im, msg, seq);
                continue;
            }
            prune_acked(im);
            hb.from = k;
            int r = deliver(im, band, msg, seq, &held, k + 1 < list.Count, &hb);
            if (r < 0) {
                stop = 1;
                continue;
            }
            if (r == 1)
                natsMsg_Term(msg, NULL); /* never deliverable: do not send it again */
            else
                ack(im, msg, seq);
        }
        if (held)
            turn_give(im, band, 0, 0);
        natsMsgList_Destroy(&list);
    }
    return NULL;
}

/* 1 when the bridge may publish a reply to subject reply. A requester
 * chooses it, and the bridge publishes with its own rights: never to
 * "$..." (the JetStream API "$JS.API.STREAM.DELETE.X", system subjects)
 * nor into the bridge's own subjects ("PREFIX.p0.NAME" would put a message
 * into another mailbox's stream, "PREFIX.c.NAME" a request). */
static int reply_allowed(const struct mbx_bridge *b, const char *reply)
{
    size_t n = strlen(b->prefix);
    if (!reply || !*reply || reply[0] == '$')
        return 0;
    return strncmp(reply, b->prefix, n) || (reply[n] != '.' && reply[n] != 0);
}

/* Answers the requests of the request subject, one at a time. */
static void *call_main(void *arg)
{
    pthread_setname_np(pthread_self(), "mbx-br-call"); /* for top -H, perf, gdb */
    struct bimport *im = arg;
    struct mbx_bridge *b = im->b;
    size_t cap = (size_t)(b->max_payload > 0 ? b->max_payload : 1 << 20);
    void *out = malloc(cap);
    while (out && !bridge_stopping(b)) {
        natsMsg *msg = NULL;
        natsStatus s = natsSubscription_NextMsg(&msg, im->sub[BRIDGE_BAND_CALL], IMPORT_WAIT_MS);
        if (s != NATS_OK) {
            if (s != NATS_TIMEOUT)
                nats_Sleep(50);
            continue;
        }
        const char *reply = natsMsg_GetReply(msg);
        int len = natsMsg_GetDataLength(msg);
        if (!reply || !*reply) {
            natsMsg_Destroy(msg);
            continue;
        }
        if (!reply_allowed(b, reply)) {
            /* Not delivered either: nobody could have its answer. */
            __atomic_fetch_add(&b->n_refused, 1, __ATOMIC_RELAXED);
            natsMsg_Destroy(msg);
            continue;
        }
        unsigned prio;
        uint64_t type;
        bridge_msg_prio(msg, BRIDGE_BAND_CALL, &prio, &type);
        ssize_t n = -EMSGSIZE;
        const char *confirm = NULL;
        mbx_receipt who;
        int confirmed = natsMsgHeader_Get(msg, HDR_CONFIRM, &confirm) == NATS_OK && confirm;
        if (len >= 0 && (uint64_t)len <= im->max_msg && confirmed)
            n = mbx_send_confirmed(im->m, natsMsg_GetData(msg), (size_t)len, prio,
                                   (int64_t)b->call_timeout_ms * 1000000, &who);
        else if (len >= 0 && (uint64_t)len <= im->max_msg)
            n = mbx_call(im->m, natsMsg_GetData(msg), (size_t)len, prio, out, cap,
                         (int64_t)b->call_timeout_ms * 1000000);
        natsMsg *ans = NULL;
        if (natsMsg_Create(&ans, reply, NULL, n > 0 ? out : NULL, n > 0 ? (int)n : 0) == NATS_OK) {
            char v[16];
            snprintf(v, sizeof(v), "%d", (int)-n);
            if (n < 0)
                natsMsgHeader_Set(ans, HDR_ERROR, v);
            if (n == 0 && confirmed) {
                snprintf(v, sizeof(v), "%d", (int)who.taker_pid);
                natsMsgHeader_Set(ans, HDR_TAKER_PID, v);
                snprintf(v, sizeof(v), "%u", (unsigned)who.taker_uid);
                natsMsgHeader_Set(ans, HDR_TAKER_UID, v);
                natsMsgHeader_Set(ans, HDR_TAKER_HOST, b->host);
            }
            natsConnection_PublishMsg(b->nc, ans);
            natsMsg_Destroy(ans);
        }
        __atomic_fetch_add(&b->n_calls, 1, __ATOMIC_RELAXED);
        natsMsg_Destroy(msg);
    }
    free(out);
    return NULL;
}

static int start_thread(struct bimport *im, unsigned k, void *(*fn)(void *))
{
    void *arg = im;
    if (k < NSUBJ_BANDS) {
        struct band_arg *a = malloc(sizeof(*a));
        if (!a)
            return -ENOMEM;
        a->im = im;
        a->band = k;
        arg = a;
    }
    if (pthread_create(&im->th[k], NULL, fn, arg)) {
        if (arg != im)
            free(arg);
        return -EAGAIN;
    }
    im->started[k] = 1;
    return 0;
}

int bimport_start(struct bimport *im)
{
    struct mbx_bridge *b = im->b;
    /* Every bridge importing this name shares its messages. */
    snprintf(im->queue, sizeof(im->queue), "%s", im->subj[BRIDGE_BAND_CALL]);
    natsStatus s = natsConnection_QueueSubscribeSync(&im->sub[BRIDGE_BAND_CALL], b->nc,
                                                     im->subj[BRIDGE_BAND_CALL], im->queue);
    if (s != NATS_OK)
        return -EIO;
    int r = 0;
    if (b->jetstream) {
        mbx_stat st;
        r = mbx_stat_get(im->m, &st);
        if (!r)
            r = jsstate_open(im->stream, st.sent_total, &im->st);
        if (!r)
            jsstate_bind(im->st, im->stream_created);
    }
    for (unsigned k = 0; !r && k < NSUBJ_BANDS; k++) {
        if (!b->jetstream) {
            s = natsConnection_QueueSubscribeSync(&im->sub[k], b->nc, im->subj[k], im->queue);
            if (s == NATS_OK)
                s = natsSubscription_SetPendingLimits(im->sub[k], (int)b->pending_limit,
                                                      PENDING_BYTES);
        } else {
            char durable[16];
            durable_name(k, durable, sizeof(durable));
            jsSubOptions so;
            jsSubOptions_Init(&so);
            so.Stream = im->stream;
            so.Config.AckPolicy = js_AckExplicit;
            so.Config.AckWait = (int64_t)b->ack_wait_ms * 1000000;
            so.Config.MaxAckPending = 4 * FETCH_MAX;
            jsErrCode jerr = 0;
            for (int tries = 0; tries < 50; tries++) {
                s = js_PullSubscribe(&im->sub[k], b->js, im->subj[k], durable, NULL, &so, &jerr);
                if (s == NATS_OK || bridge_stopping(b))
                    break;
                nats_Sleep(100);
            }
        }
        if (s != NATS_OK)
            r = -EIO;
    }
    for (unsigned k = 0; !r && k < NSUBJ_BANDS; k++)
        r = start_thread(im, k, b->jetstream ? js_band_main : core_band_main);
    if (!r)
        r = start_thread(im, BRIDGE_BAND_CALL, call_main);
    return r;
}
