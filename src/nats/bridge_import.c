/* Imported mailboxes: a thread per priority band takes what arrives on the
 * band's subject and delivers it into the mailbox, one delivery at a time
 * and the highest band first; another answers the requests of the
 * mailbox's request subject with mbx_call. Core NATS: queue subscriptions
 * (every bridge importing a name shares the subject's messages). JetStream:
 * a durable pull consumer per band that fetches no more than the mailbox
 * has room for, and acknowledges a message once it is in the mailbox.
 *
 * The stream may be deleted and made again while the bridge runs (by an
 * operator, or another bridge starting): its consumers go with it, and the
 * new life's sequence numbers start at 1 again, so the delivery record of
 * the old life would take new messages for ones delivered. The import
 * looks (asks the stream's creation time) every LIFE_LOOK_NS, before it
 * drops a message as delivered (once per fetched batch), and before it
 * acknowledges a batch held longer; on a new life it binds the record
 * afresh, makes its consumers again, and hands back what it fetched
 * before (not delivered, not acknowledged: an ack goes to the consumer by
 * sequence number, and nats-server 2.9 takes the new life's message of
 * that number out of a work queue, delivered or not). */
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
#define SEND_RETRY_MS  100       /* a mailbox at its memory limit, or failing, is tried again */
#define FETCH_MAX      JS_PULL_MAX
/* Core: bytes held for a full mailbox, all bands together (each band's
 * subscription holds a share: libnats limits each on its own). */
#define PENDING_BYTES (256 << 20)
/* JetStream: how often the import asks which life of the stream is
 * current (one stream info request per import, whatever the load). */
#define LIFE_LOOK_NS 1000000000LL

/* JetStream: the fetched batch a band's thread holds, told "in progress"
 * while a full mailbox holds it up, so the stream does not send it to
 * another bridge meanwhile. */
struct held_batch {
    struct js_pull_batch *list;
    unsigned band;
    int from;              /* the first message not yet delivered */
    int64_t last_progress; /* CLOCK_MONOTONIC ns */
    uint64_t life;         /* im->life before the fetch was asked */
    int64_t fetched;       /* when it arrived (CLOCK_MONOTONIC ns) */
};

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The mailbox now, for one use (box_put gives it back): a thread's
 * handle stays open while it uses it, however another replaces it. */
static struct ibox *box_get(struct bimport *im)
{
    pthread_mutex_lock(&im->box_mu);
    struct ibox *x = im->box;
    x->refs++;
    pthread_mutex_unlock(&im->box_mu);
    return x;
}

static void box_put(struct bimport *im, struct ibox *x)
{
    pthread_mutex_lock(&im->box_mu);
    int last = --x->refs == 0;
    pthread_mutex_unlock(&im->box_mu);
    if (last) {
        mbx_close(x->m);
        free(x);
    }
}

/* The mailbox of x (held: box_get) was removed (-EIDRM): opens it again,
 * making it as at the start when nobody has yet, unless another thread
 * did since. Its receivers' mailbox made again (mbx rm, then made anew)
 * got nothing until the bridge restarted: core NATS lost every message,
 * JetStream handed each back every 100 ms (found by a review). Returns 0
 * (im->box is not x any more) or an error of the open. */
static int box_reopen(struct bimport *im, struct ibox *x)
{
    int r = 0;
    pthread_mutex_lock(&im->box_mu);
    if (im->box == x) {
        struct ibox *fresh = calloc(1, sizeof(*fresh));
        uint64_t max_msg = 0;
        r = fresh ? bridge_open_box(im->b, im->name, MBX_SEND, bridge_import_kind(im->b),
                                    UINT64_MAX, &fresh->m, &max_msg)
                  : -ENOMEM;
        if (r == 0) {
            fresh->refs = 1;
            im->box = fresh;
            __atomic_store_n(&im->max_msg, max_msg, __ATOMIC_RELAXED);
            x->refs--; /* no longer im->box; the caller's use keeps it open */
        } else {
            free(fresh);
        }
    }
    pthread_mutex_unlock(&im->box_mu);
    return r;
}

int bimport_box(struct bimport *im, mbx *m, uint64_t max_msg)
{
    struct ibox *x = calloc(1, sizeof(*x));
    if (!x)
        return -ENOMEM;
    x->m = m;
    x->refs = 1;
    im->box = x;
    im->max_msg = max_msg;
    return 0;
}

static uint64_t own_seq(struct bimport *im, unsigned band, natsMsg *msg);

/* Tells the stream the batch h is still in hand (its messages only: what
 * else came to the inbox has a reply subject chosen by others). What its
 * requests brought since the take joins the batch first: it waits in the
 * inbox as long, and the stream would send it to another bridge after
 * the ack wait (both then delivered it: found by a review). */
static void keep_held(struct bimport *im, struct held_batch *h)
{
    int64_t now = mono_ns();
    if (!h ||
        now - h->last_progress < __atomic_load_n(&im->ack_wait_ns[h->band], __ATOMIC_RELAXED) / 3)
        return;
    int more = js_pull_more(&im->pull[h->band], h->list);
    __atomic_fetch_add(&im->b->n_held, (uint64_t)more, __ATOMIC_RELAXED);
    for (int k = h->from; k < h->list->count; k++)
        if (own_seq(im, h->band, h->list->msgs[k]))
            js_pull_in_progress(im->b->nc, h->list->msgs[k]);
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

/* Waits on im->cv (im->mu held) for at most IMPORT_WAIT_MS: a higher
 * band's arrival and the bridge stopping do not signal the condition. */
static void turn_wait(struct bimport *im)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += IMPORT_WAIT_MS * 1000000L;
    until.tv_sec += until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    pthread_cond_timedwait(&im->cv, &im->mu, &until);
}

/* Waits until nobody delivers and no higher band wants the turn. The
 * batch hb (JetStream; NULL in core NATS) is told "in progress" meanwhile
 * (keep_held): a higher band may wait long for room in a full mailbox,
 * and without it the stream sent this batch to another bridge after the
 * ack wait, and both delivered it. */
static void turn_take(struct bimport *im, unsigned band, struct held_batch *hb)
{
    pthread_mutex_lock(&im->mu);
    while (im->sending || higher_waits(im, band)) {
        turn_wait(im);
        if (hb) {
            pthread_mutex_unlock(&im->mu); /* keep_held publishes */
            keep_held(im, hb);
            pthread_mutex_lock(&im->mu);
        }
    }
    im->sending = 1;
    pthread_mutex_unlock(&im->mu);
}

/* Takes the turn whatever band waits, for a move to a new life of the
 * stream: none may come between a delivery and its record. turn_end
 * gives it back. */
static void turn_alone(struct bimport *im)
{
    pthread_mutex_lock(&im->mu);
    while (im->sending)
        turn_wait(im);
    im->sending = 1;
    pthread_mutex_unlock(&im->mu);
}

static void turn_end(struct bimport *im)
{
    pthread_mutex_lock(&im->mu);
    im->sending = 0;
    pthread_cond_broadcast(&im->cv);
    pthread_mutex_unlock(&im->mu);
}

/* 1 when the import bound its record to a new life of the stream since
 * a batch was fetched in life `life`: the batch may be of the old one. */
static int life_moved(struct bimport *im, uint64_t life)
{
    return __atomic_load_n(&im->life, __ATOMIC_ACQUIRE) != life;
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

/* Sends msg into mailbox m, waiting while it is full; with JetStream,
 * records the delivery (jsstate) around it. Returns what the send
 * returned last. */
static int send_into(struct bimport *im, mbx *m, unsigned band, natsMsg *msg, uint64_t seq,
                     unsigned prio, uint64_t type, struct held_batch *hb)
{
    if (im->st) {
        mbx_stat st;
        uint64_t calls = jsstate_calls_done(im->st); /* before the count of sends */
        int r = mbx_stat_get(m, &st);
        jsstate_begin(im->st, seq, band, r ? UINT64_MAX : st.sent_total, calls);
    }
    int r;
    for (;;) {
        r = mbx_send_typed(m, natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), prio, type,
                           SEND_WAIT_NS);
        if (bridge_stopping(im->b))
            break;
        if (r == -ENOSPC) {
            /* An unbounded mailbox at its memory limit: full, as far as
             * this message goes, until a receiver makes room. Such a send
             * does not wait: the pause is ours. */
            keep_held(im, hb);
            nats_Sleep(SEND_RETRY_MS);
            continue;
        }
        if (r != -ETIMEDOUT && r != -EINTR && r != -EAGAIN)
            break;
        keep_held(im, hb);
    }
    if (im->st)
        jsstate_end(im->st, r == 0);
    return r;
}

/* Delivers one message into the mailbox, waiting while it is full; more:
 * the band has more at hand (*held: it said it wants the turn). Returns 0,
 * 1 when refused (too large), 2 when its batch hb went stale (a new life
 * of the stream was bound meanwhile: not delivered), 3 when the mailbox
 * could not take it (removed, damaged: not delivered, to be handed back),
 * or -1 when the bridge stops first. With JetStream, records the
 * delivery (jsstate) around it. */
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
    if (len < 0 || (uint64_t)len > __atomic_load_n(&im->max_msg, __ATOMIC_RELAXED)) {
        __atomic_fetch_add(&b->n_refused, 1, __ATOMIC_RELAXED);
        turn_give(im, band, 0, more);
        *held = more;
        return 1;
    }
    bridge_msg_prio(msg, band, &prio, &type);
    turn_take(im, band, hb);
    /* Checked under the turn, which a move to a new life takes: a message
     * of the old life must not enter the new life's record. */
    if (hb && life_moved(im, hb->life)) {
        turn_give(im, band, 1, more);
        *held = more;
        return 2;
    }
    int r;
    for (int tries = 0;; tries++) {
        struct ibox *x = box_get(im);
        r = send_into(im, x->m, band, msg, seq, prio, type, hb);
        /* Removed: into the mailbox under its name now (a few times: it
         * may be removed again meanwhile). */
        int again = r == -EIDRM && tries < 3 && !bridge_stopping(b) && box_reopen(im, x) == 0;
        box_put(im, x);
        if (!again)
            break;
    }
    more = more && r == 0;
    turn_give(im, band, 1, more);
    *held = more;
    if (r == 0) {
        __atomic_fetch_add(&b->n_imported, 1, __ATOMIC_RELAXED);
        return 0;
    }
    if (bridge_stopping(b))
        return -1;
    if (r == -EMSGSIZE) {
        __atomic_fetch_add(&b->n_refused, 1, __ATOMIC_RELAXED);
        return 1; /* never deliverable: larger than the mailbox takes */
    }
    /* The mailbox cannot take it now (removed, damaged, ...): not
     * delivered, and not the message's fault. Core NATS: lost (at most
     * once), counted. JetStream: it stays in the stream (handed back,
     * after a pause so that a mailbox gone for good is not a busy loop);
     * terminated, it was gone for good, though its sender had been told
     * it was stored (found by a review). */
    nats_Sleep(SEND_RETRY_MS);
    if (!hb) {
        __atomic_fetch_add(&b->n_refused, 1, __ATOMIC_RELAXED);
        return 1;
    }
    return 3;
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

/* The settings of every band's durable consumer: bimport_start asks for
 * them through js_PullSubscribe, make_consumers directly, so that a
 * bridge starting later binds to either. */
static void consumer_config(const struct bimport *im, jsConsumerConfig *cc)
{
    cc->AckPolicy = js_AckExplicit;
    cc->AckWait = (int64_t)im->b->ack_wait_ms * 1000000;
    cc->MaxAckPending = 4 * FETCH_MAX;
}

/* nats-server's ack wait for a consumer made without one. */
#define SERVER_ACK_WAIT_NS (30 * 1000000000LL)

/* Notes the ack wait of band k's consumer c (one that fits): the
 * bridge's, or the consumer's when shorter (keep_held). */
static void note_ack_wait(struct bimport *im, unsigned k, const jsConsumerConfig *c)
{
    int64_t own = (int64_t)im->b->ack_wait_ms * 1000000;
    int64_t its = c && c->AckWait > 0 ? c->AckWait : SERVER_ACK_WAIT_NS;
    __atomic_store_n(&im->ack_wait_ns[k], its < own ? its : own, __ATOMIC_RELAXED);
}

/* 1 when c, the configuration of band k's durable consumer made before
 * by someone else (or by another bridge), is one the import may pull
 * from: setting by setting, as consumer_config makes it, or one that
 * only keeps more (an allow-list; a review planted headers_only: the
 * import delivered empty messages and acknowledged them). A pull
 * consumer (no deliver subject, group, flow control or heartbeat) of the
 * band's subject alone, from the first message, every message whole, each
 * acknowledged (no backoff) and sent again until it is, however often
 * (no max_deliver), ack pending as long as we ask, no rate limit, the
 * bridge's fetches allowed (batch, expiry, bytes, requests waiting), kept
 * on file for good as the stream's replicas.
 *
 * Any ack wait: one shorter than the bridge's loses nothing. A message
 * not acknowledged in time is sent again: to this bridge, whose delivery
 * record (jsstate, written before the delivery, the ack after it) has it
 * and acknowledges it without delivering it twice; or to another bridge
 * of the fleet, with a record of its own, which would deliver it again;
 * so the import keeps what it holds "in progress" within the consumer's
 * ack wait, not its own (note_ack_wait, keep_held), as a bridge started
 * with that --ack-wait does. Refused, a bridge restarted with a longer
 * --ack-wait met its own consumers and did not start, nor did a second
 * bridge of a fleet with a longer one (a review). The consumer is not
 * changed to the bridge's ack wait: it is shared by the fleet, and the
 * other bridges keep their batches within the value they read. Read at
 * the start and at each look that checks the consumers (a new life of
 * the stream, fewer consumers than bands, refused before): one deleted
 * and made again with a shorter ack wait between two looks is kept
 * within the value read before. */
static int consumer_fits(const struct bimport *im, unsigned k, const jsConsumerConfig *c)
{
    jsConsumerConfig want;
    jsConsumerConfig_Init(&want);
    consumer_config(im, &want);
    if (!c || (c->DeliverSubject && *c->DeliverSubject) || (c->DeliverGroup && *c->DeliverGroup) ||
        c->FlowControl || c->Heartbeat > 0 || !c->FilterSubject ||
        strcmp(c->FilterSubject, im->subj[k]) || c->DeliverPolicy != js_DeliverAll)
        return 0;
    if (c->HeadersOnly || c->AckPolicy != js_AckExplicit || c->MaxDeliver > 0 ||
        c->BackOffLen > 0 || (c->MaxAckPending > 0 && c->MaxAckPending < want.MaxAckPending))
        return 0;
    if (c->RateLimit > 0 || c->ReplayPolicy != js_ReplayInstant ||
        (c->MaxRequestBatch > 0 && c->MaxRequestBatch < FETCH_MAX) ||
        (c->MaxRequestExpires > 0 && c->MaxRequestExpires < JS_PULL_EXPIRES_NS) ||
        (c->MaxRequestMaxBytes > 0 && c->MaxRequestMaxBytes < im->b->max_payload) ||
        (c->MaxWaiting > 0 && c->MaxWaiting < JS_PULL_REQS))
        return 0;
    return c->InactiveThreshold <= 0 && !c->MemoryStorage &&
           (c->Replicas <= 0 || c->Replicas == (int64_t)im->b->replicas);
}

/* Looks at band k's durable consumer: notes its ack wait when it fits
 * (consumer_fits, note_ack_wait) and, when the stream lacks it and make,
 * makes it as consumer_config says (the subscriptions fetch from it by
 * name). One there already that fits is left as it is (another bridge's
 * settings are not changed); one another bridge made between the look
 * and the making is looked at again. Returns 0 (there and fits, or
 * made), -EEXIST (there and does not fit: never pulled from), -ENOENT
 * (missing, and make is 0) or -EIO (no answer, or not made). */
static int band_consumer(struct bimport *im, unsigned k, int make)
{
    char durable[16];
    durable_name(k, durable, sizeof(durable));
    for (int tries = 0; tries < 2; tries++) {
        jsConsumerInfo *ci = NULL;
        jsErrCode jerr = 0;
        natsStatus s = js_GetConsumerInfo(&ci, im->b->js, im->stream, durable, NULL, &jerr);
        if (s == NATS_OK) {
            int fits = consumer_fits(im, k, ci->Config);
            if (fits)
                note_ack_wait(im, k, ci->Config);
            jsConsumerInfo_Destroy(ci);
            return fits ? 0 : -EEXIST;
        }
        if (jerr != JSConsumerNotFoundErr)
            return -EIO;
        if (!make)
            return -ENOENT;
        jsConsumerConfig cc;
        jsConsumerConfig_Init(&cc);
        consumer_config(im, &cc);
        cc.Durable = durable;
        cc.FilterSubject = im->subj[k];
        if (js_AddConsumer(&ci, im->b->js, im->stream, &cc, NULL, &jerr) == NATS_OK) {
            note_ack_wait(im, k, ci->Config);
            jsConsumerInfo_Destroy(ci);
            return 0;
        }
    }
    return -EIO;
}

/* Checks the band consumers the stream has (band_consumer) and, when
 * make, makes those it lacks (it was made again without them, or they
 * were deleted). One that could not be made is tried again at the next
 * look (the stream still has fewer consumers than bands). Returns 0, or
 * -EEXIST when one there does not fit (never pulled from: the import is
 * refused until it is gone). */
static int make_consumers(struct bimport *im, int make)
{
    int r = 0;
    for (unsigned k = 0; k < NSUBJ_BANDS && !bridge_stopping(im->b); k++)
        if (band_consumer(im, k, make) == -EEXIST)
            r = -EEXIST;
    return r;
}

/* Binds the delivery record to the stream's life created at `created`:
 * what it holds of the old life is forgotten, and every batch fetched
 * before is stale from here on (im->life). Waits for the acks under way
 * (life_rw: none of the old life is sent after) and for the delivery
 * under way (the turn: none is recorded in the wrong life). Under
 * life_mu. */
static void life_move(struct bimport *im, int64_t created)
{
    pthread_rwlock_wrlock(&im->life_rw);
    turn_alone(im);
    jsstate_bind(im->st, created);
    im->stream_created = created;
    __atomic_add_fetch(&im->life, 1, __ATOMIC_RELEASE);
    turn_end(im);
    pthread_rwlock_unlock(&im->life_rw);
}

/* One look at the stream (life_look). Under life_mu. */
static int look(struct bimport *im)
{
    struct mbx_bridge *b = im->b;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetStreamInfo(&si, b->js, im->stream, NULL, &jerr);
    if (s != NATS_OK && jerr != JSStreamNotFoundErr)
        return -EAGAIN; /* no answer: nothing is known */
    int64_t created = s == NATS_OK ? si->Created : 0;
    int64_t consumers = s == NATS_OK ? si->State.Consumers : 0;
    jsStreamInfo_Destroy(si);
    if (created) {
        im->gone_since = 0;
    } else {
        int64_t now = mono_ns();
        if (!im->gone_since)
            im->gone_since = now;
        if (now - im->gone_since < BRIDGE_REMAKE_GRACE_NS)
            return -EAGAIN; /* made again at a later look (BRIDGE_REMAKE_GRACE_NS) */
    }
    if (!created || created != im->stream_created) {
        /* Deleted: made again, as at the start. Made again by someone:
         * used only when it keeps every message as ours would (the
         * same checks as at the start). */
        char stream[sizeof(im->stream)];
        int r = bridge_stream(b, im->name, stream, sizeof(stream), &created);
        if (r)
            return r == -EEXIST ? -EEXIST : -EAGAIN;
        if (!created)
            return -EAGAIN;
        /* Its consumers checked before the record moves to its life: one
         * someone planted is never taken for ours. */
        if (make_consumers(im, 0) == -EEXIST)
            return -EEXIST;
        if (created != im->stream_created)
            life_move(im, created);
        consumers = 0;
    }
    /* Refused at the last look: checked again until those there fit. */
    if (consumers < NSUBJ_BANDS || im->look_result == -EEXIST)
        return make_consumers(im, 1);
    return 0;
}

/* Makes sure the delivery record is of the stream's life now, by a look
 * that began at `since` (CLOCK_MONOTONIC ns) or later: one that did is not
 * made again (its result is reused), so the import asks at most once per
 * batch and per LIFE_LOOK_NS, whatever its threads ask. Returns 0 (the
 * record is of the life now; missing band consumers were made), -EAGAIN
 * (the server did not tell) or -EEXIST (the stream now under the name
 * could lose messages: nothing is fetched until that changes). */
static int life_look(struct bimport *im, int64_t since)
{
    pthread_mutex_lock(&im->life_mu);
    int r = im->look_result;
    if (__atomic_load_n(&im->looked_at, __ATOMIC_ACQUIRE) < since) {
        int64_t began = mono_ns();
        r = look(im);
        im->look_result = r;
        __atomic_store_n(&im->refused, r == -EEXIST, __ATOMIC_RELEASE);
        __atomic_store_n(&im->looked_at, began, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&im->life_mu);
    return r;
}

/* Takes the right to acknowledge (or terminate) a message of batch h:
 * returns 1 with life_rw held for reading (ack_end gives it back) when h
 * is of the life the record is bound to, else 0 (not acknowledged: an ack
 * reaches the consumer by sequence number, and the new life's consumer
 * would take the new message of that number out of the stream). A batch
 * held longer than LIFE_LOOK_NS (a full mailbox) may have outlived its
 * life with nobody looking: the stream is asked first, once for the
 * batch; unanswered, nothing is acknowledged (the message comes again). */
static int ack_begin(struct bimport *im, const struct held_batch *h)
{
    if (mono_ns() - h->fetched > LIFE_LOOK_NS && life_look(im, h->fetched) != 0)
        return 0;
    pthread_rwlock_rdlock(&im->life_rw);
    if (!life_moved(im, h->life))
        return 1;
    pthread_rwlock_unlock(&im->life_rw);
    return 0;
}

static void ack_end(struct bimport *im)
{
    pthread_rwlock_unlock(&im->life_rw);
}

/* Acknowledges, waiting for the server to confirm (half a second each
 * time), a few times: a cluster electing a leader does not hold the
 * delivery of the rest for long. Not when batch h is of another life
 * (ack_begin). */
static void ack(struct bimport *im, natsMsg *msg, uint64_t seq, const struct held_batch *h)
{
    if (!ack_begin(im, h))
        return;
    for (int i = 0; i < 4 && !bridge_stopping(im->b); i++) {
        if (js_pull_ack(im->b->nc, msg, 500) == 0) {
            jsstate_acked(im->st, seq);
            break;
        }
        /* Not confirmed: the stream sends it again after the ack wait,
         * and jsstate keeps it as delivered until an ack is confirmed. */
        nats_Sleep(50);
    }
    ack_end(im);
}

/* Tells the stream a message too large for the mailbox is never to be
 * sent again (not when its batch is of another life: ack_begin). */
static void term(struct bimport *im, natsMsg *msg, const struct held_batch *h)
{
    if (!ack_begin(im, h))
        return;
    js_pull_term(im->b->nc, msg);
    ack_end(im);
}

/* The time the stream stored msg (the stream's own: own_seq), in UTC
 * nanoseconds as a stream's creation time, or 0 when its reply subject
 * does not say. */
static int64_t stored_at(natsMsg *msg)
{
    jsMsgMetaData *meta = NULL;
    if (natsMsg_GetMetaData(&meta, msg) != NATS_OK)
        return 0;
    int64_t ts = meta->Timestamp;
    jsMsgMetaData_Destroy(meta);
    return ts;
}

/* Hands back a message (the stream's own: own_seq) of a batch fetched
 * before a new life was bound: not delivered (were it of the old life,
 * its number would enter the new life's record) and not acknowledged. A
 * NAK sends it again at once when it is of the life now (or a later one):
 * stored after that life began. One of an older life is gone with its
 * stream and is not handed back: its NAK would reach the new life's
 * consumer of the same name, which sends the new message of that number
 * again at once when it is out on delivery (to another importing bridge,
 * which then has it twice; found by a review). */
static void hand_back(struct bimport *im, natsMsg *msg)
{
    int64_t ts = stored_at(msg);
    pthread_rwlock_rdlock(&im->life_rw);
    if (ts >= im->stream_created)
        js_pull_nak(im->b->nc, msg);
    pthread_rwlock_unlock(&im->life_rw);
}

/* A message whose number is in the record: delivered in this life, or
 * of a new life whose numbers started at 1 again. Dropped (acknowledged)
 * only once a look since its batch came says the record is of the
 * stream's life now; of a newer life, handed back; when nothing is
 * known, neither (the stream sends it again after the ack wait). */
static void seen_again(struct bimport *im, natsMsg *msg, uint64_t seq, struct held_batch *h)
{
    int r = life_look(im, h->fetched); /* once per batch: later ones reuse it */
    if (life_moved(im, h->life)) {
        hand_back(im, msg);
    } else if (r == 0) {
        __atomic_fetch_add(&im->b->n_redeliver, 1, __ATOMIC_RELAXED);
        ack(im, msg, seq, h);
    }
}

/* Deals with message k of batch h: hands it back, drops it as delivered
 * already (after making sure the record is of the stream's life now: a
 * look, once per batch), or delivers and acknowledges it. Returns -1 when
 * the bridge stops (the rest stays unacknowledged), else 0. */
static int take_one(struct bimport *im, struct held_batch *h, int k, int *held)
{
    natsMsg *msg = h->list->msgs[k];
    uint64_t seq = own_seq(im, h->band, msg);
    if (!seq) {
        /* Not acked either: its reply subject is not ours to use. */
        __atomic_fetch_add(&im->b->n_refused, 1, __ATOMIC_RELAXED);
        return 0;
    }
    if (life_moved(im, h->life)) {
        hand_back(im, msg);
        return 0;
    }
    if (jsstate_seen(im->st, seq)) {
        seen_again(im, msg, seq, h);
        return 0;
    }
    prune_acked(im);
    h->from = k;
    int r = deliver(im, h->band, msg, seq, held, k + 1 < h->list->count, h);
    if (r == 2 || r == 3)
        hand_back(im, msg);
    else if (r == 1)
        term(im, msg, h); /* never deliverable: do not send it again */
    else if (r == 0)
        ack(im, msg, seq, h);
    return r < 0 ? -1 : 0;
}

/* How many messages band may fetch: no more than the mailbox has room
 * for (at least one, to be held while it is full). */
static int fetch_room(struct bimport *im)
{
    mbx_stat st;
    struct ibox *x = box_get(im);
    int r = mbx_stat_get(x->m, &st);
    box_put(im, x);
    if (r != 0)
        return 1;
    if (st.capacity == MBX_UNBOUNDED)
        return FETCH_MAX;
    uint64_t room = st.capacity > st.count ? st.capacity - st.count : 1;
    return room > FETCH_MAX ? FETCH_MAX : (int)room;
}

/* 1 when the import fetches: it looked at the stream within LIFE_LOOK_NS
 * (looking now when not), and the stream is one to import from. */
static int may_fetch(struct bimport *im)
{
    int64_t now = mono_ns();
    if (now - __atomic_load_n(&im->looked_at, __ATOMIC_ACQUIRE) >= LIFE_LOOK_NS)
        life_look(im, now - LIFE_LOOK_NS);
    return !__atomic_load_n(&im->refused, __ATOMIC_ACQUIRE);
}

/* A band's inbox of an earlier life of the stream (pull_renew). Its
 * requests went to the consumers of that life or, made before the
 * import saw the new life, to the new life's: what comes of those is
 * handed back (a NAK: the stream sends it again at once, to the new
 * inbox) rather than left to the ack wait; what comes of the old life's
 * is gone with its stream (hand_back tells them apart). Kept until the
 * last request made to it has surely ended. */
struct retired {
    natsSubscription *sub;
    int64_t until; /* CLOCK_MONOTONIC ns */
};

#define RETIRED_NS 2000000000LL

static void retired_end(struct retired *r)
{
    if (r->sub) {
        natsSubscription_Unsubscribe(r->sub);
        natsSubscription_Destroy(r->sub);
    }
    r->sub = NULL;
}

/* Hands back what came to the retired inbox r of band band, and ends r
 * once its time is up. */
static void retired_drain(struct bimport *im, unsigned band, struct retired *r)
{
    natsMsg *m = NULL;
    while (r->sub && natsSubscription_NextMsg(&m, r->sub, 0) == NATS_OK) {
        if (own_seq(im, band, m))
            hand_back(im, m);
        natsMsg_Destroy(m);
        m = NULL;
    }
    if (r->sub && mono_ns() > r->until)
        retired_end(r);
}

/* Gives band band's pull a new inbox (and forgets its requests): what
 * was asked for in a life of the stream before `life` may still come,
 * and must not be taken for this life's (its numbers are the new life's
 * too). The old subscription is swapped out under im->mu, which the
 * other bands hold while they look at its queue (higher_waits), and
 * retired: what still comes to it is handed back (retired_drain).
 * Returns 0, or -1 (kept the old inbox; tried again at the next take). */
static int pull_renew(struct bimport *im, unsigned band, struct retired *old)
{
    char durable[16];
    durable_name(band, durable, sizeof(durable));
    struct js_pull fresh;
    natsSubscription *sub = NULL;
    if (js_pull_open(&fresh, im->b->nc, im->stream, durable, &sub) != 0)
        return -1;
    retired_end(old);
    pthread_mutex_lock(&im->mu);
    old->sub = im->sub[band];
    im->sub[band] = sub;
    pthread_mutex_unlock(&im->mu);
    old->until = mono_ns() + RETIRED_NS;
    im->pull[band] = fresh;
    return 0;
}

static void *js_band_main(void *arg)
{
    pthread_setname_np(pthread_self(), "mbx-br-import"); /* for top -H, perf, gdb */
    struct band_arg *a = arg;
    struct bimport *im = a->im;
    unsigned band = a->band;
    free(a);
    struct js_pull_batch *list = malloc(sizeof(*list));
    struct retired old = {NULL, 0};
    uint64_t inbox_life = __atomic_load_n(&im->life, __ATOMIC_ACQUIRE);
    while (list && !bridge_stopping(im->b)) {
        retired_drain(im, band, &old);
        if (!may_fetch(im)) {
            nats_Sleep(IMPORT_WAIT_MS);
            continue;
        }
        /* The life before the take: what comes to an inbox made in it may
         * be of a newer one, never of an older. */
        uint64_t life = __atomic_load_n(&im->life, __ATOMIC_ACQUIRE);
        if (life != inbox_life) {
            if (pull_renew(im, band, &old) != 0) {
                nats_Sleep(100);
                continue;
            }
            inbox_life = life;
        }
        int n = js_pull_take(&im->pull[band], list, fetch_room(im), IMPORT_WAIT_MS);
        if (n <= 0) {
            if (n < 0)
                nats_Sleep(100); /* closed (the bridge stops), or a client error */
            continue;
        }
        int stop = 0, held = 0;
        int64_t now = mono_ns();
        struct held_batch hb = {list, band, 0, now, life, now};
        __atomic_fetch_add(&im->b->n_held, (uint64_t)n, __ATOMIC_RELAXED);
        /* Each message stops being held when its turn of the loop ends;
         * once stopping, the rest is not acknowledged (sent again later). */
        /* keep_held may add to the batch while it is held (list->count). */
        for (int k = 0; k < list->count;
             k++, __atomic_fetch_sub(&im->b->n_held, 1, __ATOMIC_RELAXED))
            if (!stop)
                stop = take_one(im, &hb, k, &held) < 0;
        if (held)
            turn_give(im, band, 0, 0);
        js_pull_batch_free(list);
    }
    retired_end(&old);
    free(list);
    return NULL;
}

/* Where requesters wait for answers: NATS clients' inboxes. */
#define REPLY_PREFIX "_INBOX."

/* 1 when the bridge may publish a reply to subject reply. A requester
 * chooses it, and the bridge publishes with its own rights: only to an
 * inbox, so never to "$..." (the JetStream API
 * "$JS.API.STREAM.DELETE.X", system subjects), into the bridge's own
 * subjects ("PREFIX.p0.NAME" would put a message into another mailbox's
 * stream, "PREFIX.c.NAME" a request; a prefix "_INBOX" is refused too),
 * nor to anyone's other subjects, where the requester may not be allowed
 * to publish ("orders.create": found by a review). */
static int reply_allowed(const struct mbx_bridge *b, const char *reply)
{
    size_t n = strlen(b->prefix), p = strlen(REPLY_PREFIX);
    if (!reply || strncmp(reply, REPLY_PREFIX, p) || !reply[p])
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
        /* Counted around, for a restart's judgement of a delivery under
         * way meanwhile (jsstate.h). */
        int sends = len >= 0 && (uint64_t)len <= __atomic_load_n(&im->max_msg, __ATOMIC_RELAXED);
        if (sends && im->st)
            jsstate_call_starts(im->st);
        for (int tries = 0; sends; tries++) {
            struct ibox *x = box_get(im);
            if (confirmed)
                n = mbx_send_confirmed(x->m, natsMsg_GetData(msg), (size_t)len, prio,
                                       (int64_t)b->call_timeout_ms * 1000000, &who);
            else
                n = mbx_call(x->m, natsMsg_GetData(msg), (size_t)len, prio, out, cap,
                             (int64_t)b->call_timeout_ms * 1000000);
            /* Removed before anyone took it: into the mailbox under its
             * name now (as deliver). */
            int again = n == -EIDRM && tries < 3 && !bridge_stopping(b) && box_reopen(im, x) == 0;
            box_put(im, x);
            if (!again)
                break;
        }
        if (sends && im->st)
            jsstate_call_done(im->st);
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
        r = mbx_stat_get(im->box->m, &st);
        if (!r)
            r = jsstate_open(im->stream, st.sent_total, &im->st);
        if (!r)
            jsstate_bind(im->st, im->stream_created);
        /* bridge_stream just made or checked the stream: a look. */
        __atomic_store_n(&im->looked_at, mono_ns(), __ATOMIC_RELEASE);
    }
    for (unsigned k = 0; !r && k < NSUBJ_BANDS; k++) {
        if (!b->jetstream) {
            s = natsConnection_QueueSubscribeSync(&im->sub[k], b->nc, im->subj[k], im->queue);
            if (s == NATS_OK)
                s = natsSubscription_SetPendingLimits(im->sub[k], (int)b->pending_limit,
                                                      PENDING_BYTES / NSUBJ_BANDS);
        } else {
            /* The band's consumer first (the inbox asks it by name). */
            __atomic_store_n(&im->ack_wait_ns[k], (int64_t)b->ack_wait_ms * 1000000,
                             __ATOMIC_RELAXED);
            for (int tries = 0; tries < 50; tries++) {
                r = band_consumer(im, k, 1);
                if (r != -EIO || bridge_stopping(b))
                    break;
                nats_Sleep(100);
            }
            char durable[16];
            durable_name(k, durable, sizeof(durable));
            if (!r)
                r = js_pull_open(&im->pull[k], b->nc, im->stream, durable, &im->sub[k]);
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

void bimport_init(struct bimport *im)
{
    pthread_mutex_init(&im->box_mu, NULL);
    pthread_mutex_init(&im->mu, NULL);
    pthread_cond_init(&im->cv, NULL);
    pthread_mutex_init(&im->life_mu, NULL);
    /* Writers first: the band threads' acks overlap under load, and a
     * move to a new life must not wait for a gap between them. */
    pthread_rwlockattr_t a;
    pthread_rwlockattr_init(&a);
    pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&im->life_rw, &a);
    pthread_rwlockattr_destroy(&a);
}

void bimport_free(struct bimport *im)
{
    if (im->box)
        box_put(im, im->box); /* the last use: the threads have ended */
    im->box = NULL;
    pthread_mutex_destroy(&im->box_mu);
    pthread_mutex_destroy(&im->mu);
    pthread_cond_destroy(&im->cv);
    pthread_mutex_destroy(&im->life_mu);
    pthread_rwlock_destroy(&im->life_rw);
}
