/* Mailboxes whose messages live in arena blocks ordered by priority FIFOs,
 * guarded by the robust lock: any size, any capacity, any priority mix. */
#ifndef MBX_HEAP_QUEUE_H
#define MBX_HEAP_QUEUE_H

#include "mailbox.h"

/* As mb_send, for a heap mailbox. */
int heap_send(const struct mb_ctx *c, const void *buf, size_t len, unsigned prio,
              int64_t timeout_ns);

/* As mb_recv, for a heap mailbox. */
ssize_t heap_recv(const struct mb_ctx *c, pid_t from, void *buf, size_t cap, mbx_msginfo *info,
                  int64_t timeout_ns);

#endif
