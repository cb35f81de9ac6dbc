/* mbx with loans: the sender fills a buffer inside the mailbox (mbx_loan,
 * mbx_send_loan) and the receiver reads it in place (mbx_recv_loan,
 * mbx_release). Zero copy means the payload is produced where it lies, so
 * these functions touch only the harness's header bytes. */
#include <errno.h>
#include <sched.h>
#include <string.h>

#include "mech_mbx.h"

static int loan_send(struct chan *c, void *buf, size_t len)
{
    struct mbxb_priv *s = c->priv;
    void *p;
    int rc;
    /* mbx_loan never waits: a full ring mailbox has no slot to lend yet. */
    while ((rc = mbx_loan(s->out, len, &p)) == -EAGAIN)
        sched_yield();
    if (rc < 0)
        return rc;
    memcpy(p, buf, MECH_HDR_BYTES);
    return mbx_send_loan(s->out, p, len, 0, MBX_FOREVER);
}

static ssize_t loan_recv(struct chan *c, void *buf, size_t len)
{
    struct mbxb_priv *s = c->priv;
    const void *p;
    ssize_t n = mbx_recv_loan(s->in, &p, NULL, MBX_FOREVER);
    if (n < 0)
        return n;
    if ((size_t)n == len)
        memcpy(buf, p, MECH_HDR_BYTES);
    int rc = mbx_release(s->in, p);
    if (rc < 0)
        return rc;
    return (size_t)n == len ? n : -EPROTO;
}

static int loan_ping(struct chan *c, void *buf, size_t len)
{
    int rc = loan_send(c, buf, len);
    if (rc < 0)
        return rc;
    ssize_t n = loan_recv(c, buf, len);
    return n < 0 ? (int)n : 0;
}

static int loan_pong(struct chan *c, void *buf, size_t len)
{
    ssize_t n = loan_recv(c, buf, len);
    if (n < 0)
        return (int)n;
    return loan_send(c, buf, len);
}

const struct mech mech_mbx_loan = {
    .name = "mbx-loan",
    .label = "mbx (loan)",
    .about = "mbx_loan/mbx_send_loan/mbx_recv_loan/mbx_release, default wait",
    .variant = MBXB_SPIN_DEFAULT,
    .fanin = FANIN_YES,
    .kernel = false,
    .nosys_note = "loans not implemented yet",
    .zero_copy = true,
    .setup = mbxb_setup,
    .attach = mbxb_attach,
    .ping = loan_ping,
    .pong = loan_pong,
    .send = loan_send,
    .recv = loan_recv,
    .detach = mbxb_detach,
    .teardown = mbxb_teardown,
};
