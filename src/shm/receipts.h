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

#include "shm/segment.h"

/* A reply carries its call's token with this bit set. */
#define REPLY_BIT (1ull << 63)

/* Records a call with token `token` by process `caller` in mailbox s.
 * Returns the entry's index, or -1 when every entry is in use by a live
 * caller (the call then goes without a receipt). */
int receipt_open(const struct seg *s, uint64_t token, uint64_t caller);

/* After taking a message carrying token (not a reply): records process
 * `taker` as the taker of that call, if the call has a receipt here. */
void receipt_taken(const struct seg *s, uint64_t token, uint64_t taker);

/* The taker recorded in entry i for token (0: nobody yet, or the entry no
 * longer holds token). */
uint64_t receipt_taker(const struct seg *s, int i, uint64_t token);

/* Ends the receipt of entry i for token. */
void receipt_close(const struct seg *s, int i, uint64_t token);

#endif
