/* The logical mailbox: send and receive, dispatched to the queue kind the
 * mailbox was created with. */
#ifndef MBX_MAILBOX_H
#define MBX_MAILBOX_H

#include "platform/platform.h"
#include "shm/segment.h"
#include "shm/sync.h"

#include <sys/types.h>

struct mbx;

/* What one call needs besides its arguments. */
struct mb_ctx {
    struct seg *s;
    struct mbx *handle; /* the handle the call came through */
    struct sync_wait_cfg wait;
    int32_t pid; /* caller's pid and uid, recorded in what it sends */
    uint32_t uid;
    ident_t who; /* caller's process identity (pid and start time) */
    /* Called whenever a wait wakes (by a wake-up or when a capped sleep of
     * wait.poll_ns ends): returns 0 to go on waiting, or a negative error
     * that ends the call (e.g. -EIDRM once a mailbox's owner died). NULL:
     * nothing to check. */
    int (*poll)(const struct mb_ctx *c);
    void *poll_arg; /* for the poll hook */
    /* Request/reply (#3). send: stored with the message and reported as
     * mbx_msginfo.reply_token. recv: when nonzero, take only the message
     * carrying this token (the from filter is then ignored). */
    uint64_t reply_token;
    uint64_t want_token;
};

/* Queues a copy of buf. Arguments are already checked. Returns 0, -EAGAIN,
 * -ETIMEDOUT, -EINTR, -ENOSPC, -EIDRM or -EUCLEAN. */
int mb_send(const struct mb_ctx *c, const void *buf, size_t len, unsigned prio, int64_t timeout_ns);

/* Takes the next message (from process `from` only, when from > 0) into buf
 * and returns its size, or -EMSGSIZE (info->size says the room it needs),
 * -EAGAIN, -ETIMEDOUT, -EINTR, -EIDRM, -EUCLEAN. */
ssize_t mb_recv(const struct mb_ctx *c, pid_t from, void *buf, size_t cap, mbx_msginfo *info,
                int64_t timeout_ns);

/* Takes what a new handle with these open flags holds in the mailbox (a
 * stream's send and receive rights). Returns 0 or -EBUSY. */
int mb_open(const struct mb_ctx *c, int flags);

/* Gives back what mb_open took for a handle opened with flags. */
void mb_close(const struct mb_ctx *c, int flags);

#endif
