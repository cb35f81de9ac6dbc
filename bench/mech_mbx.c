/* mbx with copies: mbx_send and mbx_recv on two mailboxes of default capacity,
 * in the three wait modes (default spin-then-sleep, always sleep, always
 * spin). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mech_mbx.h"

void mbxb_teardown(struct chan *c)
{
    struct mbxb_priv *s = c->priv;
    if (!s)
        return;
    if (s->busy > 0) {
        kill(s->busy, SIGKILL);
        waitpid(s->busy, NULL, 0);
    }
    for (int i = 0; i < 2; i++)
        if (s->name[i][0])
            mbx_unlink(s->name[i]);
    free(s);
    c->priv = NULL;
}

int mbxb_footprint(unsigned count, uint64_t *file_bytes, uint64_t *alloc_bytes)
{
    const char *dir = getenv("MBX_DIR");
    mbx **open = calloc(count ? count : 1, sizeof(*open));
    if (!open)
        return -ENOMEM;
    int rc = 0;
    unsigned made = 0;
    *file_bytes = *alloc_bytes = 0;
    /* All of them exist at once, as idle channels do. */
    for (; made < count && rc == 0; made++) {
        char name[64], path[512];
        snprintf(name, sizeof(name), "bench.footprint.%ld.%u", (long)getpid(), made);
        rc = mbx_open(name, MBX_CREATE | MBX_EXCL | MBX_SEND, NULL, &open[made]);
        if (rc < 0)
            break;
        snprintf(path, sizeof(path), "%s/mbx.%s", dir && *dir ? dir : "/dev/shm", name);
        struct stat st;
        rc = stat(path, &st) < 0 ? -errno : 0;
        if (rc == 0) {
            *file_bytes += (uint64_t)st.st_size;
            *alloc_bytes += (uint64_t)st.st_blocks * 512;
        }
    }
    for (unsigned i = 0; i < made; i++) {
        char name[64];
        snprintf(name, sizeof(name), "bench.footprint.%ld.%u", (long)getpid(), i);
        if (open[i])
            mbx_close(open[i]);
        mbx_unlink(name);
    }
    free(open);
    return rc;
}

/* Creates the cell's mailboxes with `capacity` slots (0: the default). */
static int setup_with(struct chan *c, uint32_t capacity, char *why, size_t whylen)
{
    struct mbxb_priv *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    c->priv = s;
    mbx_attr attr;
    mbx_attr_init(&attr);
    attr.max_msg_size = c->p.size;
    if (capacity)
        attr.capacity = capacity;
    int n = c->p.pattern == PATTERN_PINGPONG ? 2 : 1;
    for (int i = 0; i < n; i++) {
        char name[96];
        snprintf(name, sizeof(name), "bench.%s.%d", c->p.tag, i);
        mbx *m;
        int rc = mbx_open(name, MBX_CREATE | MBX_EXCL | MBX_SEND, &attr, &m);
        if (rc < 0) {
            snprintf(why, whylen, "mbx_open: %s", mbx_strerror(rc));
            return rc;
        }
        mbx_close(m);
        snprintf(s->name[i], sizeof(s->name[i]), "%s", name);
    }
    return 0;
}

int mbxb_setup(struct chan *c, char *why, size_t whylen)
{
    return setup_with(c, 0, why, whylen);
}

/* As much buffer as a pipe has (64 KiB), in messages of the cell's size,
 * between the default capacity (64) and a ring's largest (1024): many
 * senders into one receiver need room to run ahead, as they have in a pipe. */
static int setup_deep(struct chan *c, char *why, size_t whylen)
{
    size_t n = (64 * 1024) / (c->p.size ? c->p.size : 1);
    return setup_with(c, n < 64 ? 64 : n > 1024 ? 1024 : (uint32_t)n, why, whylen);
}

/* The default mailboxes, with another program keeping a CPU busy the
 * while: a busy loop at nice 10 (a background job), which dies with the
 * benchmark. */
static int setup_busy(struct chan *c, char *why, size_t whylen)
{
    int rc = setup_with(c, 0, why, whylen);
    if (rc < 0)
        return rc;
    struct mbxb_priv *s = c->priv;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(0);
        if (nice(10) < 0)
            _exit(1);
        for (volatile unsigned long n = 0;; n++)
            ;
    }
    s->busy = pid;
    return 0;
}

static int open_set(const char *name, int flags, int64_t spin, mbx **out)
{
    int rc = mbx_open(name, flags, NULL, out);
    if (rc == 0 && spin != MBXB_SPIN_DEFAULT)
        rc = mbx_set_spin(*out, spin);
    return rc;
}

int mbxb_attach(struct chan *c, enum mech_role role, int index)
{
    (void)index;
    struct mbxb_priv *s = c->priv;
    int64_t spin = c->mech->variant;
    bool init = role == ROLE_INITIATOR;
    int rc = open_set(s->name[0], init ? MBX_SEND : MBX_RECV, spin, init ? &s->out : &s->in);
    if (rc == 0 && s->name[1][0])
        rc = open_set(s->name[1], init ? MBX_RECV : MBX_SEND, spin, init ? &s->in : &s->out);
    return rc;
}

void mbxb_detach(struct chan *c)
{
    struct mbxb_priv *s = c->priv;
    if (s->out)
        mbx_close(s->out);
    if (s->in)
        mbx_close(s->in);
    s->out = s->in = NULL;
}

static int mbxc_send(struct chan *c, void *buf, size_t len)
{
    struct mbxb_priv *s = c->priv;
    return mbx_send(s->out, buf, len, 0, MBX_FOREVER);
}

static ssize_t mbxc_recv(struct chan *c, void *buf, size_t len)
{
    struct mbxb_priv *s = c->priv;
    ssize_t n = mbx_recv(s->in, buf, len, NULL, MBX_FOREVER);
    return n < 0 || (size_t)n == len ? n : -EPROTO;
}

static int mbxc_ping(struct chan *c, void *buf, size_t len)
{
    int rc = mbxc_send(c, buf, len);
    if (rc < 0)
        return rc;
    ssize_t n = mbxc_recv(c, buf, len);
    return n < 0 ? (int)n : 0;
}

static int mbxc_pong(struct chan *c, void *buf, size_t len)
{
    ssize_t n = mbxc_recv(c, buf, len);
    if (n < 0)
        return (int)n;
    return mbxc_send(c, buf, len);
}

#define MBX_ROW(ident, row, shown, spin, fan, make, text)                                          \
    const struct mech ident = {                                                                    \
        .name = row,                                                                               \
        .label = shown,                                                                            \
        .about = text,                                                                             \
        .variant = spin,                                                                           \
        .fanin = fan,                                                                              \
        .kernel = false,                                                                           \
        .setup = make,                                                                             \
        .attach = mbxb_attach,                                                                     \
        .ping = mbxc_ping,                                                                         \
        .pong = mbxc_pong,                                                                         \
        .send = mbxc_send,                                                                         \
        .recv = mbxc_recv,                                                                         \
        .detach = mbxb_detach,                                                                     \
        .teardown = mbxb_teardown,                                                                 \
    }

MBX_ROW(mech_mbx, "mbx", NULL, MBXB_SPIN_DEFAULT, FANIN_YES, mbxb_setup,
        "mbx_send/mbx_recv, default wait (spin briefly, then sleep on a futex)");
MBX_ROW(mech_mbx_deep, "mbx-deep", "mbx (deep)", MBXB_SPIN_DEFAULT, FANIN_YES, setup_deep,
        "mbx_send/mbx_recv, default wait, capacity for a pipe's 64 KiB (1024 x 64 B)");
MBX_ROW(mech_mbx_sleep, "mbx-sleep", "mbx (sleep)", 0, FANIN_FULL_ONLY, mbxb_setup,
        "mbx_send/mbx_recv, always sleep at once (mbx_set_spin 0)");
MBX_ROW(mech_mbx_busy, "mbx-busy", "mbx (busy CPU beside)", MBXB_SPIN_DEFAULT, FANIN_FULL_ONLY,
        setup_busy,
        "mbx_send/mbx_recv, default wait, while a busy loop at nice 10 (a background job) "
        "keeps a CPU busy");
MBX_ROW(mech_mbx_spin, "mbx-spin", "mbx (spin)", MBX_FOREVER, FANIN_FULL_ONLY, mbxb_setup,
        "mbx_send/mbx_recv, always spin (mbx_set_spin MBX_FOREVER)");

/* Request/reply: the initiator's mbx_call on the first mailbox, answered by
 * the responder's mbx_recv and mbx_reply (the reply goes to the caller's
 * @PID mailbox; the second mailbox is not used). One-way: confirmed sends,
 * each returning once the receiver has taken its message. */
static int call_ping(struct chan *c, void *buf, size_t len)
{
    struct mbxb_priv *s = c->priv;
    ssize_t n = mbx_call(s->out, buf, len, 0, buf, len, MBX_FOREVER);
    return n < 0 ? (int)n : (size_t)n == len ? 0 : -EPROTO;
}

static int call_pong(struct chan *c, void *buf, size_t len)
{
    struct mbxb_priv *s = c->priv;
    mbx_msginfo info;
    ssize_t n = mbx_recv(s->in, buf, len, &info, MBX_FOREVER);
    if (n < 0)
        return (int)n;
    return (size_t)n == len ? mbx_reply(&info, buf, len) : -EPROTO;
}

static int confirmed_send(struct chan *c, void *buf, size_t len)
{
    struct mbxb_priv *s = c->priv;
    mbx_receipt who;
    return mbx_send_confirmed(s->out, buf, len, 0, MBX_FOREVER, &who);
}

const struct mech mech_mbx_call = {
    .name = "mbx-call",
    .label = "mbx (call)",
    .about = "request/reply: mbx_call, answered by mbx_recv and mbx_reply; one-way: "
             "mbx_send_confirmed (each send returns once the receiver took it)",
    .variant = MBXB_SPIN_DEFAULT,
    .fanin = FANIN_NO,
    .kernel = false,
    .setup = mbxb_setup,
    .attach = mbxb_attach,
    .ping = call_ping,
    .pong = call_pong,
    .send = confirmed_send,
    .recv = mbxc_recv,
    .detach = mbxb_detach,
    .teardown = mbxb_teardown,
};
