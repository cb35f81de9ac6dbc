/* The tcp:// gateway's journal of held messages: a message the gateway
 * took out of a mailbox for a remote receiver is also kept in a small file
 * beside the mailboxes until its client has it (or it went back), so that
 * a gateway killed meanwhile (kill -9) does not lose it: the next gateway
 * started on the same MBX_DIR, as the same user, puts it back.
 *
 * Files, in $MBX_DIR (name_dir()), the user's own, mode 0600:
 *   .mbx-held.PID.lock  one per process that writes journals, held with a
 *                       shared flock for the process's life: it is alive
 *                       (its forked children let go of it at once);
 *   .mbx-held.PID.N     one per session, empty while it holds nothing,
 *                       else its held message: "MBXHELD1", then (host
 *                       order) u32 name length, u32 priority, u64 type,
 *                       u64 payload size, the mailbox's name (no NUL), the
 *                       payload. Its size is exactly that.
 * A journal is taken by a recovering gateway only when its writer is gone
 * (the pid in its name names no process and nobody holds the pid's lock
 * file: a live writer in another pid namespace holds it), and only if it
 * is a regular file of our user with one link whose contents check out;
 * anything else is left where it is. */
#ifndef MBX_TCP_HELD_JOURNAL_H
#define MBX_TCP_HELD_JOURNAL_H

#include <stdint.h>

/* The largest payload a journal may say it holds (a bound on what a
 * recovering gateway reads). */
#define HELD_JOURNAL_PAYLOAD_MAX (1ull << 30)

/* Makes a session's journal file, empty (O_EXCL | O_NOFOLLOW, mode
 * 0600), kept open on *fd for the session's life: each message it holds
 * is written into it once taken (held_journal_fill: one write, the only
 * moment a kill still loses it), and it is emptied when the message goes
 * (held_journal_clear). An empty journal holds nothing: a recovering
 * gateway removes it. Returns its path, newly allocated, or NULL (*fd -1)
 * when it cannot be made (a full file system, no descriptor, no memory):
 * the session's messages are then held in memory only, as before
 * journals. */
char *held_journal_make(int *fd);

/* Writes the held message of mailbox `box` into the empty journal fd.
 * Returns 0, or -errno with the journal left empty (the message is held
 * in memory only). */
int held_journal_fill(int fd, const char *box, uint32_t priority, uint64_t type, const void *data,
                      uint64_t size);

/* Empties journal fd: its message was delivered, put back or dropped.
 * Never fails. */
void held_journal_clear(int fd);

/* Removes a journal when its session ends (its descriptor closed by the
 * caller) and frees path. NULL: nothing. Never fails. */
void held_journal_remove(char *path);

/* Puts back into their mailboxes (same priority and type) the messages
 * held by gateways that died, then removes their journals; a journal
 * whose mailbox is gone is removed, one whose mailbox is full is left
 * for a later try (held_journal_again). Then makes this process's lock file (once per
 * process). Best effort. Returns how many messages were put back. */
unsigned held_journal_recover(void);

/* Returns 1 when the last recovery left a journal because its mailbox was
 * full: a running gateway calls held_journal_recover again (about once a
 * second) until none is left so. */
int held_journal_again(void);

#endif
