/* Exported mailboxes: each has a thread that takes its messages and
 * publishes them to the subject of their priority band (with JetStream,
 * through the export journal, until the stream has stored them); a request
 * becomes a NATS request whose reply (or failure) is sent back to the
 * caller. */
#include "nats/bridge.h"

#include "core/transport.h"
#include "nats/idkey.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#define EXPORT_WAIT_NS 100000000  /* how often a waiting export looks at stopping */
#define REMAKE_NS      1000000000 /* how often an export makes a missing stream again */

/* Replies the client may hold for the calls' inbox before it drops. */
#define REPLY_PENDING_MSGS  65536
#define REPLY_PENDING_BYTES (64 << 20)

/* A call forwarded to NATS, waiting for its reply. */
struct bcall {
    struct bcall *next;
    uint64_t id;
    int64_t deadline; /* CLOCK_MONOTONIC ns */
    mbx_msginfo info;
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct bcall *call_take(struct mbx_bridge *b, uint64_t id)
{
    pthread_mutex_lock(&b->calls_mu);
    struct bcall **pp = &b->calls, *c;
    while ((c = *pp) && c->id != id)
        pp = &c->next;
    if (c)
        *pp = c->next;
    pthread_mutex_unlock(&b->calls_mu);
    return c;
}

static void answer_error(const mbx_msginfo *info, int err)
{
    const struct mbx_transport *t = transport_local();
    if (t->reply_error)
        t->reply_error(info, err);
}

/* A reply (or the server's "no responders") on the inbox: to its caller. */
static void on_reply(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *arg)
{
    struct mbx_bridge *b = arg;
    (void)nc, (void)sub;
    const char *subj = natsMsg_GetSubject(msg);
    const char *dot = strrchr(subj, '.');
    char *end;
    uint64_t id = dot ? strtoull(dot + 1, &end, 10) : 0;
    struct bcall *c = id && !*end ? call_take(b, id) : NULL;
    if (c) {
        const char *v = NULL;
        long err = 0;
        if (natsMsg_IsNoResponders(msg))
            err = ENOENT;
        else if (natsMsgHeader_Get(msg, HDR_ERROR, &v) == NATS_OK && v) {
            err = strtol(v, &end, 10);
            if (*end || err <= 0 || err > 4095)
                err = EPROTO;
        }
        int r = 0;
        if (!err)
            r = mbx_reply(&c->info, natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg));
        /* A reply the caller's mailbox does not take (larger than its
         * largest message): the caller is told, not left to its timeout
         * (found by a review). One that has left (-ESRCH) is not. */
        if (r == -EMSGSIZE)
            err = EMSGSIZE;
        if (err)
            answer_error(&c->info, (int)-err);
        __atomic_fetch_add(&b->n_calls, 1, __ATOMIC_RELAXED);
        free(c);
    }
    natsMsg_Destroy(msg);
}

/* Ends the calls whose far side did not answer in time. */
static void *sweeper_main(void *arg)
{
    pthread_setname_np(pthread_self(), "mbx-br-sweep"); /* for top -H, perf, gdb */
    struct mbx_bridge *b = arg;
    while (!bridge_stopping(b)) {
        nats_Sleep(50);
        int64_t now = now_ns();
        pthread_mutex_lock(&b->calls_mu);
        struct bcall **pp = &b->calls, *c, *late = NULL;
        while ((c = *pp)) {
            if (c->deadline <= now) {
                *pp = c->next;
                c->next = late;
                late = c;
            } else {
                pp = &c->next;
            }
        }
        pthread_mutex_unlock(&b->calls_mu);
        while ((c = late)) {
            late = c->next;
            answer_error(&c->info, -ETIMEDOUT);
            free(c);
        }
    }
    return NULL;
}

/* The reply inbox's subscription has ended: on_reply has returned for
 * the last time. */
static void inbox_ended(void *arg)
{
    struct mbx_bridge *b = arg;
    __atomic_store_n(&b->inbox_ended, 1, __ATOMIC_RELEASE);
}

int bcalls_start(struct mbx_bridge *b)
{
    natsInbox *inbox = NULL;
    natsStatus s = natsInbox_Create(&inbox);
    if (s != NATS_OK)
        return -ENOMEM;
    snprintf(b->inbox, sizeof(b->inbox), "%s", (const char *)inbox);
    natsInbox_Destroy(inbox);
    char wild[80];
    snprintf(wild, sizeof(wild), "%s.*", b->inbox);
    s = natsConnection_Subscribe(&b->inbox_sub, b->nc, wild, on_reply, b);
    if (s != NATS_OK)
        return -EIO;
    b->inbox_tracked = natsSubscription_SetOnCompleteCB(b->inbox_sub, inbox_ended, b) == NATS_OK;
    /* Bounded: anyone who may publish to the inbox could otherwise grow
     * the bridge's memory without end. A reply dropped past the bound
     * ends its call with -ETIMEDOUT (the sweeper), as a lost one would. */
    natsSubscription_SetPendingLimits(b->inbox_sub, REPLY_PENDING_MSGS, REPLY_PENDING_BYTES);
    if (pthread_create(&b->sweeper, NULL, sweeper_main, b))
        return -EAGAIN;
    b->sweeper_started = 1;
    return 0;
}

void bcalls_stop(struct mbx_bridge *b)
{
    __atomic_store_n(&b->stopping, 1, __ATOMIC_RELEASE);
    if (b->sweeper_started)
        pthread_join(b->sweeper, NULL);
    b->sweeper_started = 0;
    if (b->inbox_sub) {
        /* A reply may be in on_reply right now, on the client's delivery
         * thread: the bridge is freed only once it has returned (it used
         * the freed bridge: a review's ASan run). Its end is told after
         * the unsubscribe; the handler never waits long (mbx_reply does
         * not block). Without the tracking (it could not be set), or
         * when the connection is gone, the unsubscribe fails and nothing
         * more will be delivered. */
        int waits = natsSubscription_Unsubscribe(b->inbox_sub) == NATS_OK && b->inbox_tracked;
        while (waits && !__atomic_load_n(&b->inbox_ended, __ATOMIC_ACQUIRE))
            nats_Sleep(1);
        natsSubscription_Destroy(b->inbox_sub);
        b->inbox_sub = NULL;
    }
    pthread_mutex_lock(&b->calls_mu);
    struct bcall *c, *left = b->calls;
    b->calls = NULL;
    pthread_mutex_unlock(&b->calls_mu);
    while ((c = left)) {
        left = c->next;
        answer_error(&c->info, -ENOTCONN);
        free(c);
    }
}

static natsStatus set_headers(natsMsg *msg, unsigned prio, uint64_t type)
{
    char v[32];
    snprintf(v, sizeof(v), "%u", prio);
    natsStatus s = natsMsgHeader_Set(msg, HDR_PRIO, v);
    if (s == NATS_OK && type) {
        snprintf(v, sizeof(v), "%" PRIu64, type);
        s = natsMsgHeader_Set(msg, HDR_TYPE, v);
    }
    return s;
}

/* A new call's id, with calls_mu held: random, so that whoever saw one
 * request's reply subject (any subscriber of that name's subject) cannot
 * tell the others' and answer them first with a forged reply; never 0 and
 * not one of a call still waiting. */
static uint64_t call_id(struct mbx_bridge *b)
{
    for (;;) {
        uint64_t id = 0;
        if (getrandom(&id, sizeof(id), 0) != (ssize_t)sizeof(id))
            id = ++b->next_call ^ (uint64_t)now_ns() << 20; /* no entropy: unique at least */
        struct bcall *c = b->calls;
        while (c && c->id != id)
            c = c->next;
        if (id && !c)
            return id;
    }
}

/* Forwards a request; its reply comes to on_reply. */
static void forward_call(struct bexport *e, const void *buf, size_t len, const mbx_msginfo *info,
                         uint64_t type)
{
    struct mbx_bridge *b = e->b;
    struct bcall *c = calloc(1, sizeof(*c));
    if (!c) {
        answer_error(info, -ENOMEM);
        return;
    }
    c->info = *info;
    c->deadline = now_ns() + (int64_t)b->call_timeout_ms * 1000000;
    char reply[sizeof(b->inbox) + 24];
    pthread_mutex_lock(&b->calls_mu);
    c->id = call_id(b);
    c->next = b->calls;
    b->calls = c;
    pthread_mutex_unlock(&b->calls_mu);
    snprintf(reply, sizeof(reply), "%s.%" PRIu64, b->inbox, c->id);
    natsMsg *msg = NULL;
    natsStatus s = natsMsg_Create(&msg, e->subj[BRIDGE_BAND_CALL], reply, buf, (int)len);
    if (s == NATS_OK)
        s = set_headers(msg, info->priority, type);
    if (s == NATS_OK)
        s = natsConnection_PublishMsg(b->nc, msg);
    natsMsg_Destroy(msg);
    if (s != NATS_OK && (c = call_take(b, c->id))) {
        answer_error(&c->info, s == NATS_MAX_PAYLOAD ? -EMSGSIZE : -ENOTCONN);
        free(c);
    }
}

/* One message with its headers: published to subj on the bulk connection
 * (core NATS), or stored by the stream under message id (JetStream). */
static natsStatus publish_msg(struct mbx_bridge *b, const char *subj, const void *buf, size_t len,
                              unsigned prio, uint64_t type, const char *id)
{
    natsMsg *msg = NULL;
    natsStatus s = natsMsg_Create(&msg, subj, NULL, buf, (int)len);
    if (s == NATS_OK)
        s = set_headers(msg, prio, type);
    if (s == NATS_OK && !b->jetstream) {
        s = natsConnection_PublishMsg(b->bulk, msg);
    } else if (s == NATS_OK) {
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MsgId = id;
        po.MaxWait = 2000;
        jsPubAck *ack = NULL;
        jsErrCode jerr = 0;
        s = js_PublishMsg(&ack, b->js, msg, &po, &jerr);
        jsPubAck_Destroy(ack);
    }
    natsMsg_Destroy(msg);
    return s;
}

/* The message id of the message numbered seq in e's mailbox (in its life
 * epoch: e->epoch, or the journal's for a message an earlier run took)
 * into id: HOST-EPOCH-SEQ, and with JetStream -TAG, 64 bits of an HMAC of those
 * under the user's key (idkey.h): the same for the same message whenever
 * it is published again (the stream keeps one copy), and one id seen says
 * nothing of the next (a peer who published under the next ids first made
 * the stream drop ours as duplicates). */
static void format_id(const struct bexport *e, const char *epoch, uint64_t seq, char *id,
                      size_t cap)
{
    int n = snprintf(id, cap, "%s-%s-%" PRIu64, e->b->host, epoch, seq);
    const uint8_t *key;
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    if (!e->b->jetstream || n <= 0 || (size_t)n >= cap || idkey_get(&key) != 0 ||
        !HMAC(EVP_sha256(), key, IDKEY_LEN, (const uint8_t *)id, (size_t)n, mac, &len) || len < 8)
        return;
    uint64_t tag;
    memcpy(&tag, mac, sizeof(tag));
    snprintf(id + n, cap - (size_t)n, "-%016" PRIx64, tag);
}

/* JetStream: no stream took the message ("no responders": it was
 * deleted while the bridge runs). Makes it again as at the start (with
 * the same checks of one someone else made meanwhile) once it has been
 * missing for BRIDGE_REMAKE_GRACE_NS, then at most every REMAKE_NS; the
 * message waits meanwhile (journal, mailbox). A new life
 * has its own de-duplication window, and the importing bridges notice it
 * (bridge_import.c). */
static void remake_stream(struct bexport *e)
{
    int64_t now = now_ns();
    if (!e->gone_since)
        e->gone_since = now;
    if (now - e->gone_since < BRIDGE_REMAKE_GRACE_NS || now - e->remade_at < REMAKE_NS)
        return;
    e->remade_at = now;
    char stream[sizeof(e->stream)];
    int r = bridge_stream(e->b, e->name, stream, sizeof(stream), &e->stream_created);
    __atomic_store_n(&e->refused, r == -EEXIST, __ATOMIC_RELEASE);
}

/* JetStream: a publish went unanswered. The stream may be one made again
 * by someone else while the bridge runs, in a way that never answers
 * (no_ack) or that could lose the message: the export then tries again
 * for ever, and says so through mbx_bridge_refusing (it used to stall
 * silently). Looks at most every REMAKE_NS; a publish answered ends it. */
static void unanswered(struct bexport *e)
{
    int64_t now = now_ns();
    if (now - e->checked_at < REMAKE_NS)
        return;
    e->checked_at = now;
    int r = bridge_stream_check(e->b, e->name);
    if (r == 0 || r == -EEXIST)
        __atomic_store_n(&e->refused, r == -EEXIST, __ATOMIC_RELEASE);
}

/* Publishes one message, taken in the mailbox's life epoch; with
 * JetStream, until the stream has it (the same message id every time, so
 * the stream keeps one copy). Returns 0, or -1 when the bridge is
 * stopping (the loan then goes back to the mailbox). */
static int publish(struct bexport *e, const char *epoch, unsigned band, const void *buf, size_t len,
                   const mbx_msginfo *info, uint64_t type)
{
    struct mbx_bridge *b = e->b;
    /* Core NATS, a priority its band's subject says (the band's lowest)
     * and no type: no headers, no message object, as a plain publisher. */
    int bare = !b->jetstream && info->priority == nsubj_band_base(band) && type == 0;
    /* The message id (headers only): formatted only for a message that
     * has headers, as it costs about as much as the publish. */
    char id[NSUBJ_HOST_MAX + 48 + 32 + 20];
    if (!bare)
        format_id(e, epoch, info->seq, id, sizeof(id));
    for (;;) {
        natsStatus s = bare ? natsConnection_Publish(b->bulk, e->subj[band], buf, (int)len)
                            : publish_msg(b, e->subj[band], buf, len, info->priority, type, id);
        if (s == NATS_OK) {
            e->gone_since = 0;
            if (b->jetstream && __atomic_load_n(&e->refused, __ATOMIC_RELAXED))
                __atomic_store_n(&e->refused, 0, __ATOMIC_RELEASE);
            return 0;
        }
        if (s == NATS_MAX_PAYLOAD || s == NATS_INVALID_ARG) {
            /* Cannot happen: the mailbox takes nothing larger. */
            __atomic_fetch_add(&b->n_refused, 1, __ATOMIC_RELAXED);
            return 0;
        }
        if (bridge_stopping(b))
            return -1;
        if (b->jetstream && s == NATS_NO_RESPONDERS)
            remake_stream(e);
        else if (b->jetstream)
            unanswered(e);
        nats_Sleep(50);
    }
}

static void make_epoch(struct bexport *e);

static void *export_main(void *arg)
{
    pthread_setname_np(pthread_self(), "mbx-br-export"); /* for top -H, perf, gdb */
    struct bexport *e = arg;
    struct mbx_bridge *b = e->b;
    struct journal_rec *j = e->j;
    /* What the last run took and the stream may not have: first, under
     * the id it had then. The mailbox may have been made again since (its
     * numbers start at 1 again): under this life's epoch, the new
     * message of that number would be dropped as a duplicate. A journal
     * of an older bridge did not keep the epoch: this life's it is. */
    if (j && journal_pending(j)) {
        char was[sizeof(e->epoch)];
        const char *epoch = journal_epoch(j, was, sizeof(was)) == 0 ? was : e->epoch;
        if (publish(e, epoch, nsubj_band(j->info.priority), j->payload, j->info.size, &j->info,
                    j->type) != 0)
            return NULL; /* stopping: still in the journal */
        __atomic_fetch_add(&b->n_exported, 1, __ATOMIC_RELAXED);
        __atomic_store_n(&j->state, 0, __ATOMIC_RELEASE);
    }
    if (j)
        journal_set_epoch(j, e->epoch); /* nothing pending from here on */
    while (!bridge_stopping(b)) {
        mbx_msginfo local, *info = j ? &j->info : &local;
        uint64_t local_type = 0, *type = j ? &j->type : &local_type;
        void *buf = j ? (void *)j->payload : (void *)e->buf;
        if (j) {
            /* Taken from here on: the receive writes into the journal. */
            __atomic_store_n(&j->info.seq, 0, __ATOMIC_RELEASE);
            j->type = 0;
            __atomic_store_n(&j->state, 1, __ATOMIC_RELEASE);
        }
        ssize_t n =
            mbx_recv_select(e->m, MBX_SEL_ANY, 0, buf, e->max_msg, info, type, EXPORT_WAIT_NS);
        if (n < 0) {
            if (j)
                __atomic_store_n(&j->state, 0, __ATOMIC_RELEASE);
            /* Removed (and perhaps made again by its senders): opened
             * again, a new life for message ids. It stayed on the removed
             * one, exporting nothing until a restart (found by a review). */
            if (n == -EIDRM && bridge_reopen_export(e) == 0) {
                make_epoch(e);
                if (j)
                    journal_set_epoch(j, e->epoch);
                continue;
            }
            if (n != -ETIMEDOUT && n != -EAGAIN && n != -EINTR)
                nats_Sleep(100);
            continue;
        }
        if (info->reply_token) {
            forward_call(e, buf, (size_t)n, info, *type);
        } else if (publish(e, e->epoch, nsubj_band(info->priority), buf, (size_t)n, info, *type) ==
                   0) {
            __atomic_fetch_add(&b->n_exported, 1, __ATOMIC_RELAXED);
        } else {
            break; /* stopping: the journal keeps it for the next run */
        }
        if (j)
            __atomic_store_n(&j->state, 0, __ATOMIC_RELEASE);
    }
    return NULL;
}

/* This life of the mailbox, for message ids: its file's inode and birth
 * time (a mailbox made again has other ones, so its sequence numbers,
 * which start again at 1, do not meet the old ones'). */
static void make_epoch(struct bexport *e)
{
    const char *dir = getenv("MBX_DIR");
    char path[PATH_MAX];
    struct statx sx;
    if (!dir || !*dir)
        dir = "/dev/shm";
    snprintf(e->epoch, sizeof(e->epoch), "0");
    if (e->name[0] == '@' || snprintf(path, sizeof(path), "%s/mbx.%s", dir, e->name) >= PATH_MAX)
        return;
    if (statx(AT_FDCWD, path, 0, STATX_INO | STATX_BTIME, &sx) == 0)
        snprintf(e->epoch, sizeof(e->epoch), "%" PRIx64 "x%" PRIx64, (uint64_t)sx.stx_ino,
                 (sx.stx_mask & STATX_BTIME)
                     ? (uint64_t)sx.stx_btime.tv_sec * 1000000000 + sx.stx_btime.tv_nsec
                     : 0);
}

int bexport_start(struct bexport *e)
{
    const uint8_t *key;
    int r = e->b->jetstream ? idkey_get(&key) : 0; /* what its ids need, now */
    if (r)
        return r;
    make_epoch(e);
    if (pthread_create(&e->th, NULL, export_main, e))
        return -EAGAIN;
    e->started = 1;
    return 0;
}
