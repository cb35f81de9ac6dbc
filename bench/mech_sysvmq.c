/* System V message queues (msgsnd/msgrcv), one per direction, private keys.
 * The mtype word is written into the buffer's headroom, just in front of the
 * payload, as a program that builds its struct msgbuf in place would. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ipc.h>
#include <sys/msg.h>

#include "mech.h"

/* The kernel's default queue size: small messages keep at least this. */
#define MIN_QBYTES 16384

struct sysv_priv {
    int q[2]; /* [0]: initiator -> responder */
    int out, in;
};

static void sysv_teardown(struct chan *c)
{
    struct sysv_priv *s = c->priv;
    if (!s)
        return;
    for (int i = 0; i < 2; i++)
        if (s->q[i] >= 0)
            msgctl(s->q[i], IPC_RMID, NULL);
    free(s);
    c->priv = NULL;
}

/* A queue holds QUEUE_DEPTH messages, like the other queues here. A new
 * queue starts at kernel.msgmnb, which a root run raises; lowering is always
 * allowed. A message larger than the queue's byte limit would block msgsnd
 * forever, so the limit must cover it before anything is sent. */
static int size_queue(int q, size_t size, char *why, size_t whylen)
{
    struct msqid_ds ds;
    if (msgctl(q, IPC_STAT, &ds) < 0)
        return -errno;
    size_t want = size * QUEUE_DEPTH < MIN_QBYTES ? MIN_QBYTES : size * QUEUE_DEPTH;
    if (ds.msg_qbytes == want)
        return 0;
    msglen_t old = ds.msg_qbytes;
    ds.msg_qbytes = want;
    if (msgctl(q, IPC_SET, &ds) == 0 || size <= old)
        return 0;
    snprintf(why, whylen, "over the queue limit kernel.msgmnb (%lu B); root may raise it",
             (unsigned long)old);
    return -EMSGSIZE;
}

static int sysv_setup(struct chan *c, char *why, size_t whylen)
{
    struct sysv_priv *s = malloc(sizeof(*s));
    if (!s)
        return -ENOMEM;
    *s = (struct sysv_priv){{-1, -1}, -1, -1};
    c->priv = s;
    /* IPC_INFO's msgmax is kernel.msgmax for the kernel, and the shim's
     * own limit under LD_PRELOAD of libmbx-sysv. */
    struct msginfo mi;
    if (msgctl(0, IPC_INFO, (struct msqid_ds *)(void *)&mi) >= 0 && (long)c->p.size > mi.msgmax) {
        snprintf(why, whylen, "over msgmax (%d B)%s", mi.msgmax,
                 c->mech->kernel ? "; root may raise kernel.msgmax" : "");
        return -EMSGSIZE;
    }
    int n = c->p.pattern == PATTERN_PINGPONG ? 2 : 1;
    for (int i = 0; i < n; i++) {
        s->q[i] = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
        if (s->q[i] < 0)
            return -errno;
        int rc = size_queue(s->q[i], c->p.size, why, whylen);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int sysv_attach(struct chan *c, enum mech_role role, int index)
{
    (void)index;
    struct sysv_priv *s = c->priv;
    s->out = role == ROLE_INITIATOR ? s->q[0] : s->q[1];
    s->in = role == ROLE_INITIATOR ? s->q[1] : s->q[0];
    return 0;
}

static int sysv_send(struct chan *c, void *buf, size_t len)
{
    struct sysv_priv *s = c->priv;
    long *mtype = (long *)buf - 1;
    *mtype = 1;
    while (msgsnd(s->out, mtype, len, 0) < 0)
        if (errno != EINTR)
            return -errno;
    return 0;
}

static ssize_t sysv_recv(struct chan *c, void *buf, size_t len)
{
    struct sysv_priv *s = c->priv;
    long *mtype = (long *)buf - 1;
    ssize_t n;
    while ((n = msgrcv(s->in, mtype, len, 0, 0)) < 0)
        if (errno != EINTR)
            return -errno;
    return n == (ssize_t)len ? n : -EPROTO;
}

static int sysv_ping(struct chan *c, void *buf, size_t len)
{
    int rc = sysv_send(c, buf, len);
    if (rc < 0)
        return rc;
    ssize_t n = sysv_recv(c, buf, len);
    return n < 0 ? (int)n : 0;
}

static int sysv_pong(struct chan *c, void *buf, size_t len)
{
    ssize_t n = sysv_recv(c, buf, len);
    if (n < 0)
        return (int)n;
    return sysv_send(c, buf, len);
}

/* Queue ids are not descriptors: there is nothing to let go of. */
static void sysv_detach(struct chan *c)
{
    (void)c;
}

/* The same code under LD_PRELOAD of libmbx-sysv: msgget and the others
 * are the shim's, on mbx mailboxes, in every process of the row. */
const struct mech mech_sysvmq_mbx = {
    .name = "sysvmq-mbx",
    .label = "sysvmq via libmbx-sysv",
    .about = "the sysvmq row's code under LD_PRELOAD=libmbx-sysv.so (queues on mbx)",
    .fanin = FANIN_YES,
    .preload = BENCH_SYSV_SHIM,
    .setup = sysv_setup,
    .attach = sysv_attach,
    .ping = sysv_ping,
    .pong = sysv_pong,
    .send = sysv_send,
    .recv = sysv_recv,
    .detach = sysv_detach,
    .teardown = sysv_teardown,
};

const struct mech mech_sysvmq = {
    .name = "sysvmq",
    .about = "System V message queue (msgsnd/msgrcv) per direction",
    .fanin = FANIN_YES,
    .kernel = true,
    .setup = sysv_setup,
    .attach = sysv_attach,
    .ping = sysv_ping,
    .pong = sysv_pong,
    .send = sysv_send,
    .recv = sysv_recv,
    .detach = sysv_detach,
    .teardown = sysv_teardown,
};
