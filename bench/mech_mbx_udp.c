/* mbx over udp://: the responder is a server process that runs a UDP
 * gateway (mbx_udp_gateway_start on 127.0.0.1, an ephemeral port) into a
 * mailbox it receives from locally; the initiator opens
 * "udp://127.0.0.1:PORT/NAME" with MBX_UDP_BYPASS=0 (the gateway is on
 * this machine: without it the library would write the mailbox directly).
 * One way only (mech.lossy): the sender's mbx_send returns once the
 * kernel has the datagram, and what the gateway's socket or the mailbox
 * (64 messages) cannot hold is lost and counted.
 *
 * Both sides prove a shared secret: a file of the run's private directory,
 * named by MBX_SECRET_FILE, set by the parent before it forks. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "board.h"
#include "mech_mbx.h"

struct mbxu_priv {
    char name[96];
    char secret[PATH_MAX];
    struct board *board; /* the port; the client's goodbye */
    mbx *h;
    mbx_udp_gateway *gw;
};

static void mbxu_teardown(struct chan *c)
{
    struct mbxu_priv *s = c->priv;
    if (!s)
        return;
    if (s->name[0])
        mbx_unlink(s->name);
    board_free(s->board);
    free(s);
    c->priv = NULL;
}

static int mbxu_setup(struct chan *c, char *why, size_t whylen)
{
    char name[96];
    snprintf(name, sizeof(name), "bench.%s", c->p.tag);
    if (c->p.size > MBX_UDP_PAYLOAD_MAX(strlen(name))) {
        snprintf(why, whylen, "a udp:// message carries at most %u bytes",
                 MBX_UDP_PAYLOAD_MAX(strlen(name)));
        return -EMSGSIZE;
    }
    struct mbxu_priv *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    c->priv = s;
    s->board = board_new();
    if (!s->board)
        return -ENOMEM;
    snprintf(s->secret, sizeof(s->secret), "%s/mbx-secret", c->p.dir);
    int fd = open(s->secret, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
        unsigned char key[32];
        int ok = getrandom(key, sizeof(key), 0) == (ssize_t)sizeof(key) &&
                 write(fd, key, sizeof(key)) == (ssize_t)sizeof(key);
        close(fd);
        if (!ok) {
            unlink(s->secret);
            snprintf(why, whylen, "secret file %s: cannot write it", s->secret);
            return -EIO;
        }
    } else if (errno != EEXIST) {
        snprintf(why, whylen, "secret file %s: %s", s->secret, mbx_strerror(-errno));
        return -errno;
    }
    setenv("MBX_SECRET_FILE", s->secret, 1);
    mbx_attr attr;
    mbx_attr_init(&attr);
    attr.max_msg_size = c->p.size;
    mbx *m;
    int rc = mbx_open(name, MBX_CREATE | MBX_EXCL | MBX_SEND, &attr, &m);
    if (rc < 0) {
        snprintf(why, whylen, "mbx_open: %s", mbx_strerror(rc));
        return rc;
    }
    mbx_close(m);
    snprintf(s->name, sizeof(s->name), "%s", name);
    return 0;
}

static int mbxu_attach(struct chan *c, enum mech_role role, int index)
{
    (void)index;
    struct mbxu_priv *s = c->priv;
    if (role == ROLE_INITIATOR) {
        char port[16], url[160];
        int rc = board_wait(s->board, port, sizeof(port), 5000000000);
        if (rc < 0)
            return rc;
        snprintf(url, sizeof(url), "udp://127.0.0.1:%s/%s", port, s->name);
        setenv("MBX_UDP_BYPASS", "0", 1);
        return mbx_open(url, MBX_SEND, NULL, &s->h);
    }
    int rc = mbx_open(s->name, MBX_RECV, NULL, &s->h);
    if (rc < 0)
        return rc;
    static const char *const allow[] = {"*", NULL};
    mbx_gateway_options o;
    mbx_gateway_options_init(&o);
    o.secret_file = s->secret;
    o.allow = allow;
    rc = mbx_udp_gateway_start("127.0.0.1:0", &o, &s->gw);
    if (rc < 0)
        return rc;
    char port[16];
    snprintf(port, sizeof(port), "%d", mbx_udp_gateway_port(s->gw));
    board_post(s->board, port);
    return 0;
}

static void mbxu_detach(struct chan *c)
{
    struct mbxu_priv *s = c->priv;
    if (!s->gw) {
        if (s->h)
            mbx_close(s->h);
        s->h = NULL;
        board_done(s->board);
        return;
    }
    board_wait_done(s->board, 2000000000);
    mbx_udp_gateway_stop(s->gw);
    s->gw = NULL;
    if (s->h)
        mbx_close(s->h);
    s->h = NULL;
}

static int mbxu_send(struct chan *c, void *buf, size_t len)
{
    struct mbxu_priv *s = c->priv;
    return mbx_send(s->h, buf, len, 0, MBX_FOREVER);
}

static ssize_t mbxu_recv(struct chan *c, void *buf, size_t len)
{
    struct mbxu_priv *s = c->priv;
    ssize_t n = mbx_recv(s->h, buf, len, NULL, MBX_FOREVER);
    return n < 0 || (size_t)n == len ? n : -EPROTO;
}

/* Never called: a lossy row measures no round trip. */
static int mbxu_no_rtt(struct chan *c, void *buf, size_t len)
{
    (void)c, (void)buf, (void)len;
    return -ENOTSUP;
}

const struct mech mech_mbx_udp = {
    .name = "mbx-udp",
    .label = "mbx (udp://)",
    .about = "mbx over udp://127.0.0.1 through a UDP gateway in the server process "
             "(MBX_UDP_BYPASS=0), one way: mbx_send from the client, local mbx_recv in the "
             "server; what the gateway drops (full socket or mailbox) is lost and counted",
    .fanin = FANIN_NO,
    .kernel = false,
    .quick_64b_only = true,
    .lossy = true,
    .setup = mbxu_setup,
    .attach = mbxu_attach,
    .ping = mbxu_no_rtt,
    .pong = mbxu_no_rtt,
    .send = mbxu_send,
    .recv = mbxu_recv,
    .detach = mbxu_detach,
    .teardown = mbxu_teardown,
};
