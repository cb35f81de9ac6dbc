/* A JetStream stream deleted and made again while bridges run (by an
 * operator, or by another bridge starting): its sequences start at 1
 * again and the durable consumers went with the old stream. The running
 * importing bridge must take the new life's messages, each exactly once:
 * not judge them delivered by the old life's numbers, not stay without
 * consumers, and not acknowledge a message of the old life into the new
 * (nats-server 2.9 removes a work queue's message of that number, whether
 * delivered or not). One nats-server with JetStream on a loopback port;
 * the bridges run in this process, each with a mailbox directory of its
 * own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nats/nats.h>

#include "harness.h"
#include "js_client.h"
#include "mbx.h"
#include "nats/subject.h"

#define SEC 1000000000LL
#define N   20 /* messages of each life */

static struct nh_server srv;
static char url[64];
static mbx_bridge *br[2]; /* the test's bridges: stopped by after_each */

static int setup(void **state)
{
    (void)state;
    nh_server_init(&srv, "life", 1);
    return nh_server_start(&srv);
}

static int teardown(void **state)
{
    (void)state;
    nh_server_stop(&srv, SIGTERM);
    return 0;
}

/* After each test, passed or failed: its bridges stopped and the stream
 * deleted, so that the next test starts clean. */
static int after_each(void **state)
{
    (void)state;
    for (int i = 0; i < 2; i++) {
        mbx_bridge_stop(br[i]);
        br[i] = NULL;
    }
    js_delete_jobs(&srv, NULL);
    return 0;
}

static const char *at(const char *dir, const char *name)
{
    static char buf[4][300];
    static int k;
    char *b = buf[k++ % 4];
    snprintf(b, 300, "%s/%s", dir, name);
    return b;
}

/* Mailbox "jobs" in dir, opened with flags, of capacity cap. */
static mbx *box(const char *dir, int flags, uint32_t cap)
{
    mbx_attr a;
    mbx_attr_init(&a);
    a.capacity = cap;
    a.max_msg_size = 256;
    mbx *m = NULL;
    assert_int_equal(mbx_open(at(dir, "jobs"), flags | MBX_CREATE, &a, &m), 0);
    return m;
}

/* A JetStream bridge in this process importing (or exporting) "jobs"
 * with MBX_DIR=dir; a short ack wait, so that what is not acknowledged
 * comes again within the test. */
static mbx_bridge *bridge(const char *dir, int import)
{
    static const char *const jobs[] = {"jobs", NULL};
    mbx_bridge_options o;
    mbx_bridge_options_init(&o);
    nh_url(&srv, url, sizeof(url));
    o.servers = url;
    o.jetstream = 1;
    o.host_id = "h";
    o.ack_wait_ms = 2000;
    if (import)
        o.imports = jobs;
    else
        o.exports = jobs;
    setenv("MBX_DIR", dir, 1);
    mbx_bridge *b = NULL;
    assert_int_equal(mbx_bridge_start(&o, &b), 0);
    return b;
}

/* The stream as the bridges make it (bridge.c), made again by the
 * operator (update: changed in place); with a limit of max_msgs messages
 * when not 0 (a stream the bridges refuse: it can lose messages). */
static void make_stream_as(jsCtx *js, int64_t max_msgs, int update)
{
    char stream[160];
    stream_of_jobs(stream, sizeof(stream));
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    sc.Name = stream;
    sc.Subjects = (const char *[]){"mbx.p0.jobs", "mbx.p1.jobs", "mbx.p2.jobs", "mbx.p3.jobs"};
    sc.SubjectsLen = 4;
    sc.Retention = js_WorkQueuePolicy;
    sc.Storage = js_FileStorage;
    sc.Duplicates = 120 * SEC;
    if (max_msgs)
        sc.MaxMsgs = max_msgs;
    jsErrCode jerr = 0;
    natsStatus s = update ? js_UpdateStream(NULL, js, &sc, NULL, &jerr)
                          : js_AddStream(NULL, js, &sc, NULL, &jerr);
    if (s != NATS_OK)
        fail_msg("making the stream again: %s (error %d)", natsStatus_GetText(s), (int)jerr);
}

static void make_stream(jsCtx *js)
{
    make_stream_as(js, 0, 0);
}

/* The band consumers as an importing bridge starting elsewhere makes
 * them (bridge_import.c: js_PullSubscribe's durable "mbx-pB"). */
static void make_consumers(jsCtx *js)
{
    char stream[160];
    stream_of_jobs(stream, sizeof(stream));
    for (int k = 0; k < 4; k++) {
        char durable[16], filter[32];
        snprintf(durable, sizeof(durable), "mbx-p%d", k);
        snprintf(filter, sizeof(filter), "mbx.p%d.jobs", k);
        jsConsumerConfig cc;
        jsConsumerConfig_Init(&cc);
        cc.Durable = durable;
        cc.FilterSubject = filter;
        cc.AckPolicy = js_AckExplicit;
        cc.AckWait = 30 * SEC;
        cc.MaxAckPending = 1024;
        jsErrCode jerr = 0;
        assert_int_equal(js_AddConsumer(NULL, js, stream, &cc, NULL, &jerr), NATS_OK);
    }
}

/* Deletes the stream, and waits (up to 10 s) until the server has removed
 * its files, so that a stream made again under the name starts on a clean
 * directory. Once, under ASan and load, every publish into the stream made
 * again failed for 30 s with error 10077 (the server could not store it)
 * after a stream holding messages and consumers was deleted; a removal
 * still under way is the suspected cause. */
static void delete_stream(jsCtx *js)
{
    char stream[160], dir[600];
    stream_of_jobs(stream, sizeof(stream));
    snprintf(dir, sizeof(dir), "%s/jetstream/$G/streams/%s", srv.store, stream);
    struct stat sb;
    int had = stat(dir, &sb) == 0;
    jsErrCode jerr = 0;
    assert_int_equal(js_DeleteStream(js, stream, NULL, &jerr), NATS_OK);
    int64_t deadline = nh_now() + 10 * SEC;
    while (stat(dir, &sb) == 0 && nh_now() < deadline)
        usleep(10000);
    if (getenv("NH_DEBUG"))
        printf("stream files %s: %s before, %s after\n", dir, had ? "there" : "absent",
               stat(dir, &sb) == 0 ? "there" : "gone");
    assert_true(stat(dir, &sb) != 0);
}

/* The priority of message i: every band in turn (0, 1-15, 16-255, 256-). */
static unsigned prio_of(int i)
{
    static const unsigned p[] = {0, 5, 100, 300};
    return p[i % 4];
}

/* Publishes "TAG-i" of priority p as an exporting bridge would: to its
 * band's subject, with the priority in Mbx-Prio. Retried while no stream
 * takes the subject (it is being made again), for at most 30 s. */
static void js_send(jsCtx *js, const char *tag, int i, unsigned p)
{
    char data[32], subj[32], prio[8];
    snprintf(data, sizeof(data), "%s-%d", tag, i);
    snprintf(subj, sizeof(subj), "mbx.p%d.jobs", p == 0 ? 0 : p < 16 ? 1 : p < 256 ? 2 : 3);
    snprintf(prio, sizeof(prio), "%u", p);
    int64_t deadline = nh_now() + 30 * SEC;
    natsStatus s;
    jsErrCode jerr;
    do {
        natsMsg *msg = NULL;
        assert_int_equal(natsMsg_Create(&msg, subj, NULL, data, (int)strlen(data)), NATS_OK);
        assert_int_equal(natsMsgHeader_Set(msg, "Mbx-Prio", prio), NATS_OK);
        jerr = 0;
        s = js_PublishMsg(NULL, js, msg, NULL, &jerr);
        natsMsg_Destroy(msg);
        if (s != NATS_OK)
            usleep(50000);
    } while (s != NATS_OK && nh_now() < deadline);
    if (s != NATS_OK)
        fail_msg("publishing %s: %s (error %d)", data, natsStatus_GetText(s), (int)jerr);
}

/* What arrived in the receiving mailbox: times each "old-i" and "new-i"
 * came. */
struct tally {
    int old[N], new_[N], other;
    int pad; /* "pad-i" (remade_unsafe_is_refused) */
};

/* Takes what the mailbox has, waiting up to wait_ns for the first. */
static void drain(mbx *in, struct tally *t, int64_t wait_ns)
{
    char buf[300];
    ssize_t n;
    while ((n = mbx_recv(in, buf, sizeof(buf) - 1, NULL, wait_ns)) >= 0) {
        int i = -1;
        buf[n] = 0;
        if (sscanf(buf, "old-%d", &i) == 1 && i >= 0 && i < N)
            t->old[i]++;
        else if (sscanf(buf, "new-%d", &i) == 1 && i >= 0 && i < N)
            t->new_[i]++;
        else if (sscanf(buf, "pad-%d", &i) == 1)
            t->pad++;
        else
            t->other++;
        wait_ns = 0;
    }
}

static int count(const int *v, int at_least)
{
    int k = 0;
    for (int i = 0; i < N; i++)
        k += v[i] >= at_least;
    return k;
}

/* Receives until every message of the life (old, or new_) arrived, for at
 * most 30 s, then a little longer for any second copy; checks each came
 * exactly once. */
static void expect_life(mbx *in, struct tally *t, int new_life, mbx_bridge *imp)
{
    int *v = new_life ? t->new_ : t->old;
    int64_t deadline = nh_now() + 30 * SEC;
    while (count(v, 1) < N && nh_now() < deadline)
        drain(in, t, SEC / 10);
    /* Copies the stream sends again come within the ack wait (2 s). */
    int64_t until = nh_now() + 3 * SEC;
    while (nh_now() < until)
        drain(in, t, SEC / 10);
    mbx_bridge_stat st;
    assert_int_equal(mbx_bridge_stat_get(imp, &st), 0);
    printf("%s life: %d of %d arrived, %d twice (imported %llu, redelivered %llu, refused "
           "%llu)\n",
           new_life ? "new" : "old", count(v, 1), N, count(v, 2), (unsigned long long)st.imported,
           (unsigned long long)st.redeliver, (unsigned long long)st.refused);
    if (count(v, 1) < N || count(v, 2) || t->other)
        nh_dump_logs(20);
    assert_int_equal(count(v, 1), N);
    assert_int_equal(count(v, 2), 0);
    assert_int_equal(t->other, 0);
}

/* The start of a test of an importing bridge: mailbox "jobs" (64) in a
 * new folder named after tag, an import into it, a client of the server,
 * and the old life's messages sent through the stream and received, each
 * once. Returns the mailbox. */
static mbx *old_life(const char *tag, natsConnection **nc, jsCtx **js, struct tally *t)
{
    const char *dir = nh_tmpdir(tag);
    mbx *in = box(dir, MBX_RECV, 64);
    br[0] = bridge(dir, 1);
    js_client(&srv, nc, js);
    for (int i = 0; i < N; i++)
        js_send(*js, "old", i, prio_of(i));
    expect_life(in, t, 0, br[0]);
    return in;
}

/* The operator deletes the stream and makes it again, without consumers
 * (as `nats stream add` or an exporting bridge starting would): the
 * running import makes its consumers again and takes the new messages,
 * whose numbers are the old ones'. */
static void remade_without_consumers(void **state)
{
    (void)state;
    natsConnection *nc;
    jsCtx *js;
    struct tally t = {0};
    mbx *in = old_life("bare", &nc, &js, &t);
    delete_stream(js);
    make_stream(js);
    for (int i = 0; i < N; i++)
        js_send(js, "new", i, prio_of(i));
    expect_life(in, &t, 1, br[0]);
    js_client_close(nc, js);
    mbx_close(in);
}

/* Waits until the import asks the server for the stream's info: its look
 * of every second (bridge_import.c), so the next is about a second away
 * and what the test does now is seen first by the fetches. At most 3 s: a
 * bridge that never looks is tested all the same. */
static void after_a_look(natsConnection *nc)
{
    char stream[160], subj[200];
    stream_of_jobs(stream, sizeof(stream));
    snprintf(subj, sizeof(subj), "$JS.API.STREAM.INFO.%s", stream);
    natsSubscription *spy = NULL;
    natsMsg *req = NULL;
    assert_int_equal(natsConnection_SubscribeSync(&spy, nc, subj), NATS_OK);
    if (natsSubscription_NextMsg(&req, spy, 3000) != NATS_OK)
        printf("no look at the stream in 3 s\n");
    natsMsg_Destroy(req);
    natsSubscription_Destroy(spy);
}

/* The stream and its band consumers made again (as an importing bridge
 * starting on another host does), just after the import's look: its
 * fetches work again at once, and the new messages' numbers are ones its
 * record holds as delivered, seen before the next look; they must not be
 * dropped as delivered. */
static void remade_with_consumers(void **state)
{
    (void)state;
    natsConnection *nc;
    jsCtx *js;
    struct tally t = {0};
    mbx *in = old_life("cons", &nc, &js, &t);
    after_a_look(nc);
    delete_stream(js);
    make_stream(js);
    make_consumers(js);
    for (int i = 0; i < N; i++)
        js_send(js, "new", i, prio_of(i));
    expect_life(in, &t, 1, br[0]);
    js_client_close(nc, js);
    mbx_close(in);
}

/* Waits up to 10 s for the import's count of refusing imports to be n. */
static void await_refusing(mbx_bridge *b, uint32_t n)
{
    uint32_t now = UINT32_MAX;
    int64_t deadline = nh_now() + 10 * SEC;
    while ((mbx_bridge_refusing(b, &now), now != n) && nh_now() < deadline)
        usleep(20000);
    assert_int_equal(now, n);
}

/* Made again as a stream that can lose messages (a limit on its
 * messages), with the band consumers (as a bridge elsewhere would make
 * them): the running import fetches nothing from it and says so
 * (mbx_bridge_refusing); what is sent waits in the stream. The limit
 * lifted (in place), the import takes it all, each message once. */
static void remade_unsafe_is_refused(void **state)
{
    (void)state;
    natsConnection *nc;
    jsCtx *js;
    struct tally t = {0};
    mbx *in = old_life("unsafe", &nc, &js, &t);
    uint32_t n = UINT32_MAX;
    assert_int_equal(mbx_bridge_refusing(br[0], &n), 0);
    assert_int_equal(n, 0);
    delete_stream(js);
    make_stream_as(js, 1000, 0);
    make_consumers(js); /* its fetches would work: it must not make them */
    /* Noticed at the import's next look (each second); a fetch made before
     * it may still bring what the stream has then, so the messages come
     * after, once fetches made before have expired (200 ms each). */
    await_refusing(br[0], 1);
    usleep(1000000);
    /* First as many as the old life had, whose numbers its record holds
     * as delivered; then the new ones, numbers it does not hold (a fetch
     * would deliver those at once). */
    for (int i = 0; i < N; i++)
        js_send(js, "pad", i, prio_of(i));
    for (int i = 0; i < N; i++)
        js_send(js, "new", i, prio_of(i));
    drain(in, &t, 2 * SEC);
    assert_int_equal(count(t.new_, 1), 0);
    assert_int_equal(t.pad + t.other, 0);
    make_stream_as(js, 0, 1);
    expect_life(in, &t, 1, br[0]);
    assert_int_equal(t.pad, N);
    await_refusing(br[0], 0);
    assert_int_equal(mbx_bridge_refusing(NULL, &n), -EINVAL);
    js_client_close(nc, js);
    mbx_close(in);
}

/* Deleted and made again by nobody: an exporting and an importing
 * bridge carry on (the stream is made again, as at their start) and what
 * is sent after arrives exactly once. */
static void deleted_bridges_remake(void **state)
{
    (void)state;
    const char *a = nh_tmpdir("expa"), *b = nh_tmpdir("impb");
    mbx *out = box(a, MBX_SEND, 64), *in = box(b, MBX_RECV, 64);
    br[0] = bridge(b, 1);
    br[1] = bridge(a, 0);
    natsConnection *nc;
    jsCtx *js;
    js_client(&srv, &nc, &js);
    struct tally t = {0};
    char buf[32];
    for (int i = 0; i < N; i++) {
        int len = snprintf(buf, sizeof(buf), "old-%d", i);
        assert_int_equal(mbx_send(out, buf, (size_t)len, prio_of(i), 5 * SEC), 0);
    }
    expect_life(in, &t, 0, br[0]);
    delete_stream(js);
    for (int i = 0; i < N; i++) {
        int len = snprintf(buf, sizeof(buf), "new-%d", i);
        assert_int_equal(mbx_send(out, buf, (size_t)len, prio_of(i), 5 * SEC), 0);
    }
    expect_life(in, &t, 1, br[0]);
    js_client_close(nc, js);
    mbx_close(out);
    mbx_close(in);
}

/* Waits (at most 30 s) until the bridge holds `held` messages and the
 * mailbox has `count`. */
static void await_held(mbx_bridge *b, mbx *in, uint64_t held, uint64_t count)
{
    uint64_t h = 0;
    mbx_stat ms;
    int64_t deadline = nh_now() + 30 * SEC;
    do {
        usleep(10000);
        assert_int_equal(mbx_bridge_held(b, &h), 0);
        assert_int_equal(mbx_stat_get(in, &ms), 0);
    } while ((h != held || ms.count != count) && nh_now() < deadline);
    if (h != held || ms.count != count)
        fail_msg("the bridge holds %llu (want %llu), the mailbox has %llu (want %llu)",
                 (unsigned long long)h, (unsigned long long)held, (unsigned long long)ms.count,
                 (unsigned long long)count);
}

/* Receives until every message of the new life arrived (30 s at most),
 * then 3 s more for any second copy (the ack wait is 2 s). */
static void take_new_life(mbx *in, struct tally *t)
{
    int64_t deadline = nh_now() + 30 * SEC;
    while (count(t->new_, 1) < N && nh_now() < deadline)
        drain(in, t, SEC / 10);
    int64_t until = nh_now() + 3 * SEC;
    while (nh_now() < until)
        drain(in, t, SEC / 10);
}

/* A spy on the acknowledgements sent to the stream's consumers. */
static natsSubscription *ack_spy(natsConnection *nc)
{
    return jobs_spy(nc, "$JS.ACK.%s.>");
}

/* How many NAKs the spy saw for messages stored before `since` (UTC ns):
 * "$JS.ACK.STREAM.CONSUMER.DELIVERED.SSEQ.CSEQ.TIME.PENDING". */
static int naks_stored_before(natsSubscription *spy, int64_t since)
{
    int n = 0;
    natsMsg *m = NULL;
    while (natsSubscription_NextMsg(&m, spy, 0) == NATS_OK) {
        const char *subj = natsMsg_GetSubject(m), *tok = subj;
        for (int k = 0; k < 7 && tok; k++) {
            tok = strchr(tok, '.');
            tok = tok ? tok + 1 : NULL;
        }
        if (tok && natsMsg_GetDataLength(m) == 4 && !memcmp(natsMsg_GetData(m), "-NAK", 4) &&
            strtoll(tok, NULL, 10) < since)
            n++;
        natsMsg_Destroy(m);
        m = NULL;
    }
    return n;
}

/* The stream's creation time (UTC ns). */
static int64_t stream_created(jsCtx *js)
{
    char stream[160];
    stream_of_jobs(stream, sizeof(stream));
    jsStreamInfo *si = NULL;
    assert_int_equal(js_GetStreamInfo(&si, js, stream, NULL, NULL), NATS_OK);
    int64_t created = si->Created;
    jsStreamInfo_Destroy(si);
    return created;
}

/* Messages of the old life held by the import (its mailbox full: every
 * band's thread holds one, so none looks at the stream meanwhile) while
 * the stream is made again with consumers: delivered or not, their acks
 * must not reach the new life's consumers, which would take the new
 * messages of those numbers out of the stream unseen. Nor their NAKs,
 * which would send the new messages of those numbers again at once while
 * they are out on delivery (to another importing bridge: twice). */
static void held_across_lives(void **state)
{
    (void)state;
    const char *dir = nh_tmpdir("held");
    mbx *in = box(dir, MBX_RECV, 4);
    br[0] = bridge(dir, 1);
    natsConnection *nc;
    jsCtx *js;
    js_client(&srv, &nc, &js);
    for (int i = 0; i < 4; i++)
        js_send(js, "old", i, 0); /* the mailbox full */
    await_held(br[0], in, 0, 4);
    for (int i = 4; i < 8; i++)
        js_send(js, "old", i, prio_of(i)); /* one for each band's thread */
    await_held(br[0], in, 4, 4);
    natsSubscription *spy = ack_spy(nc);
    delete_stream(js);
    make_stream(js);
    make_consumers(js);
    for (int i = 0; i < N; i++)
        js_send(js, "new", i, prio_of(i));
    /* Held past the time after which an ack waits for a look (a
     * second). */
    usleep(1500000);
    struct tally t = {0};
    take_new_life(in, &t);
    int old_naks = naks_stored_before(spy, stream_created(js));
    natsSubscription_Destroy(spy);
    printf("old messages: %d of 8 (the first 4 before), new: %d of %d, %d twice; %d NAKs of the "
           "old life\n",
           count(t.old, 1), count(t.new_, 1), N, count(t.new_, 2) + count(t.old, 2), old_naks);
    if (count(t.new_, 1) < N)
        nh_dump_logs(20);
    assert_int_equal(count(t.new_, 1), N);
    assert_int_equal(count(t.new_, 2), 0);
    assert_true(count(t.old, 1) >= 4);
    assert_int_equal(count(t.old, 2), 0);
    assert_int_equal(t.other, 0);
    assert_int_equal(old_naks, 0);
    js_client_close(nc, js);
    mbx_close(in);
}

/* Waits (up to 30 s) for band 0's pull to ask for `batch` messages: a
 * request just made, which the server keeps open for half a second. */
static void await_band0_ask(natsConnection *nc, int batch)
{
    char want[32];
    snprintf(want, sizeof(want), "\"batch\":%d,", batch);
    natsSubscription *spy = jobs_spy(nc, "$JS.API.CONSUMER.MSG.NEXT.%s.mbx-p0");
    int64_t deadline = nh_now() + 30 * SEC;
    int seen = 0;
    while (!seen && nh_now() < deadline) {
        natsMsg *req = NULL;
        if (natsSubscription_NextMsg(&req, spy, 1000) != NATS_OK)
            continue;
        seen = natsMsg_GetDataLength(req) > 0 && strstr(natsMsg_GetData(req), want) != NULL;
        natsMsg_Destroy(req);
    }
    natsSubscription_Destroy(spy);
    assert_true(seen);
}

/* Two old-life messages in one band's hands, the first waiting for room
 * in a full mailbox while the stream is made again: the second, found of
 * the old life after the first went in, is not delivered, and not handed
 * back either (its stream is gone). A NAK would reach the new life's
 * consumer of the same name, which sends its message of that number
 * again at once if it is out on delivery, to another importing bridge
 * too (found by a review). */
static void old_life_not_handed_back(void **state)
{
    (void)state;
    const char *dir = nh_tmpdir("nak");
    mbx *in = box(dir, MBX_RECV, 4), *local = box(dir, MBX_SEND, 4);
    br[0] = bridge(dir, 1);
    natsConnection *nc;
    jsCtx *js;
    js_client(&srv, &nc, &js);
    /* Band 0 asks for the mailbox's room (4) while it is empty; the
     * mailbox is filled here at once, and the request brings both. */
    await_band0_ask(nc, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(mbx_send(local, "fill", 4, 0, MBX_NONBLOCK), 0);
    js_send(js, "old", 0, 0);
    js_send(js, "old", 1, 0);
    /* The band's request is made again every half second: on a machine
     * loaded past that between its look and the two publishes (two
     * sanitizer suites at once), the next one, made for a full mailbox,
     * brought only the first (held 1: seen once). The second then waits
     * in the stream, which goes: the case below is not reached, and the
     * checks after still hold. */
    uint64_t held = 0;
    mbx_stat ms;
    int64_t until = nh_now() + 30 * SEC;
    do {
        usleep(10000);
        assert_int_equal(mbx_bridge_held(br[0], &held), 0);
        assert_int_equal(mbx_stat_get(in, &ms), 0);
    } while (held < 2 && !(held == 1 && nh_now() > until - 20 * SEC) && nh_now() < until);
    assert_int_equal(ms.count, 4);
    assert_true(held >= 1);
    if (held < 2)
        printf("the band's request came for a full mailbox: one old message held, not two\n");
    natsSubscription *spy = ack_spy(nc);
    delete_stream(js);
    make_stream(js);
    /* The import's next look binds the new life; it waits for the turn,
     * which band 0 holds while old-0 waits for room. */
    after_a_look(nc);
    usleep(500000);
    for (int i = 0; i < N; i++)
        js_send(js, "new", i, prio_of(i));
    struct tally t = {0};
    take_new_life(in, &t);
    int old_naks = naks_stored_before(spy, stream_created(js));
    natsSubscription_Destroy(spy);
    printf("old: %d of 2, new: %d of %d, %d twice; %d NAKs of the old life\n", count(t.old, 1),
           count(t.new_, 1), N, count(t.new_, 2), old_naks);
    assert_int_equal(count(t.new_, 1), N);
    assert_int_equal(count(t.new_, 2), 0);
    assert_int_equal(t.old[1], 0);
    assert_int_equal(t.other, 4); /* the local "fill" */
    assert_int_equal(old_naks, 0);
    js_client_close(nc, js);
    mbx_close(local);
    mbx_close(in);
}

int main(void)
{
    nh_require();
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(remade_without_consumers, after_each),
        cmocka_unit_test_teardown(remade_with_consumers, after_each),
        cmocka_unit_test_teardown(deleted_bridges_remake, after_each),
        cmocka_unit_test_teardown(remade_unsafe_is_refused, after_each),
        cmocka_unit_test_teardown(held_across_lives, after_each),
        cmocka_unit_test_teardown(old_life_not_handed_back, after_each),
    };
    if (getenv("NH_ONLY")) /* NH_ONLY=held_across_lives: that test alone */
        cmocka_set_test_filter(getenv("NH_ONLY"));
    if (getenv("NH_SKIP")) /* NH_SKIP=remade_*: all others (ctest runs halves at once) */
        cmocka_set_skip_filter(getenv("NH_SKIP"));
    int r = cmocka_run_group_tests(tests, setup, teardown);
    nh_cleanup();
    return r;
}
