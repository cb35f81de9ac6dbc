/* Anonymous pipes: one per direction, made before fork. Writes of at most
 * PIPE_BUF bytes are atomic, which is what lets many 64-byte senders share one
 * pipe in the fan-in test. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "fdio.h"
#include "mech.h"

struct pipe_priv {
    int fwd[2]; /* initiator -> responder */
    int back[2];
    int out, in;
};

static void pipe_teardown(struct chan *c)
{
    struct pipe_priv *s = c->priv;
    if (!s)
        return;
    for (int i = 0; i < 2; i++) {
        fd_close(&s->fwd[i]);
        fd_close(&s->back[i]);
    }
    free(s);
    c->priv = NULL;
}

static int pipe_setup(struct chan *c, char *why, size_t whylen)
{
    (void)why;
    (void)whylen;
    struct pipe_priv *s = malloc(sizeof(*s));
    if (!s)
        return -ENOMEM;
    *s = (struct pipe_priv){{-1, -1}, {-1, -1}, -1, -1};
    c->priv = s;
    if (pipe(s->fwd) < 0)
        return -errno;
    if (c->p.pattern == PATTERN_PINGPONG && pipe(s->back) < 0)
        return -errno;
    return 0;
}

/* Closing the ends this side does not use turns a dead peer into EOF or EPIPE
 * here instead of a silent hang. */
static int pipe_attach(struct chan *c, enum mech_role role, int index)
{
    (void)index;
    struct pipe_priv *s = c->priv;
    if (role == ROLE_INITIATOR) {
        s->out = s->fwd[1];
        s->in = s->back[0];
        fd_close(&s->fwd[0]);
        fd_close(&s->back[1]);
    } else {
        s->in = s->fwd[0];
        s->out = s->back[1];
        fd_close(&s->fwd[1]);
        fd_close(&s->back[0]);
    }
    return 0;
}

static int pipe_send(struct chan *c, void *buf, size_t len)
{
    struct pipe_priv *s = c->priv;
    return fd_write_full(s->out, buf, len);
}

static ssize_t pipe_recv(struct chan *c, void *buf, size_t len)
{
    struct pipe_priv *s = c->priv;
    return fd_read_full(s->in, buf, len);
}

static int pipe_ping(struct chan *c, void *buf, size_t len)
{
    int rc = pipe_send(c, buf, len);
    if (rc < 0)
        return rc;
    ssize_t n = pipe_recv(c, buf, len);
    return n < 0 ? (int)n : 0;
}

static int pipe_pong(struct chan *c, void *buf, size_t len)
{
    ssize_t n = pipe_recv(c, buf, len);
    if (n < 0)
        return (int)n;
    return pipe_send(c, buf, len);
}

static void pipe_detach(struct chan *c)
{
    struct pipe_priv *s = c->priv;
    fd_close(&s->out);
    fd_close(&s->in);
}

const struct mech mech_pipe = {
    .name = "pipe",
    .about = "anonymous pipe per direction, read/write of whole messages",
    .fanin = FANIN_YES,
    .kernel = true,
    .setup = pipe_setup,
    .attach = pipe_attach,
    .ping = pipe_ping,
    .pong = pipe_pong,
    .send = pipe_send,
    .recv = pipe_recv,
    .detach = pipe_detach,
    .teardown = pipe_teardown,
};
