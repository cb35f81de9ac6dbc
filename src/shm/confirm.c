/* Confirmed sends (mbx_send_confirmed): a send that returns once a
 * receiver took the message, naming it.
 *
 * Built on the receipts of calls (receipts.h): the sender records a token
 * with CONFIRM_BIT in the mailbox's receipt table, sends the message with
 * that token, and sleeps on the entry; the receiver that takes the message
 * writes itself (and its uid) into the entry while it still holds the
 * slot or block, and wakes the sender only when it sleeps. So a receiver
 * pays one more store (and a system call only for a sleeping sender), and
 * nothing but the mailbox it receives from is touched. A sender that gives
 * up takes the message back with the kind's withdraw, exactly as a call
 * whose request nobody took.
 */
#include "core/cancel.h"
#include "shm/call.h"
#include "shm/owner.h"
#include "shm/poller.h"
#include "shm/receipts.h"
#include "shm/recv_right.h"
#include "shm/shm.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#define POLL_NS  20000000ll /* how often a waiting sender looks at removal and close */
#define GRACE_NS 50000000ll /* how long a receiver in mid-take may take to sign */
#define RETRY_NS 1000000l   /* wait between attempts while every receipt is in use */

/* A receipt entry for token, waiting while every entry is in use by live
 * callers. Returns its index, or -EAGAIN / -ETIMEDOUT when time is up. */
static int open_receipt(struct seg *s, uint64_t token, int64_t timeout_ns, int64_t deadline)
{
    for (;;) {
        int i = receipt_open(s, token, ident_self());
        if (i >= 0)
            return i;
        if (clock_remaining(deadline) == 0)
            return timeout_ns == MBX_NONBLOCK ? -EAGAIN : -ETIMEDOUT;
        nanosleep(&(struct timespec){0, RETRY_NS}, NULL);
    }
}

/* Waits for the taker until the deadline. Returns 0 with *taker set, or
 * why the wait ended without one. */
static int await_taker(struct shm_box *b, int i, uint64_t token, int64_t timeout_ns,
                       int64_t deadline, uint64_t *taker)
{
    for (;;) {
        int64_t left = clock_remaining(deadline);
        int r = receipt_wait(&b->seg, i, token, left < 0 || left > POLL_NS ? POLL_NS : left, taker);
        if (*taker)
            return 0;
        if (r)
            return r;
        if (__atomic_load_n(&b->base.closing, __ATOMIC_SEQ_CST))
            return -EBADF;
        if (cancel_asked())
            return -ECANCELED; /* as a timeout: taken back unless taken */
        if (seg_removed(&b->seg))
            return -EIDRM;
        if (clock_remaining(deadline) == 0)
            return timeout_ns == MBX_NONBLOCK ? -EAGAIN : -ETIMEDOUT;
    }
}

/* The sender gave up with error why: takes the message back if nobody took
 * it. Returns why (taken back, never delivered), 0 with *taker set when a
 * receiver signed after all, or -EINPROGRESS when a receiver still holds it
 * half taken after the grace time (alive but slow, or stopped). */
static int give_up(struct shm_box *b, const struct mb_ctx *c, int i, uint64_t token, int why,
                   uint64_t *taker)
{
    if (why == -EIDRM) /* the message went with the mailbox */
        return receipt_wait(&b->seg, i, token, 0, taker), *taker ? 0 : why;
    int64_t grace = clock_deadline(GRACE_NS);
    for (;;) {
        int w = b->seg.kind->withdraw(c, token);
        if (w == 0)
            return why;
        if (w != -ENOENT)
            return w;
        /* Gone from the queue: a receiver took it and signs at once, or is
         * between its take and its signature (or died there, and a repair
         * puts the message back for the next withdraw). */
        receipt_wait(&b->seg, i, token, RETRY_NS, taker);
        if (*taker)
            return 0;
        if (clock_remaining(grace) == 0)
            return -EINPROGRESS;
    }
}

int shm_send_confirmed(struct mbx *m, const void *buf, size_t len, unsigned prio,
                       int64_t timeout_ns, mbx_receipt *who)
{
    struct shm_box *b = shm_box_of(m);
    if (b->seg.stream || !b->seg.kind->withdraw)
        return -ENOTSUP; /* bytes are not messages anyone signs for */
    if (len > b->seg.max_msg_size)
        return -EMSGSIZE;
    int r = owner_send_check(b);
    if (!r)
        r = send_right_check(b);
    if (r)
        return r;
    int64_t deadline = clock_deadline(timeout_ns);
    uint64_t token = call_new_token() | CONFIRM_BIT;
    int i = open_receipt(&b->seg, token, timeout_ns, deadline);
    if (i < 0)
        return i;
    struct mb_ctx c = handle_ctx(b);
    c.reply_token = token;
    int64_t left = clock_remaining(deadline);
    r = mb_send(&c, buf, len, prio, left < 0 ? MBX_FOREVER : left);
    poller_after(b, SEG_POLL_SEND, r, len);
    if (r == -EAGAIN && timeout_ns != MBX_NONBLOCK)
        r = -ETIMEDOUT; /* the receipt took the time */
    uint64_t taker = 0;
    if (r == 0) {
        r = await_taker(b, i, token, timeout_ns, deadline, &taker);
        if (r)
            r = give_up(b, &c, i, token, r, &taker);
    }
    if (r == 0) {
        who->taker_pid = ident_id(taker);
        who->taker_uid = receipt_taker_uid(&b->seg, i);
        who->taker_host[0] = '\0';
    }
    receipt_close(&b->seg, i, token);
    return r;
}
