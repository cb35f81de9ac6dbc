/* What a JetStream import delivered, kept in a small file beside the
 * mailboxes so that it outlives a kill -9 of the bridge: the stream
 * sequence numbers of the last JSSTATE_SEEN messages delivered, and the
 * delivery under way (its sequence, and the mailbox's sent_total before
 * it). A message the stream sends again (its ack was lost with the
 * bridge or a NATS node) whose sequence is there is acknowledged and not
 * delivered twice. One file per import; one writer (the bridge holding
 * the import's delivery lock). */
#ifndef MBX_NATS_JSSTATE_H
#define MBX_NATS_JSSTATE_H

#include <stdint.h>

#define JSSTATE_SEEN 4096

struct jsstate;

/* Opens (creating) the state file of stream `stream` in the mailboxes'
 * directory ($MBX_DIR, default /dev/shm): ".mbx-bridge.STREAM.state".
 * When the last run died during a delivery, the delivery is taken as done
 * iff the mailbox's sent_total (now: sent_now) went past what it was
 * before it. Returns 0 with *out set, or -errno. */
int jsstate_open(const char *stream, uint64_t sent_now, struct jsstate **out);

/* 1 when stream sequence seq was delivered, else 0. */
int jsstate_seen(const struct jsstate *st, uint64_t seq);

/* Records that seq is about to be delivered, the mailbox's sent_total
 * being sent_before. */
void jsstate_begin(struct jsstate *st, uint64_t seq, uint64_t sent_before);

/* Records that the delivery begun is done (delivered: 1) or given up (0). */
void jsstate_end(struct jsstate *st, int delivered);

void jsstate_close(struct jsstate *st);

#endif
