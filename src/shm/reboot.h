/* Durable mailboxes outlive the machine's boot. Everything a mailbox records
 * about processes (the lock's owner, sleepers, slots and blocks in use,
 * tickets) then belongs to processes that are all gone, while their pids
 * may already name new ones. Each mailbox remembers the boot it was last
 * used in; the first open in a new boot clears that state. */
#ifndef MBX_REBOOT_H
#define MBX_REBOOT_H

#include "shm/segment.h"

/* Records the current boot in a new mailbox. */
void reboot_stamp(struct seg *s);

/* At open: if the mailbox was last used in another boot, resets its process
 * state (under an exclusive flock on fd, so one opener does it) and records
 * this boot. Returns 0 or -EUCLEAN when the mailbox cannot be repaired. */
int reboot_check(struct seg *s, int fd);

/* Whether this thread's reboot_check waits for another opener's reset:
 * after reboot_nowait(1) it tries the flock once and returns -ETIMEDOUT
 * at once when someone else holds it; reboot_nowait(0) (every thread's
 * start) waits up to SEG_CALL_BOUND_NS, as always. For a thread that
 * serves many mailboxes alone (the udp:// gateway's): a peer of one of
 * them may hold its flock as long as it likes, and each wait took the
 * thread from all the others. Returns this thread's setting before the
 * call (1 or 0), for a caller that sets it for a while to put back.
 * Cannot fail. */
int reboot_nowait(int on);

#endif
