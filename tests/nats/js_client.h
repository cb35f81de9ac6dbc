/* What the JetStream tests share: a client of a test's nats-server and the
 * name of the stream the bridges keep for mailbox "jobs". Include after
 * <cmocka.h> and <nats/nats.h>. */
#ifndef MBX_TEST_JS_CLIENT_H
#define MBX_TEST_JS_CLIENT_H

#include "harness.h"
#include "nats/subject.h"

/* Connects to server s with a JetStream context; fails the test if not. */
static inline void js_client(const struct nh_server *s, natsConnection **nc, jsCtx **js)
{
    char url[64];
    nh_url(s, url, sizeof(url));
    assert_int_equal(natsConnection_ConnectTo(nc, url), NATS_OK);
    assert_int_equal(natsConnection_JetStream(js, *nc, NULL), NATS_OK);
}

static inline void js_client_close(natsConnection *nc, jsCtx *js)
{
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

/* For a test's teardown (no assertion: it runs after failures too):
 * deletes the stream of mailbox "jobs" on server s, and the stream named
 * `also` when not NULL, so that the next test starts clean. */
static inline void js_delete_jobs(const struct nh_server *s, const char *also)
{
    char url[64], stream[160];
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    nh_url(s, url, sizeof(url));
    if (nsubj_stream_name("mbx", "jobs", stream, sizeof(stream)) > 0 &&
        natsConnection_ConnectTo(&nc, url) == NATS_OK &&
        natsConnection_JetStream(&js, nc, NULL) == NATS_OK) {
        js_DeleteStream(js, stream, NULL, NULL);
        if (also)
            js_DeleteStream(js, also, NULL, NULL);
    }
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

/* The stream of mailbox "jobs" under prefix "mbx". */
static inline void stream_of_jobs(char *out, size_t cap)
{
    assert_true(nsubj_stream_name("mbx", "jobs", out, cap) > 0);
}

/* A spy: a subscription to `pattern` with the stream of "jobs" for its
 * %s ("$JS.ACK.%s.>": its acks; "$JS.API.CONSUMER.MSG.NEXT.%s.mbx-p0":
 * band 0's requests for messages), flushed, without pending limits. */
static inline natsSubscription *jobs_spy(natsConnection *nc, const char *pattern)
{
    char stream[160], subj[320];
    stream_of_jobs(stream, sizeof(stream));
    snprintf(subj, sizeof(subj), pattern, stream);
    natsSubscription *spy = NULL;
    assert_int_equal(natsConnection_SubscribeSync(&spy, nc, subj), NATS_OK);
    natsSubscription_SetPendingLimits(spy, -1, -1);
    assert_int_equal(natsConnection_Flush(nc), NATS_OK);
    return spy;
}

#endif
