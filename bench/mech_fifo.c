/* Named pipes (FIFOs) in the private temporary directory, one per direction.
 * The same data path as a pipe; the row shows what opening by name adds
 * (nothing per message, which is the point). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdio.h"
#include "mech.h"

struct fifo_priv {
    char fwd[PATH_MAX]; /* initiator -> responder */
    char back[PATH_MAX];
    int out, in;
};

static void fifo_teardown(struct chan *c)
{
    struct fifo_priv *s = c->priv;
    if (!s)
        return;
    if (s->fwd[0])
        unlink(s->fwd);
    if (s->back[0])
        unlink(s->back);
    free(s);
    c->priv = NULL;
}

static int fifo_setup(struct chan *c, char *why, size_t whylen)
{
    (void)why;
    (void)whylen;
    struct fifo_priv *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->out = s->in = -1;
    c->priv = s;
    snprintf(s->fwd, sizeof(s->fwd), "%s/fifo.%s.fwd", c->p.dir, c->p.tag);
    if (mkfifo(s->fwd, 0600) < 0) {
        s->fwd[0] = '\0';
        return -errno;
    }
    if (c->p.pattern == PATTERN_ONEWAY)
        return 0;
    snprintf(s->back, sizeof(s->back), "%s/fifo.%s.back", c->p.dir, c->p.tag);
    if (mkfifo(s->back, 0600) < 0) {
        s->back[0] = '\0';
        return -errno;
    }
    return 0;
}

/* Opening a FIFO blocks until the other end opens it too, so both sides open
 * the forward FIFO first and the backward one second: no deadlock. */
static int fifo_attach(struct chan *c, enum mech_role role, int index)
{
    (void)index;
    struct fifo_priv *s = c->priv;
    bool init = role == ROLE_INITIATOR;
    int *fwd_end = init ? &s->out : &s->in;
    *fwd_end = open(s->fwd, init ? O_WRONLY : O_RDONLY);
    if (*fwd_end < 0)
        return -errno;
    if (!s->back[0])
        return 0;
    int *back_end = init ? &s->in : &s->out;
    *back_end = open(s->back, init ? O_RDONLY : O_WRONLY);
    return *back_end < 0 ? -errno : 0;
}

static int fifo_send(struct chan *c, void *buf, size_t len)
{
    struct fifo_priv *s = c->priv;
    return fd_write_full(s->out, buf, len);
}

static ssize_t fifo_recv(struct chan *c, void *buf, size_t len)
{
    struct fifo_priv *s = c->priv;
    return fd_read_full(s->in, buf, len);
}

static int fifo_ping(struct chan *c, void *buf, size_t len)
{
    int rc = fifo_send(c, buf, len);
    if (rc < 0)
        return rc;
    ssize_t n = fifo_recv(c, buf, len);
    return n < 0 ? (int)n : 0;
}

static int fifo_pong(struct chan *c, void *buf, size_t len)
{
    ssize_t n = fifo_recv(c, buf, len);
    if (n < 0)
        return (int)n;
    return fifo_send(c, buf, len);
}

static void fifo_detach(struct chan *c)
{
    struct fifo_priv *s = c->priv;
    fd_close(&s->out);
    fd_close(&s->in);
}

const struct mech mech_fifo = {
    .name = "fifo",
    .about = "named pipe (mkfifo) per direction",
    .fanin = FANIN_NO,
    .kernel = true,
    .setup = fifo_setup,
    .attach = fifo_attach,
    .ping = fifo_ping,
    .pong = fifo_pong,
    .send = fifo_send,
    .recv = fifo_recv,
    .detach = fifo_detach,
    .teardown = fifo_teardown,
};
