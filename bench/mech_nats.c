/* NATS rows: a nats-server of the run's own on a free loopback port,
 * started by setup and stopped by teardown (n/a without nats-server).
 *
 * "nats": plain libnats. Round trip: the initiator's natsConnection_Request,
 * the responder's NextMsg and Publish of the reply, written at once
 * (SendAsap). One-way: Publish, batched by the client's flusher, and
 * NextMsg on a subject. The bridges use their connections the same way.
 *
 * "mbx-nats": mailboxes through two bridges (mbx_bridge_start, core NATS),
 * each in its side's process with a mailbox directory of its own (two
 * "hosts"). The initiator's mailbox is exported, the responder's imported.
 * Round trip: the initiator's mbx_call (a NATS request between the
 * bridges), the responder's mbx_recv and mbx_reply. One-way: mbx_send
 * there, mbx_recv here.
 *
 * "nats-js": plain libnats with JetStream, doing what the bridges with
 * JetStream wait for: a publish with a message id that waits for the
 * stream's acknowledgement, a pull consumer fetching up to 64 (the
 * bridge's mailbox room) and a confirmed ack per message. Its round trip
 * is the plain row's core request, as the bridges' calls are.
 *
 * "mbx-nats-js": the same bridges with JetStream (a server of the row's
 * own with -js and a store in the run's folder): what is sent goes into a
 * work-queue stream and is pulled from it, each message acknowledged and
 * the acknowledgement confirmed (exactly once across kills). Calls are
 * core NATS requests as without it. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#include "board.h"
#include "mech_mbx.h"
#include "port_owner.h"

struct nats_priv {
    pid_t server;
    int port;
    char url[64];
    char subject[64];
    char dir[2][512]; /* mbx-nats: the two hosts' mailbox directories */
    struct board *board;
    natsConnection *nc;
    natsSubscription *sub;
    jsCtx *js;          /* nats-js */
    natsMsgList batch;  /* nats-js: fetched, not yet received */
    int next;           /* nats-js: the next of batch to receive */
    uint64_t published; /* nats-js: message ids */
    mbx *h;
    mbx_bridge *br;
};

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static const char *server_path(void)
{
    static const char *const paths[] = {"/usr/bin/nats-server", "/usr/local/bin/nats-server",
                                        "/usr/sbin/nats-server", NULL};
    for (int i = 0; paths[i]; i++)
        if (access(paths[i], X_OK) == 0)
            return paths[i];
    return NULL;
}

static void nats_teardown(struct chan *c)
{
    struct nats_priv *s = c->priv;
    if (!s)
        return;
    if (s->server > 0) {
        kill(s->server, SIGTERM);
        waitpid(s->server, NULL, 0);
    }
    board_free(s->board);
    free(s);
    c->priv = NULL;
}

/* Starts nats-server on port and waits until it listens there. The port
 * was free when chosen and is on the server's command line, which every
 * user can read: another user who binds it first makes the server exit,
 * and a connect would then reach that user's listener. So "started" means
 * the listening socket is the child's own (port_owner_check). Returns the
 * child's pid, 0 when the port went to someone else (the caller tries
 * another), or a negative errno. */
static pid_t start_server(const char *path, int port, const char *store)
{
    char arg[16];
    snprintf(arg, sizeof(arg), "%d", port);
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 1);
        dup2(null, 2);
        if (store)
            execl(path, path, "-a", "127.0.0.1", "-p", arg, "-js", "-sd", store, (char *)NULL);
        else
            execl(path, path, "-a", "127.0.0.1", "-p", arg, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 500; i++) {
        /* An exited server could not bind (or run): try another port. */
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return 0;
        enum port_owner o = port_owner_check(pid, port);
        if (o == PORT_OWNED)
            return pid;
        if (o == PORT_FOREIGN)
            break;
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return 0;
}

/* Starts the row's nats-server (with JetStream, storing under the run's
 * folder, when jetstream). */
static int server_setup(struct chan *c, int jetstream, char *why, size_t whylen)
{
    const char *path = server_path();
    if (!path) {
        snprintf(why, whylen, "nats-server not installed (apt-get install nats-server)");
        return -ENOENT;
    }
    struct nats_priv *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    c->priv = s;
    s->board = board_new();
    if (!s->board)
        return -ENOMEM;
    snprintf(s->subject, sizeof(s->subject), "bench.%s", c->p.tag);
    for (int i = 0; i < 2; i++) {
        snprintf(s->dir[i], sizeof(s->dir[i]), "%s/nats-%s-%d", c->p.dir, c->p.tag, i);
        mkdir(s->dir[i], 0700);
    }
    char store[600];
    snprintf(store, sizeof(store), "%s/nats-%s-store", c->p.dir, c->p.tag);
    if (jetstream)
        mkdir(store, 0700);
    /* A few ports: each lost one (taken by another process between the
     * probe and the server's bind) costs a new one, not the cell. */
    for (int tries = 0; tries < 5; tries++) {
        s->port = free_port();
        if (s->port < 0)
            return -ENOMEM;
        pid_t pid = start_server(path, s->port, jetstream ? store : NULL);
        if (pid < 0)
            return (int)pid;
        if (pid > 0) {
            s->server = pid;
            snprintf(s->url, sizeof(s->url), "nats://127.0.0.1:%d", s->port);
            return 0;
        }
        fprintf(stderr,
                "mbx-bench: nats-server did not get port %d (another process listens "
                "there, or it exited); trying another\n",
                s->port);
    }
    snprintf(why, whylen, "nats-server did not start as the listener of a loopback port");
    return -ETIMEDOUT;
}

static int nats_setup(struct chan *c, char *why, size_t whylen)
{
    return server_setup(c, 0, why, whylen);
}

/* ---- plain libnats ---- */

static int plain_attach(struct chan *c, enum mech_role role, int index)
{
    (void)index;
    struct nats_priv *s = c->priv;
    /* As the bridges do: requests and replies written at once, streams of
     * messages batched by the client's flusher. */
    natsOptions *opts = NULL;
    natsStatus st = natsOptions_Create(&opts);
    if (st == NATS_OK)
        st = natsOptions_SetURL(opts, s->url);
    if (st == NATS_OK)
        st = natsOptions_SetSendAsap(opts, c->p.pattern == PATTERN_PINGPONG);
    if (st == NATS_OK)
        st = natsConnection_Connect(&s->nc, opts);
    natsOptions_Destroy(opts);
    if (st != NATS_OK)
        return -ECONNREFUSED;
    if (role == ROLE_RESPONDER) {
        if (natsConnection_SubscribeSync(&s->sub, s->nc, s->subject) != NATS_OK)
            return -EIO;
        natsSubscription_SetPendingLimits(s->sub, -1, -1);
        natsConnection_Flush(s->nc);
        board_post(s->board, "ready");
        return 0;
    }
    char ready[16];
    return board_wait(s->board, ready, sizeof(ready), 10000000000LL);
}

static void plain_detach(struct chan *c)
{
    struct nats_priv *s = c->priv;
    if (s->sub)
        natsSubscription_Destroy(s->sub);
    if (s->nc) {
        natsConnection_FlushTimeout(s->nc, 2000);
        natsConnection_Destroy(s->nc);
    }
    s->sub = NULL;
    s->nc = NULL;
}

static int plain_send(struct chan *c, void *buf, size_t len)
{
    struct nats_priv *s = c->priv;
    return natsConnection_Publish(s->nc, s->subject, buf, (int)len) == NATS_OK ? 0 : -EIO;
}

static ssize_t plain_recv(struct chan *c, void *buf, size_t len)
{
    struct nats_priv *s = c->priv;
    natsMsg *m = NULL;
    if (natsSubscription_NextMsg(&m, s->sub, 30000) != NATS_OK)
        return -ETIMEDOUT;
    ssize_t n = natsMsg_GetDataLength(m);
    if ((size_t)n == len)
        memcpy(buf, natsMsg_GetData(m), len);
    natsMsg_Destroy(m);
    return (size_t)n == len ? n : -EPROTO;
}

static int plain_ping(struct chan *c, void *buf, size_t len)
{
    struct nats_priv *s = c->priv;
    natsMsg *m = NULL;
    if (natsConnection_Request(&m, s->nc, s->subject, buf, (int)len, 30000) != NATS_OK)
        return -EIO;
    int ok = (size_t)natsMsg_GetDataLength(m) == len;
    if (ok)
        memcpy(buf, natsMsg_GetData(m), len);
    natsMsg_Destroy(m);
    return ok ? 0 : -EPROTO;
}

static int plain_pong(struct chan *c, void *buf, size_t len)
{
    struct nats_priv *s = c->priv;
    natsMsg *m = NULL;
    if (natsSubscription_NextMsg(&m, s->sub, 30000) != NATS_OK)
        return -ETIMEDOUT;
    int rc = -EPROTO;
    if ((size_t)natsMsg_GetDataLength(m) == len && natsMsg_GetReply(m)) {
        memcpy(buf, natsMsg_GetData(m), len);
        rc =
            natsConnection_Publish(s->nc, natsMsg_GetReply(m), buf, (int)len) == NATS_OK ? 0 : -EIO;
    }
    natsMsg_Destroy(m);
    return rc;
}

/* ---- plain libnats with JetStream ---- */

/* The stream's subject and name: "benchjs.TAG" and "BENCHJS_TAG" (a
 * stream's name takes no dots). */
static void js_names(const struct chan *c, char *subj, size_t sn, char *stream, size_t stn)
{
    snprintf(subj, sn, "benchjs.%s", c->p.tag);
    snprintf(stream, stn, "BENCHJS_%s", c->p.tag);
    for (char *q = stream; *q; q++)
        if (*q == '-' || *q == '.')
            *q = '_';
}

static int js_setup(struct chan *c, char *why, size_t whylen)
{
    return server_setup(c, 1, why, whylen);
}

static int js_attach(struct chan *c, enum mech_role role, int index)
{
    struct nats_priv *s = c->priv;
    if (c->p.pattern == PATTERN_PINGPONG)
        return plain_attach(c, role, index);
    natsOptions *opts = NULL;
    natsStatus st = natsOptions_Create(&opts);
    if (st == NATS_OK)
        st = natsOptions_SetURL(opts, s->url);
    if (st == NATS_OK)
        st = natsConnection_Connect(&s->nc, opts);
    natsOptions_Destroy(opts);
    if (st != NATS_OK || natsConnection_JetStream(&s->js, s->nc, NULL) != NATS_OK)
        return -ECONNREFUSED;
    char subj[96], stream[96];
    js_names(c, subj, sizeof(subj), stream, sizeof(stream));
    if (role == ROLE_RESPONDER) {
        /* As a bridge makes its stream: a work queue on file. */
        jsStreamConfig sc;
        jsStreamConfig_Init(&sc);
        sc.Name = stream;
        sc.Subjects = (const char *[]){subj};
        sc.SubjectsLen = 1;
        sc.Retention = js_WorkQueuePolicy;
        sc.Storage = js_FileStorage;
        jsErrCode jerr = 0;
        if (js_AddStream(NULL, s->js, &sc, NULL, &jerr) != NATS_OK)
            return -EIO;
        jsSubOptions so;
        jsSubOptions_Init(&so);
        so.Stream = stream;
        so.Config.AckPolicy = js_AckExplicit;
        so.Config.MaxAckPending = 4 * QUEUE_DEPTH;
        if (js_PullSubscribe(&s->sub, s->js, subj, "bench", NULL, &so, &jerr) != NATS_OK)
            return -EIO;
        board_post(s->board, "ready");
        return 0;
    }
    char ready[16];
    return board_wait(s->board, ready, sizeof(ready), 10000000000LL);
}

static void js_detach(struct chan *c)
{
    struct nats_priv *s = c->priv;
    natsMsgList_Destroy(&s->batch);
    jsCtx_Destroy(s->js);
    s->js = NULL;
    plain_detach(c);
}

static int js_send(struct chan *c, void *buf, size_t len)
{
    struct nats_priv *s = c->priv;
    char subj[96], stream[96], id[64];
    js_names(c, subj, sizeof(subj), stream, sizeof(stream));
    snprintf(id, sizeof(id), "%s-%llu", c->p.tag, (unsigned long long)++s->published);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = id;
    jsErrCode jerr = 0;
    return js_Publish(NULL, s->js, subj, buf, (int)len, &po, &jerr) == NATS_OK ? 0 : -EIO;
}

static ssize_t js_recv(struct chan *c, void *buf, size_t len)
{
    struct nats_priv *s = c->priv;
    while (s->next >= s->batch.Count) {
        natsMsgList_Destroy(&s->batch);
        s->next = 0;
        natsStatus st = natsSubscription_Fetch(&s->batch, s->sub, QUEUE_DEPTH, 30000, NULL);
        if (st != NATS_OK && st != NATS_TIMEOUT)
            return -EIO;
        if (st == NATS_TIMEOUT && s->batch.Count == 0)
            return -ETIMEDOUT;
    }
    natsMsg *m = s->batch.Msgs[s->next++];
    ssize_t n = natsMsg_GetDataLength(m);
    if ((size_t)n == len)
        memcpy(buf, natsMsg_GetData(m), len);
    jsErrCode jerr = 0;
    if (natsMsg_AckSync(m, NULL, &jerr) != NATS_OK)
        return -EIO;
    return (size_t)n == len ? n : -EPROTO;
}

const struct mech mech_nats_js = {
    .name = "nats-js",
    .label = "nats (libnats, JetStream)",
    .about = "plain libnats with JetStream: a publish with a message id waiting for the "
             "stream's ack, a pull consumer, a confirmed ack per message (round trip: "
             "a core request)",
    .fanin = FANIN_NO,
    .quick_64b_only = true,
    .setup = js_setup,
    .attach = js_attach,
    .ping = plain_ping,
    .pong = plain_pong,
    .send = js_send,
    .recv = js_recv,
    .detach = js_detach,
    .teardown = nats_teardown,
};

/* ---- through the bridges ---- */

enum { BRIDGE_DEFAULT, BRIDGE_DEEP, BRIDGE_JETSTREAM };

/* nats-server's default max_payload: a bridge refuses a mailbox whose
 * messages, with its headers, could exceed it (-EMSGSIZE). */
#define NATS_DEFAULT_MAX_PAYLOAD (1u << 20)

/* setup, plus the bridge's size limit: the cell is n/a, with the reason,
 * where the bridge would refuse the mailbox. */
static int bridge_setup(struct chan *c, char *why, size_t whylen)
{
    if (c->p.size >= NATS_DEFAULT_MAX_PAYLOAD) {
        snprintf(why, whylen,
                 "a bridge refuses mailboxes of messages that, with its headers, exceed the "
                 "server's max_payload (1 MiB by default): -EMSGSIZE");
        return -EMSGSIZE;
    }
    return server_setup(c, c->mech->variant == BRIDGE_JETSTREAM, why, whylen);
}

#define DEEP_CAPACITY 1024

static int bridge_attach(struct chan *c, enum mech_role role, int index)
{
    (void)index;
    struct nats_priv *s = c->priv;
    setenv("MBX_DIR", s->dir[role == ROLE_INITIATOR ? 0 : 1], 1);
    mbx_attr a;
    mbx_attr_init(&a);
    a.max_msg_size = c->p.size;
    a.capacity = c->mech->variant == BRIDGE_DEEP ? DEEP_CAPACITY : QUEUE_DEPTH;
    int flags = role == ROLE_INITIATOR ? MBX_SEND : MBX_RECV;
    int rc = mbx_open("bench", flags | MBX_CREATE, &a, &s->h);
    if (rc < 0)
        return rc;
    const char *names[] = {"bench", NULL};
    mbx_bridge_options o;
    mbx_bridge_options_init(&o);
    o.servers = s->url;
    o.prefix = "bench";
    o.pending_limit = 1u << 24;
    o.call_timeout_ms = 30000;
    o.jetstream = c->mech->variant == BRIDGE_JETSTREAM;
    char ready[16];
    if (role == ROLE_INITIATOR) {
        /* After the importing side subscribed: core NATS drops what
         * nobody listens to. */
        rc = board_wait(s->board, ready, sizeof(ready), 10000000000LL);
        if (rc < 0)
            return rc;
        o.exports = names;
    } else {
        o.imports = names;
    }
    rc = mbx_bridge_start(&o, &s->br);
    if (rc == 0 && role == ROLE_RESPONDER)
        board_post(s->board, "ready");
    return rc;
}

static void bridge_detach(struct chan *c)
{
    struct nats_priv *s = c->priv;
    if (s->br) {
        /* The sender lets its bridge publish what is queued first. */
        mbx_stat st;
        for (int i = 0; i < 2000 && s->h && mbx_stat_get(s->h, &st) == 0 && st.count; i++) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
        mbx_bridge_stop(s->br);
    }
    if (s->h)
        mbx_close(s->h);
    s->br = NULL;
    s->h = NULL;
}

static int bridge_send(struct chan *c, void *buf, size_t len)
{
    struct nats_priv *s = c->priv;
    return mbx_send(s->h, buf, len, 0, MBX_FOREVER);
}

static ssize_t bridge_recv(struct chan *c, void *buf, size_t len)
{
    struct nats_priv *s = c->priv;
    ssize_t n = mbx_recv(s->h, buf, len, NULL, 30 * 1000000000LL);
    return n < 0 || (size_t)n == len ? n : -EPROTO;
}

static int bridge_ping(struct chan *c, void *buf, size_t len)
{
    struct nats_priv *s = c->priv;
    ssize_t n = mbx_call(s->h, buf, len, 0, buf, len, 30 * 1000000000LL);
    return n < 0 ? (int)n : (size_t)n == len ? 0 : -EPROTO;
}

static int bridge_pong(struct chan *c, void *buf, size_t len)
{
    struct nats_priv *s = c->priv;
    mbx_msginfo info;
    ssize_t n = mbx_recv(s->h, buf, len, &info, 30 * 1000000000LL);
    if (n < 0)
        return (int)n;
    if ((size_t)n != len)
        return -EPROTO;
    return mbx_reply(&info, buf, len);
}

const struct mech mech_nats = {
    .name = "nats",
    .label = "nats (libnats)",
    .about = "plain libnats through a nats-server on 127.0.0.1 started for the run: "
             "Request / Publish and NextMsg",
    .fanin = FANIN_NO,
    .quick_64b_only = true,
    .setup = nats_setup,
    .attach = plain_attach,
    .ping = plain_ping,
    .pong = plain_pong,
    .send = plain_send,
    .recv = plain_recv,
    .detach = plain_detach,
    .teardown = nats_teardown,
};

/* What the bridge rows share: they differ only in their mailboxes' depth
 * and in JetStream (the variant). */
#define BRIDGE_OPS                                                                                 \
    .fanin = FANIN_NO, .quick_64b_only = true, .setup = bridge_setup, .attach = bridge_attach,     \
    .ping = bridge_ping, .pong = bridge_pong, .send = bridge_send, .recv = bridge_recv,            \
    .detach = bridge_detach, .teardown = nats_teardown

const struct mech mech_mbx_nats = {
    .name = "mbx-nats",
    .label = "mbx (NATS bridge)",
    .about = "mailboxes on two 'hosts' (mailbox directories) joined by two mbx bridges "
             "(core NATS) through the same nats-server: mbx_call / mbx_send there, "
             "mbx_recv (and mbx_reply) here",
    .variant = BRIDGE_DEFAULT,
    BRIDGE_OPS,
};

const struct mech mech_mbx_nats_deep = {
    .name = "mbx-nats-deep",
    .label = "mbx (NATS bridge, deep)",
    .about = "the same with both mailboxes 1024 slots deep (the plain client queues without "
             "bound at both ends)",
    .variant = BRIDGE_DEEP,
    BRIDGE_OPS,
};

const struct mech mech_mbx_nats_js = {
    .name = "mbx-nats-js",
    .label = "mbx (NATS bridge, JetStream)",
    .about = "the same two bridges with JetStream: a work-queue stream between them, each "
             "message pulled and its acknowledgement confirmed (calls: core NATS requests)",
    .variant = BRIDGE_JETSTREAM,
    BRIDGE_OPS,
};
