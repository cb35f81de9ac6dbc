/* Request/reply: mbx_call and mbx_reply.
 *
 * A call's token is the caller's pid (high 32 bits) and a per-process counter;
 * the reply carries the same token with REPLY_BIT set and goes to the
 * caller's own mailbox "@PID", where the caller takes exactly that message.
 * While it waits, the call occupies a slot in its own mailbox's header; the
 * process that receives the request writes itself into that slot, so the
 * caller can tell when the taker dies (-EPIPE) and a reply to a caller that
 * gave up finds no slot (-ESRCH).
 */
#ifndef MBX_CALL_H
#define MBX_CALL_H

#include "mbx.h"

#define REPLY_BIT (1ull << 63)

/* After a receive: when info carries a request's token, records this process
 * as the request's taker in the caller's mailbox. Best effort. */
void call_taken(const mbx_msginfo *info);

#endif
