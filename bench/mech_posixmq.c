/* POSIX message queues, one per direction, created before fork with the
 * system's default depth (10, fs.mqueue.msg_max) and a message size of
 * exactly the size measured.
 *
 * The same code measures two rows: "posixmq" on the kernel's queues, and
 * "posixmq-mbx", run by a copy of the benchmark started with
 * LD_PRELOAD=libmbx-mq.so (run_preloaded.c), where the same mq_* calls
 * bind to the shim's, in that row's processes only. */
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "kernel_limits.h"
#include "mech.h"

/* The functions a row calls: the C library's mq_*, which in the
 * posixmq-mbx row's processes are libmbx-mq's (LD_PRELOAD). */
struct mq_api {
    mqd_t (*open)(const char *, int, ...);
    int (*close)(mqd_t);
    int (*unlink)(const char *);
    int (*send)(mqd_t, const char *, size_t, unsigned);
    ssize_t (*receive)(mqd_t, char *, size_t, unsigned *);
};

static const struct mq_api kernel_api = {mq_open, mq_close, mq_unlink, mq_send, mq_receive};

struct mq_priv {
    const struct mq_api *api;
    char name[2][96]; /* [0]: initiator -> responder */
    mqd_t q[2];
    mqd_t out, in;
};

static void mq_teardown(struct chan *c)
{
    struct mq_priv *s = c->priv;
    if (!s)
        return;
    for (int i = 0; s->api && i < 2; i++) {
        if (s->q[i] != (mqd_t)-1)
            s->api->close(s->q[i]);
        if (s->name[i][0])
            s->api->unlink(s->name[i]);
    }
    free(s);
    c->priv = NULL;
}

/* Bytes the kernel charges to RLIMIT_MSGQUEUE per message beyond its size
 * (struct msg_msg and the priority tree), rounded up. */
#define MQ_MSG_OVERHEAD 128

static int explain(int err, size_t size, char *why, size_t whylen)
{
    long max = 0;
    if (err == EINVAL && sysctl_get(SYSCTL_MQ_MSGSIZE_MAX, &max) == 0 && (long)size > max)
        snprintf(why, whylen, "over fs.mqueue.msgsize_max (%ld B); root may raise it", max);
    else if (err == EMFILE)
        snprintf(why, whylen, "queues over RLIMIT_MSGQUEUE (raising it needs CAP_SYS_RESOURCE)");
    return -err;
}

/* The queues' depth: the system default, made smaller when RLIMIT_MSGQUEUE
 * (bytes of queues per user) cannot hold that many messages of this size.
 * Returns 0 when not even one fits. */
static long depth_for(size_t size, int nqueues, char *why, size_t whylen)
{
    long depth = 10;
    sysctl_get(SYSCTL_MQ_MSG_MAX, &depth);
    depth = depth < 10 ? depth : 10;
    struct rlimit rl;
    if (getrlimit(RLIMIT_MSGQUEUE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
        return depth;
    long fit = (long)(rl.rlim_cur / ((size + MQ_MSG_OVERHEAD) * (size_t)nqueues));
    if (fit < 1)
        snprintf(why, whylen,
                 "RLIMIT_MSGQUEUE (%llu B) holds no %d queue(s) of such messages; "
                 "raising it needs CAP_SYS_RESOURCE",
                 (unsigned long long)rl.rlim_cur, nqueues);
    return fit < depth ? fit : depth;
}

static int mq_setup(struct chan *c, char *why, size_t whylen)
{
    struct mq_priv *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->q[0] = s->q[1] = s->out = s->in = (mqd_t)-1;
    c->priv = s;
    s->api = &kernel_api;
    int n = c->p.pattern == PATTERN_PINGPONG ? 2 : 1;
    /* The shim has no RLIMIT_MSGQUEUE: the same depth as the kernel's row
     * where it fits, the default depth where the kernel's could not. */
    long depth = c->mech->variant ? 10 : depth_for(c->p.size, n, why, whylen);
    if (depth < 1)
        return -EMSGSIZE;
    struct mq_attr attr = {.mq_maxmsg = depth, .mq_msgsize = (long)c->p.size};
    for (int i = 0; i < n; i++) {
        char name[96];
        snprintf(name, sizeof(name), "/mbx-bench.%s.%d", c->p.tag, i);
        s->q[i] = s->api->open(name, O_CREAT | O_EXCL | O_RDWR, 0600, &attr);
        if (s->q[i] == (mqd_t)-1)
            return explain(errno, c->p.size, why, whylen);
        snprintf(s->name[i], sizeof(s->name[i]), "%s", name);
    }
    return 0;
}

static int mq_attach(struct chan *c, enum mech_role role, int index)
{
    (void)index;
    struct mq_priv *s = c->priv;
    s->out = role == ROLE_INITIATOR ? s->q[0] : s->q[1];
    s->in = role == ROLE_INITIATOR ? s->q[1] : s->q[0];
    return 0;
}

static int mq_snd(struct chan *c, void *buf, size_t len)
{
    struct mq_priv *s = c->priv;
    while (s->api->send(s->out, buf, len, 0) < 0)
        if (errno != EINTR)
            return -errno;
    return 0;
}

static ssize_t mq_rcv(struct chan *c, void *buf, size_t len)
{
    struct mq_priv *s = c->priv;
    ssize_t n;
    while ((n = s->api->receive(s->in, buf, len, NULL)) < 0)
        if (errno != EINTR)
            return -errno;
    return n == (ssize_t)len ? n : -EPROTO;
}

static int mq_ping(struct chan *c, void *buf, size_t len)
{
    int rc = mq_snd(c, buf, len);
    if (rc < 0)
        return rc;
    ssize_t n = mq_rcv(c, buf, len);
    return n < 0 ? (int)n : 0;
}

static int mq_pong(struct chan *c, void *buf, size_t len)
{
    ssize_t n = mq_rcv(c, buf, len);
    if (n < 0)
        return (int)n;
    return mq_snd(c, buf, len);
}

static void mq_detach(struct chan *c)
{
    struct mq_priv *s = c->priv;
    for (int i = 0; i < 2; i++)
        if (s->q[i] != (mqd_t)-1)
            s->api->close(s->q[i]);
    s->q[0] = s->q[1] = s->out = s->in = (mqd_t)-1;
}

const struct mech mech_posixmq = {
    .name = "posixmq",
    .about = "POSIX message queue (mq_send/mq_receive) per direction",
    .fanin = FANIN_YES,
    .kernel = true,
    .setup = mq_setup,
    .attach = mq_attach,
    .ping = mq_ping,
    .pong = mq_pong,
    .send = mq_snd,
    .recv = mq_rcv,
    .detach = mq_detach,
    .teardown = mq_teardown,
};

const struct mech mech_posixmq_mbx = {
    .name = "posixmq-mbx",
    .label = "posixmq via libmbx-mq",
    .about = "the posixmq row's code under LD_PRELOAD=libmbx-mq.so (queues on mbx)",
    .variant = 1,
    .fanin = FANIN_YES,
    .kernel = false,
    .preload = BENCH_MBX_MQ_SO,
    .setup = mq_setup,
    .attach = mq_attach,
    .ping = mq_ping,
    .pong = mq_pong,
    .send = mq_snd,
    .recv = mq_rcv,
    .detach = mq_detach,
    .teardown = mq_teardown,
};
