/* A JetStream pull consumer driven by the bridge itself over a plain
 * subscription to an inbox of its own: it asks the consumer for messages
 * ("$JS.API.CONSUMER.MSG.NEXT.STREAM.DURABLE", reply to the inbox) and
 * takes what comes, never more than its caller has room for.
 *
 * Why not libnats' fetch: before 3.9 (Debian ships 3.4.1) it writes past
 * the list it allocates when it finds more than half a batch queued in
 * its subscription, which anyone allowed to publish to the inbox can
 * arrange; and it ends a fetch at the first "503 no responders" status,
 * which anyone can forge too. Here a status message never decides
 * anything: a request is taken as answered when its messages came or its
 * time ran out. Forged messages are the caller's to refuse (their reply
 * subject is not one of the stream's). */
#ifndef MBX_NATS_PULL_H
#define MBX_NATS_PULL_H

#include <nats/nats.h>
#include <stdint.h>

#define JS_PULL_MAX  256 /* messages one take returns at most */
#define JS_PULL_REQS 8   /* requests under way at most */
/* How long a request stays open at the server: the longer, the fewer
 * requests an idle import makes; the shorter, the sooner one lost (a
 * consumer made again, a cluster's leader moved) is made again. */
#define JS_PULL_EXPIRES_NS 500000000LL

struct js_pull_req {
    int left;      /* messages it may still bring */
    int64_t until; /* when the server ends it (CLOCK_MONOTONIC ns) */
};

struct js_pull {
    natsConnection *nc;
    natsSubscription *sub; /* the inbox's (the caller owns and destroys it) */
    char next[320];        /* the consumer's "next messages" subject */
    char inbox[128];
    struct js_pull_req req[JS_PULL_REQS]; /* oldest first */
    int nreq;
};

/* What one take returned. */
struct js_pull_batch {
    int count;
    natsMsg *msgs[JS_PULL_MAX];
};

/* Subscribes to a new inbox for the pull consumer `durable` of stream
 * `stream` on nc; *sub receives the subscription (the caller destroys it
 * after the last take). Returns 0, -ENAMETOOLONG (names too long for a
 * subject) or -EIO (the subscription failed). */
int js_pull_open(struct js_pull *p, natsConnection *nc, const char *stream, const char *durable,
                 natsSubscription **sub);

/* Takes up to `room` (at most JS_PULL_MAX) messages into out: waits up to
 * wait_ms for the first, then takes what is already queued without
 * waiting. First asks the consumer for more when the requests under way
 * may bring fewer than half of room. Status messages are dropped. Returns
 * the number taken (0: none came in time), -EPIPE when the connection is
 * closed, or -EIO for another error of the client's (nothing taken). */
int js_pull_take(struct js_pull *p, struct js_pull_batch *out, int room, int wait_ms);

/* Adds to b (up to JS_PULL_MAX in all) what is queued in the inbox now,
 * without waiting or asking: what a request brought after the take that
 * returned b, for a caller that holds b long (it keeps it "in progress").
 * Returns the number added. */
int js_pull_more(struct js_pull *p, struct js_pull_batch *b);

/* Destroys the messages of b and empties it. */
void js_pull_batch_free(struct js_pull_batch *b);

/* Acknowledgements by a message's reply subject (the caller checked it is
 * the stream's). js_pull_ack waits up to wait_ms for the server to
 * confirm: returns 0 when it did, -ETIMEDOUT or -EIO otherwise. The
 * others only send: "work in progress" (do not send it again yet),
 * "not taken" (send it again now) and "never send it again". */
int js_pull_ack(natsConnection *nc, natsMsg *msg, int wait_ms);
void js_pull_in_progress(natsConnection *nc, natsMsg *msg);
void js_pull_nak(natsConnection *nc, natsMsg *msg);
void js_pull_term(natsConnection *nc, natsMsg *msg);

#endif
