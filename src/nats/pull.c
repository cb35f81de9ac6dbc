/* A JetStream pull consumer over a plain inbox subscription (pull.h). */
#include "nats/pull.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define PULL_EXPIRES_NS JS_PULL_EXPIRES_NS

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int js_pull_open(struct js_pull *p, natsConnection *nc, const char *stream, const char *durable,
                 natsSubscription **sub)
{
    memset(p, 0, sizeof(*p));
    *sub = NULL;
    int n = snprintf(p->next, sizeof(p->next), "$JS.API.CONSUMER.MSG.NEXT.%s.%s", stream, durable);
    if (n < 0 || (size_t)n >= sizeof(p->next))
        return -ENAMETOOLONG;
    natsInbox *inbox = NULL;
    if (natsInbox_Create(&inbox) != NATS_OK)
        return -EIO;
    n = snprintf(p->inbox, sizeof(p->inbox), "%s", (const char *)inbox);
    natsInbox_Destroy(inbox);
    if (n < 0 || (size_t)n >= sizeof(p->inbox))
        return -ENAMETOOLONG;
    if (natsConnection_SubscribeSync(sub, nc, p->inbox) != NATS_OK)
        return -EIO;
    p->nc = nc;
    p->sub = *sub;
    return 0;
}

/* Drops the requests the server has ended by now, and those that brought
 * all they asked for. */
static void drop_ended(struct js_pull *p, int64_t now)
{
    int w = 0;
    for (int i = 0; i < p->nreq; i++)
        if (p->req[i].until > now && p->req[i].left > 0)
            p->req[w++] = p->req[i];
    p->nreq = w;
}

/* Asks for room messages less what the requests under way may bring,
 * once that is at least half of room (or nothing is under way): fewer,
 * larger requests. */
static void ask(struct js_pull *p, int room, int64_t now)
{
    int under = 0;
    for (int i = 0; i < p->nreq; i++)
        under += p->req[i].left;
    int want = room - under;
    if (want <= 0 || (under > 0 && want < (room + 1) / 2) || p->nreq == JS_PULL_REQS)
        return;
    char body[96];
    int n = snprintf(body, sizeof(body), "{\"batch\":%d,\"expires\":%lld}", want,
                     (long long)PULL_EXPIRES_NS);
    if (natsConnection_PublishRequest(p->nc, p->next, p->inbox, body, n) != NATS_OK)
        return;
    p->req[p->nreq].left = want;
    p->req[p->nreq].until = now + PULL_EXPIRES_NS;
    p->nreq++;
}

/* A message came that a request may have brought (the stream's messages
 * have an ack reply subject, which a client cannot set): the oldest
 * request still open brought it (the server serves them in turn). */
static void came(struct js_pull *p)
{
    for (int i = 0; i < p->nreq; i++)
        if (p->req[i].left > 0) {
            p->req[i].left--;
            return;
        }
}

/* 1 for a status the server (or anyone) sent to the inbox: no payload, a
 * "Status" header and no reply subject. A stream's message always has a
 * reply subject, whatever headers its publisher gave it. */
static int is_status(natsMsg *m)
{
    const char *reply = natsMsg_GetReply(m);
    const char *val = NULL;
    return (!reply || !*reply) && natsMsg_GetDataLength(m) == 0 &&
           natsMsgHeader_Get(m, "Status", &val) == NATS_OK;
}

/* Adds message m to out (which has room), or drops it when it is a
 * status. */
static void keep(struct js_pull *p, natsMsg *m, struct js_pull_batch *out)
{
    if (is_status(m)) {
        natsMsg_Destroy(m);
        return;
    }
    const char *reply = natsMsg_GetReply(m);
    if (reply && !strncmp(reply, "$JS.ACK.", 8))
        came(p);
    out->msgs[out->count++] = m;
}

int js_pull_take(struct js_pull *p, struct js_pull_batch *out, int room, int wait_ms)
{
    out->count = 0;
    if (room > JS_PULL_MAX)
        room = JS_PULL_MAX;
    if (room < 1)
        room = 1;
    int64_t deadline = mono_ns() + (int64_t)wait_ms * 1000000;
    while (out->count < room) {
        int64_t wait = 0;
        if (out->count == 0) {
            /* Nothing yet: asks, then waits until the deadline or until the
             * oldest request ends (and asks again then). */
            int64_t now = mono_ns();
            drop_ended(p, now);
            ask(p, room, now);
            int64_t until = deadline;
            if (p->nreq && p->req[0].until < until)
                until = p->req[0].until;
            wait = (until - now) / 1000000;
            if (wait <= 0) {
                if (now >= deadline)
                    break;
                wait = 1;
            }
        }
        natsMsg *m = NULL;
        natsStatus s = natsSubscription_NextMsg(&m, p->sub, wait);
        if (s == NATS_TIMEOUT) {
            if (out->count)
                break;
            continue;
        }
        if (s == NATS_CONNECTION_CLOSED || s == NATS_INVALID_SUBSCRIPTION)
            return out->count ? out->count : -EPIPE;
        /* A "no responders" status (libnats takes it out itself) or a
         * slow-consumer notice: neither ends the take. Anything else
         * does (the caller waits before it takes again). */
        if (s == NATS_NO_RESPONDERS || s == NATS_SLOW_CONSUMER)
            continue;
        if (s != NATS_OK)
            return out->count ? out->count : -EIO;
        keep(p, m, out);
    }
    return out->count;
}

int js_pull_more(struct js_pull *p, struct js_pull_batch *b)
{
    int had = b->count;
    while (b->count < JS_PULL_MAX) {
        natsMsg *m = NULL;
        natsStatus s = natsSubscription_NextMsg(&m, p->sub, 0);
        if (s == NATS_NO_RESPONDERS || s == NATS_SLOW_CONSUMER)
            continue;
        if (s != NATS_OK)
            break;
        keep(p, m, b);
    }
    return b->count - had;
}

void js_pull_batch_free(struct js_pull_batch *b)
{
    for (int k = 0; k < b->count; k++)
        natsMsg_Destroy(b->msgs[k]);
    b->count = 0;
}

int js_pull_ack(natsConnection *nc, natsMsg *msg, int wait_ms)
{
    natsMsg *r = NULL;
    natsStatus s = natsConnection_RequestString(&r, nc, natsMsg_GetReply(msg), "+ACK", wait_ms);
    natsMsg_Destroy(r);
    if (s == NATS_OK)
        return 0;
    return s == NATS_TIMEOUT ? -ETIMEDOUT : -EIO;
}

static void tell(natsConnection *nc, natsMsg *msg, const char *what)
{
    natsConnection_PublishString(nc, natsMsg_GetReply(msg), what); /* lost: sent again later */
}

void js_pull_in_progress(natsConnection *nc, natsMsg *msg)
{
    tell(nc, msg, "+WPI");
}

void js_pull_nak(natsConnection *nc, natsMsg *msg)
{
    tell(nc, msg, "-NAK");
}

void js_pull_term(natsConnection *nc, natsMsg *msg)
{
    tell(nc, msg, "+TERM");
}
