/* What a JetStream import delivered, kept in a small file beside the
 * mailboxes so that it outlives a kill -9 of the bridge: the stream
 * sequence numbers of the last JSSTATE_SEEN messages delivered, those
 * delivered whose ack the stream has not confirmed (kept until it does,
 * however many others come meanwhile), the delivery under way (its
 * sequence, and the mailbox's sent_total before it) and which life of the
 * stream (its creation time) the numbers are of. A message the stream
 * sends again (its ack was lost with the bridge or a NATS node) whose
 * sequence is there is acknowledged and not delivered twice. One file per
 * import; one writer of the ring and the intent (the bridge holding the
 * import's delivery lock); the unacked table is shared by the import's
 * band threads under a lock of the process. */
#ifndef MBX_NATS_JSSTATE_H
#define MBX_NATS_JSSTATE_H

#include <stdint.h>

#define JSSTATE_SEEN 4096
/* Delivered, ack not confirmed: the stream lets each band's consumer have
 * 1024 unacked (bridge_import.c), 4 bands; twice that for acks that
 * reached the stream but whose confirmation did not come back. */
#define JSSTATE_UNACKED 8192

struct jsstate;

/* Opens (creating) the state file of stream `stream` in the mailboxes'
 * directory ($MBX_DIR, default /dev/shm): ".mbx-bridge.STREAM.state".
 * When the last run died during a delivery, the delivery is taken as done
 * iff the mailbox's sent_total (now: sent_now) went past what it was
 * before it by more than the request thread's sends can explain: exact for a heap mailbox (the kind
 * an import creates; mbx_stat_get repairs after a sender killed holding its lock); a ring counts a
 * few instructions after it publishes, so a kill in between makes the delivery happen twice.
 * Returns 0 with *out set, or -errno. */
int jsstate_open(const char *stream, uint64_t sent_now, struct jsstate **out);

/* Ties the record to the life of the stream created at `created` (ns
 * since the epoch; 0: not known, nothing done): a record of another life
 * (the stream was deleted and made again, its sequences start at 1 again)
 * is forgotten. Not during a delivery (jsstate_begin to jsstate_end); a
 * jsstate_seen meanwhile in another thread may answer of either life, so
 * its caller must not act on that answer (bridge_import.c: the batch is
 * stale). */
void jsstate_bind(struct jsstate *st, int64_t created);

/* 1 when stream sequence seq was delivered, else 0. */
int jsstate_seen(const struct jsstate *st, uint64_t seq);

/* The import's request thread's sends into the mailbox: the count of
 * those finished (read before the mailbox's sent_total for
 * jsstate_begin), one starting (before mbx_call or mbx_send_confirmed),
 * one finished (after it returned, whatever it returned). */
uint64_t jsstate_calls_done(const struct jsstate *st);
void jsstate_call_starts(struct jsstate *st);
void jsstate_call_done(struct jsstate *st);

/* Records that seq, fetched by consumer `consumer` (a band), is about to
 * be delivered, the mailbox's sent_total being sent_before, read after
 * jsstate_calls_done gave calls_done. */
void jsstate_begin(struct jsstate *st, uint64_t seq, unsigned consumer, uint64_t sent_before,
                   uint64_t calls_done);

/* Records that the delivery begun is done (delivered: 1; its ack not yet
 * confirmed) or given up (0). */
void jsstate_end(struct jsstate *st, int delivered);

/* The stream confirmed the ack of seq: it will not send it again. */
void jsstate_acked(struct jsstate *st, uint64_t seq);

/* Free places in the unacked table (when 0, the next delivery forgets the
 * oldest: call jsstate_prune first). */
unsigned jsstate_room(struct jsstate *st);

/* Forgets the unacked of consumer `consumer` at or below floor, its ack
 * floor (what the stream says it had acked in full). */
void jsstate_prune(struct jsstate *st, unsigned consumer, uint64_t floor);

void jsstate_close(struct jsstate *st);

#endif
