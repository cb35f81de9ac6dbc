/* iceoryx 2 through its C API: a publisher and a subscriber per direction,
 * chunks in shared memory handed out by RouDi's memory pools. The copying
 * rows do what mbx_send/mbx_recv do: the publisher loans a chunk, copies the
 * message in and publishes; the subscriber takes the chunk, copies the
 * message out and releases it. The zero-copy rows, like mbx (loan), make the
 * payload in place: only the harness's 16 header bytes are copied. Two wait
 * modes: busy-polling iox_sub_take_chunk (beside mbx (spin)) and sleeping in
 * a WaitSet until the subscriber has data (iceoryx's blocking wait).
 *
 * The subscriber's queue holds QUEUE_DEPTH chunks (as many as a default mbx
 * mailbox holds messages) and blocks the publisher when full
 * (BLOCK_PRODUCER / WAIT_FOR_CONSUMER), so no message is dropped: the same
 * contract as a mailbox's.
 *
 * Every process registers with RouDi (iox_runtime_init) after fork; RouDi
 * connects publishers to subscribers asynchronously, so attach waits until
 * both ends of every direction are connected. iceoryx's runtime deregisters
 * from RouDi only in its static destructor, which runs at exit() and not at
 * the harness's _exit(): detach, a child's last step, therefore ends the
 * process with exit(0). Otherwise RouDi would learn of the end only from
 * missed keep-alives, hold the process's chunks until then, and abort if
 * told to stop before that (see roudi.c).
 *
 * A child killed instead (an interrupted run, a cell's deadline) leaves its
 * runtime's socket and lock file in /tmp behind, named after the runtime.
 * Runtime names are therefore the channel's tag, a random part, role and
 * index, which the parent knows: its teardown removes what killed children
 * left.
 *
 * iceoryx opens /tmp/NAME.lock with O_CREAT, following a link, as root.
 * The names once were the tag alone (the benchmark's pid and a counter),
 * so any user could plant those links ahead and have root create files
 * where they point. Now the name has 64 random bits nobody can predict,
 * and each child makes its lock file itself, new (O_EXCL|O_NOFOLLOW),
 * before iceoryx opens it: in sticky /tmp nobody else can then swap it. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <iceoryx_binding_c/log.h>
#include <iceoryx_binding_c/publisher.h>
#include <iceoryx_binding_c/runtime.h>
#include <iceoryx_binding_c/subscriber.h>
#include <iceoryx_binding_c/wait_set.h>

#include "mech.h"
#include "roudi.h"

#define IOXB_WAITSET 0
#define IOXB_POLL    1

struct iox_priv {
    char instance[48]; /* the channel's tag: services of two cells never meet */
    char nonce[17];    /* random hex in the runtime names: not predictable */
    iox_pub_storage_t pub_storage;
    iox_sub_storage_t sub_storage;
    iox_ws_storage_t ws_storage;
    iox_pub_t pub; /* this side's sending direction */
    iox_sub_t sub; /* this side's receiving direction */
    iox_ws_t ws;   /* WaitSet mode: waits for sub to have data */
};

static int ioxb_setup(struct chan *c, char *why, size_t whylen)
{
    if (!roudi_up()) {
        snprintf(why, whylen, "%s", roudi_why());
        return -ENOSYS;
    }
    struct iox_priv *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    c->priv = s;
    snprintf(s->instance, sizeof(s->instance), "%s", c->p.tag);
    unsigned char r[8];
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
        snprintf(why, whylen, "getrandom: %s", strerror(errno));
        return -EIO;
    }
    for (size_t i = 0; i < sizeof(r); i++)
        snprintf(s->nonce + 2 * i, 3, "%02x", r[i]);
    return 0;
}

/* iceoryx's runtime name of the process attached as (role, index). */
static void runtime_name(const struct iox_priv *s, enum mech_role role, int index, char *name,
                         size_t len)
{
    snprintf(name, len, "mbx-bench-%s-%s-%c%d", s->instance, s->nonce,
             role == ROLE_INITIATOR ? 'i' : 'r', index);
}

/* Where iceoryx's runtime keeps its socket (its compiled-in prefix, /tmp/)
 * and the lock file beside it. */
static void unlink_runtime_files(const char *name)
{
    char path[128];
    snprintf(path, sizeof(path), "/tmp/%s", name);
    unlink(path);
    snprintf(path, sizeof(path), "/tmp/%s.lock", name);
    unlink(path);
}

/* Makes the runtime's lock file, new and root's, before iceoryx opens it
 * (it would create it through a planted link). Returns 0 or -errno: EEXIST
 * when the name is taken, which only someone else's file can do. */
static int claim_lock(const char *name)
{
    char path[128];
    snprintf(path, sizeof(path), "/tmp/%s.lock", name);
    int fd = open(path, O_CREAT | O_EXCL | O_NOFOLLOW | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    close(fd);
    return 0;
}

static void ioxb_teardown(struct chan *c)
{
    struct iox_priv *s = c->priv;
    /* Every child of the channel has ended by now; a name whose process
     * exited normally has no files left and the unlinks find nothing. */
    for (int i = 0; s && i < c->p.senders; i++) {
        char name[96];
        runtime_name(s, ROLE_INITIATOR, i, name, sizeof(name));
        unlink_runtime_files(name);
        runtime_name(s, ROLE_RESPONDER, i, name, sizeof(name));
        unlink_runtime_files(name);
    }
    free(c->priv);
    c->priv = NULL;
}

static iox_pub_t make_pub(struct iox_priv *s, const char *event)
{
    iox_pub_options_t o;
    iox_pub_options_init(&o);
    o.historyCapacity = 0;
    o.offerOnCreate = true;
    o.subscriberTooSlowPolicy = ConsumerTooSlowPolicy_WAIT_FOR_CONSUMER;
    return iox_pub_init(&s->pub_storage, "mbx-bench", s->instance, event, &o);
}

static iox_sub_t make_sub(struct iox_priv *s, const char *event)
{
    iox_sub_options_t o;
    iox_sub_options_init(&o);
    o.queueCapacity = QUEUE_DEPTH;
    o.historyRequest = 0;
    o.subscribeOnCreate = true;
    o.queueFullPolicy = QueueFullPolicy_BLOCK_PRODUCER;
    return iox_sub_init(&s->sub_storage, "mbx-bench", s->instance, event, &o);
}

static bool connected(const struct iox_priv *s)
{
    return (!s->pub || iox_pub_has_subscribers(s->pub)) &&
           (!s->sub || iox_sub_get_subscription_state(s->sub) == SubscribeState_SUBSCRIBED);
}

static int ioxb_attach(struct chan *c, enum mech_role role, int index)
{
    struct iox_priv *s = c->priv;
    char name[96];
    runtime_name(s, role, index, name, sizeof(name));
    int rc = claim_lock(name);
    if (rc < 0)
        return rc;
    /* Debian's build logs every registration at debug level on stderr. */
    iox_set_loglevel(Iceoryx_LogLevel_Error);
    iox_runtime_init(name);
    bool init = role == ROLE_INITIATOR;
    bool both = c->p.pattern == PATTERN_PINGPONG;
    /* "out": initiator -> responder; "back": the reply. */
    if (init || both)
        s->pub = make_pub(s, init ? "out" : "back");
    if (!init || both)
        s->sub = make_sub(s, init ? "back" : "out");
    if (s->sub && c->mech->variant == IOXB_WAITSET) {
        s->ws = iox_ws_init(&s->ws_storage);
        if (iox_ws_attach_subscriber_state(s->ws, s->sub, SubscriberState_HAS_DATA, 0, NULL) !=
            WaitSetResult_SUCCESS)
            return -ENOSPC;
    }
    struct timespec ms = {0, 1000000};
    while (!connected(s))
        nanosleep(&ms, NULL);
    return 0;
}

static int put(struct chan *c, const void *buf, size_t len)
{
    struct iox_priv *s = c->priv;
    void *chunk;
    enum iox_AllocationResult r;
    while ((r = iox_pub_loan_chunk(s->pub, &chunk, (uint32_t)len)) ==
           AllocationResult_RUNNING_OUT_OF_CHUNKS)
        sched_yield();
    if (r != AllocationResult_SUCCESS)
        return r == AllocationResult_NO_MEMPOOLS_AVAILABLE ? -EMSGSIZE : -ENOBUFS;
    memcpy(chunk, buf, c->mech->zero_copy ? MECH_HDR_BYTES : len);
    iox_pub_publish_chunk(s->pub, chunk);
    return 0;
}

static ssize_t get(struct chan *c, void *buf, size_t len)
{
    struct iox_priv *s = c->priv;
    const void *chunk;
    for (;;) {
        enum iox_ChunkReceiveResult r = iox_sub_take_chunk(s->sub, &chunk);
        if (r == ChunkReceiveResult_SUCCESS)
            break;
        if (r != ChunkReceiveResult_NO_CHUNK_AVAILABLE)
            return -ENOBUFS;
        if (s->ws) {
            iox_notification_info_t info[1];
            uint64_t missed;
            iox_ws_wait(s->ws, info, 1, &missed);
        }
    }
    /* The C API does not tell a chunk's payload size; every message of a
     * channel has len bytes, and the harness checks each one's header. */
    memcpy(buf, chunk, c->mech->zero_copy ? MECH_HDR_BYTES : len);
    iox_sub_release_chunk(s->sub, chunk);
    return (ssize_t)len;
}

static int ioxb_send(struct chan *c, void *buf, size_t len)
{
    return put(c, buf, len);
}

static ssize_t ioxb_recv(struct chan *c, void *buf, size_t len)
{
    return get(c, buf, len);
}

static int ioxb_ping(struct chan *c, void *buf, size_t len)
{
    int rc = put(c, buf, len);
    if (rc < 0)
        return rc;
    ssize_t n = get(c, buf, len);
    return n < 0 ? (int)n : 0;
}

static int ioxb_pong(struct chan *c, void *buf, size_t len)
{
    ssize_t n = get(c, buf, len);
    if (n < 0)
        return (int)n;
    return put(c, buf, len);
}

static void ioxb_detach(struct chan *c)
{
    struct iox_priv *s = c->priv;
    if (s->ws) {
        iox_ws_detach_subscriber_state(s->ws, s->sub, SubscriberState_HAS_DATA);
        iox_ws_deinit(s->ws);
    }
    if (s->sub)
        iox_sub_deinit(s->sub);
    if (s->pub)
        iox_pub_deinit(s->pub);
    /* See the top: exit() deregisters from RouDi. Output the parent had
     * buffered before the fork is the parent's to write, not this child's. */
    __fpurge(stdout);
    __fpurge(stderr);
    exit(0);
}

#define IOX_ROW(ident, row, shown, mode, zc, fan, text)                                            \
    const struct mech ident = {                                                                    \
        .name = row,                                                                               \
        .label = shown,                                                                            \
        .about = text,                                                                             \
        .variant = mode,                                                                           \
        .fanin = fan,                                                                              \
        .kernel = false,                                                                           \
        .nosys_note = "iox-roudi is not running",                                                  \
        .zero_copy = zc,                                                                           \
        .needs_roudi = true,                                                                       \
        .setup = ioxb_setup,                                                                       \
        .attach = ioxb_attach,                                                                     \
        .ping = ioxb_ping,                                                                         \
        .pong = ioxb_pong,                                                                         \
        .send = ioxb_send,                                                                         \
        .recv = ioxb_recv,                                                                         \
        .detach = ioxb_detach,                                                                     \
        .teardown = ioxb_teardown,                                                                 \
    }

IOX_ROW(mech_iceoryx, "iceoryx", NULL, IOXB_WAITSET, false, FANIN_YES,
        "iceoryx publish/subscribe, copied in and out of loaned chunks, WaitSet wait (RouDi)");
IOX_ROW(mech_iceoryx_poll, "iceoryx-poll", "iceoryx (poll)", IOXB_POLL, false, FANIN_FULL_ONLY,
        "iceoryx as above, the subscriber busy-polls iox_sub_take_chunk");
IOX_ROW(mech_iceoryx_zc, "iceoryx-zc", "iceoryx (zero copy)", IOXB_WAITSET, true, FANIN_YES,
        "iceoryx, payload made in place in the loaned chunk, WaitSet wait");
IOX_ROW(mech_iceoryx_zc_poll, "iceoryx-zc-poll", "iceoryx (zero copy, poll)", IOXB_POLL, true,
        FANIN_FULL_ONLY, "iceoryx, payload made in place, busy-polling subscriber");
