/* Receipts: who took the request of a call (see struct seg_receipt).
 *
 * A call's caller records its token in the called mailbox before sending;
 * the receiver that takes the request writes itself beside the token, in
 * that same mailbox, while it still holds the message; the caller watches
 * the entry to learn when the taker dies (mbx_call's -EPIPE). A receiver
 * thus never opens, locks or writes any mailbox but the one it receives
 * from, whatever a message says. All lock-free; entries are untrusted.
 */
#ifndef MBX_RECEIPTS_H
#define MBX_RECEIPTS_H

#include "core/transport.h"
#include "shm/segment.h"

/* A reply carries its call's token with this bit set. */
#define REPLY_BIT (1ull << 63)

/* A confirmed send's token (mbx_send_confirmed) has this bit set: bit 31,
 * which a call's token never has (call.h), so a receiver cannot mistake
 * it for a call, and the core hides it from mbx_msginfo.reply_token. */
#define CONFIRM_BIT MBX_TOKEN_CONFIRM

/* Records a call with token `token` by process `caller` in mailbox s.
 * Returns the entry's index, or -1 when every entry is in use by a live
 * caller (the call then goes without a receipt). */
int receipt_open(const struct seg *s, uint64_t token, uint64_t caller);

/* After taking a message carrying token (not a reply): records process
 * `taker` (of user uid) as the taker of that call or confirmed send, if it
 * has a receipt here, and wakes a confirmed sender asleep on it. */
void receipt_taken(const struct seg *s, uint64_t token, uint64_t taker, uint32_t uid);

/* The taker recorded in entry i for token (0: nobody yet, or the entry no
 * longer holds token). */
uint64_t receipt_taker(const struct seg *s, int i, uint64_t token);

/* The uid recorded beside the taker of entry i (valid once
 * receipt_taker said nonzero). */
uint32_t receipt_taker_uid(const struct seg *s, int i);

/* Sleeps until entry i for token has a taker, at most timeout_ns (< 0: no
 * limit; the sleep may end early), and stores the taker in *taker (0: none
 * yet). Returns 0, or -EINTR when a signal handler ran. */
int receipt_wait(const struct seg *s, int i, uint64_t token, int64_t timeout_ns, uint64_t *taker);

/* Forgets taker as the taker of entry i for token (a taker that died
 * before its take was done: the request went back to the queue), unless
 * another has signed since. */
void receipt_untake(const struct seg *s, int i, uint64_t token, uint64_t taker);

/* Ends the receipt of entry i for token. */
void receipt_close(const struct seg *s, int i, uint64_t token);

#endif
