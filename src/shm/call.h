/* Request/reply: mbx_call and mbx_reply.
 *
 * A call's token is the caller's pid (high 32 bits) and 31 bits that differ
 * per call; the reply carries the same token with REPLY_BIT set and goes to
 * the caller's own mailbox "@PID", where the caller takes exactly that
 * message. While it waits, the call occupies a slot in its own mailbox's
 * header (a reply to a caller that gave up finds none: -ESRCH) and a
 * receipt in the called mailbox, where the receiver that takes the request
 * writes itself (receipts.h), so the caller can tell when that taker dies
 * (-EPIPE). Nothing a message says makes a receiver open or write another
 * mailbox: only mbx_reply, asked for by the application, opens the
 * caller's.
 */
#ifndef MBX_CALL_H
#define MBX_CALL_H

#include "shm/receipts.h"
#include "shm/shm.h"

/* A new token: this process's pid (high 32 bits) and 31 bits that differ
 * per call and are hard to guess; bit 31 is 0. Never fails. */
uint64_t call_new_token(void);

/* mbx_call and mbx_reply on local mailboxes, as mbx.h says (arguments
 * checked by the core). */
ssize_t shm_call(struct mbx *m, const void *req, size_t len, unsigned prio, void *reply, size_t cap,
                 int64_t timeout_ns);
int shm_reply(const mbx_msginfo *request, const void *buf, size_t len);

/* mbx_send_confirmed on a local mailbox (confirm.c), arguments checked by
 * the core. */
int shm_send_confirmed(struct mbx *m, const void *buf, size_t len, unsigned prio,
                       int64_t timeout_ns, mbx_receipt *who);

/* Answers a request with an error instead of a reply: the caller's
 * mbx_call returns err (-1 .. -65535). The reply is an empty message whose
 * type says so (REPLY_ERR_TYPE); mbx_reply always sends type 0, so no
 * reply a server sends can be taken for one. Returns what shm_reply
 * returns, or -EINVAL for err out of range. */
#define REPLY_ERR_TYPE 0x4d42584500000000ull /* "MBXE" */
#define REPLY_ERR_MASK 0xffffull
int shm_reply_error(const mbx_msginfo *request, int err);

#endif
