/* Wake-ups sent later, for a poller that can hold no entry.
 *
 * A peer who may write a mailbox can fill all of its poller entries with
 * the ids of live processes. A poller left without an entry is told of no
 * change, so it must look by itself; made readable at every look, an event
 * loop waiting on it spun (level-triggered, every call said -EAGAIN). It
 * is instead made readable POLL_LATER_MS after it found nothing to do, by
 * a thread that exists only while such wake-ups are pending (and a second
 * after): at most
 * 1000 / POLL_LATER_MS spurious reports a second, and a message waits at
 * most that long to be reported, while the entries stay taken.
 */
#ifndef MBX_SHM_POLL_LATER_H
#define MBX_SHM_POLL_LATER_H

#define POLL_LATER_MS 50

/* Asks for one datagram to the socket at path (note_send) POLL_LATER_MS
 * from now; an earlier pending ask for the same path stands. Returns 0, or
 * -ENOMEM, -EAGAIN (no thread could be started): the caller should then
 * wake the socket itself at once. */
int poll_later(const char *path);

/* Forgets a pending ask for path (its poller is being closed). */
void poll_later_cancel(const char *path);

#endif
