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

/* The stream of mailbox "jobs" under prefix "mbx". */
static inline void stream_of_jobs(char *out, size_t cap)
{
    assert_true(nsubj_stream_name("mbx", "jobs", out, cap) > 0);
}

#endif
