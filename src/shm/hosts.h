/* The hosts that remote senders' messages came from.
 *
 * A gateway (tcp://, udp://) delivers a remote sender's message itself, so
 * the message's sender_pid and sender_uid are the gateway's. Its
 * sender_host names the far host: 0 for a message sent on this machine,
 * else an id in the table of the gateway's process, a file in the
 * mailboxes' directory, ".mbx-hosts.PID" (PID: the gateway's, which is the
 * message's sender_pid). The table holds HOSTS_MAX hosts as text (the peer
 * address as the gateway saw it); when full, the oldest place is given to
 * the next host, and the ids of its former host stop resolving (each id
 * carries the generation of its place).
 *
 * Trust: the id is written into the mailbox by its sender, as the pid and
 * uid are, so it is a claim of whoever can write the mailbox (Threat
 * model); the table is used only when it is a regular file, one link,
 * owned by the message's sender_uid and writable by nobody else.
 *
 * Liveness: every receiver may read the table (mode 0644), so anyone may
 * lock it; what says its gateway is alive is ".mbx-hosts.PID.lock" beside
 * it, mode 0600, which the gateway holds locked (exclusively) while it
 * has the table, made before the table and removed after it. A table
 * marked so in its header (written whole, magic and mark at once) is
 * swept (by the next table its user makes) when its process is gone and
 * nobody holds that lock file; an unmarked one full size with the magic,
 * a previous build's (its table always was so while its gateway held it),
 * when nobody holds the table itself; any other, one whose gateway died
 * before its header, as a marked one (by its own lock, which any reader
 * may take, another user pinned it for good: found by a review).
 *
 * Not defended: the names are predictable, so in a directory others may
 * write (a sticky /dev/shm), another user who makes ".mbx-hosts.PID.lock"
 * (any kind of file) or ".mbx-hosts.PID" for the pid a gateway will get
 * leaves that gateway with no table while the plant stays: its senders'
 * hosts are unknown (HOSTS_UNKNOWN), nothing worse; tried again once a
 * second. A directory only the user may write (MBX_DIR) keeps it out. */
#ifndef MBX_SHM_HOSTS_H
#define MBX_SHM_HOSTS_H

#include <stddef.h>
#include <stdint.h>

#define HOSTS_MAX      1024
#define HOSTS_TEXT_MAX 60 /* bytes of one host's text, its NUL included */

/* The id of a remote sender whose host the table could not record: the
 * message is remote, its host unknown. */
#define HOSTS_UNKNOWN 0xffffffffu

/* Returns the id of host (its text, e.g. "10.0.0.5" or "fd00::5") in this
 * process's table, adding it when new; HOSTS_UNKNOWN when the table cannot
 * be made (its file taken, out of memory) or host is too long. Never 0.
 * Thread-safe; costs a scan of the table, so callers keep the id (per
 * connection, per peer). */
uint32_t hosts_id(const char *host);

/* Writes into buf (cap bytes) the host that id names in the table of
 * process pid run by uid, in the mailboxes' directory. Returns 0, -ENOENT
 * (no such table, or the id's place went to another host since), -EACCES
 * (a table not owned by uid alone, or linked), -EUCLEAN (not a table, or
 * text that is not a host's), -ERANGE (cap too small) or -errno. */
int hosts_name(int32_t pid, uint32_t uid, uint32_t id, char *buf, size_t cap);

/* A gateway of this process starts (hold) or stops (release): the table
 * is removed when the last one stops, so the hosts of the messages
 * gateways delivered can be named while one of them runs. */
void hosts_hold(void);
void hosts_release(void);

/* Fork handlers (shm_fork_*): the table's lock is held across a fork, and
 * the child lets go of its copy of the table's descriptor at once, whose
 * lock (shared with the parent's) kept a parent killed later looking
 * alive to sweeps for as long as the child lived (found by a review). */
void hosts_fork_prepare(void);
void hosts_fork_parent(void);
void hosts_fork_child(void);

#endif
