/* Pollable descriptors, the mailbox's side: who waits for a change, and
 * how a sender or receiver tells them.
 *
 * A process that polls a direction of a mailbox (mbx_fd) holds an entry in
 * the header (struct seg_poller) and a datagram socket bound at a path
 * named by the entry. The entry is taken, naming the path, before the
 * socket is bound, and freed after the socket is removed: a process killed
 * at any point leaves no socket file that no entry names (poll_reap
 * removes it with the entry). It arms the entry (armed = 1 + direction)
 * when it has seen nothing to do, and counts itself in hot.armed[direction]. A
 * send or receive that changes the direction looks at that count with one
 * load after its seq_cst store (wait.c), and only when it is not zero
 * takes every armed entry of the direction (through "being told", below)
 * back to 0 and sends each one empty datagram: a system call per poller
 * per transition, none while nobody polls. The poller re-arms and then looks
 * again (poller.c), so a change made while it armed is seen by one of the
 * two: the Dekker pair of its armed store and the changer's count load.
 *
 * Counting and arming are two stores, and so are disarming and uncounting:
 * a process killed between them left the count one above the armed
 * entries for good, and every change of the direction then looked at all
 * the entries. So the count word holds an epoch (POLL_EPOCH_SHIFT) beside
 * the count, and an armed entry holds the epoch it was counted in
 * (poll_tag): a disarm uncounts only in that epoch. A changer that finds
 * the count above zero and no entry armed starts a new epoch, counted 1
 * (itself), with nothing else in it, then tells every entry still armed
 * and takes its own 1 off; a poller that finds, after arming, that the
 * epoch moved since it counted itself counts itself again in the new one.
 * So a poller that armed is, at every moment, counted in the current
 * epoch, or about to be told by the changer that moved it on (or, were
 * that changer killed, seen by the next change, which its own 1 left in
 * the count makes look), and what a kill left over is gone at the next
 * change that finds nobody armed: at most two looks at the entries each.
 *
 * Disarming and telling are two steps too: a changer killed between
 * taking an entry from armed and sending its datagram left the poller
 * neither armed nor told, and no later change told it (deaf until its own
 * process called the mailbox). So a changer does not disarm an entry
 * outright: it takes it, by compare-and-swap, from armed to "being told"
 * (poll_telling: its thread id in place of the epoch, the entry still
 * counted), sends the datagram, then takes it from its own telling word to
 * 0 (unless the poller re-armed meanwhile) and uncounts it. Every change
 * that finds an entry being told tells it too, whoever's it is: the
 * teller may be dead, and there is no telling (a thread id may be reused;
 * an identity check is system calls too). Nobody but its teller takes an
 * entry out of a telling word, and the poller when it arms or disarms:
 * only its own thread writes that word, so no other word can be mistaken
 * for it (no ABA: a datagram sent before the poller drained and re-armed
 * could otherwise be taken for one sent after). A change that finds no
 * entry armed but some being told starts the count again (below), so
 * that later changes do not look: what a live teller's window costs is one
 * more datagram, sent by the first change that comes in it; what a killed
 * teller costs is one datagram per change until its poller, woken,
 * re-arms. A change sends one entry at most two datagrams (the second
 * only when it starts the count again).
 *
 * Entries are untrusted: a scribbled one can at worst send a datagram to
 * another poller's socket of the same directory (a spurious wake-up) or
 * hide a poller from changers (which only someone who can write the
 * mailbox can do, and who can stop it anyway).
 */
#ifndef MBX_SHM_POLL_H
#define MBX_SHM_POLL_H

#include "shm/segment.h"

#include <stddef.h>
#include <stdint.h>

/* Longest path of a poller's socket, with its NUL (sockaddr_un). */
#define POLL_PATH_MAX 108

/* The count word of a direction (hot.armed[dir]): the count of pollers
 * counted armed in its low bits, the epoch of that count above them. */
#define POLL_COUNTS      0xffffu
#define POLL_EPOCH_SHIFT 16

/* The armed word of an entry armed for direction dir (SEG_POLL_RECV,
 * SEG_POLL_SEND) and counted in epoch `epoch`; its low bits are 1 + dir,
 * as before epochs (a mailbox's first epoch is 0). */
static inline uint32_t poll_tag(unsigned dir, uint32_t epoch)
{
    return (1u + dir) | (epoch << POLL_EPOCH_SHIFT);
}

/* Returns 1 + the direction entry armed word `a` is armed for, or 0 (or
 * a value above 3: a telling word is armed for no direction). */
static inline unsigned poll_armed_for(uint32_t a)
{
    return a & POLL_COUNTS;
}

/* The armed word of an entry of direction dir being told by thread tid
 * (above): POLL_TELLING and 1 + dir, the thread id above them (a thread
 * id is below 2^22, the kernel's largest pid_max, so it fits whole). */
#define POLL_TELLING 0x4u
static inline uint32_t poll_telling(unsigned dir, int32_t tid)
{
    return (1u + dir) | POLL_TELLING | (uint32_t)tid << 3;
}

/* Returns 1 + the direction of the entry whose armed word `a` says it is
 * being told, or 0 when it is not. */
static inline unsigned poll_telling_for(uint32_t a)
{
    return a & POLL_TELLING ? a & 3u : 0;
}

/* Sends a datagram to every poller armed for direction dir
 * (SEG_POLL_RECV or SEG_POLL_SEND), disarming each; when the count says
 * some are armed and none is, sets the count right (above). */
void poll_signal(const struct seg *s, unsigned dir);

/* After a change of direction dir: tells its armed pollers, if any. */
static inline void poll_notify(const struct seg *s, unsigned dir)
{
    if (__builtin_expect(
            (__atomic_load_n(&s->hdr->hot.armed[dir], __ATOMIC_SEQ_CST) & POLL_COUNTS) != 0, 0))
        poll_signal(s, dir);
}

/* After removal (mbx_unlink, the owner's death) or an ownership change:
 * tells every armed poller, whatever its direction, and clears the
 * entries of pollers that died (removing their sockets). */
void poll_signal_all(const struct seg *s);

/* Takes entry p's armed word from 1 + its direction (or a telling word)
 * to 0, keeping the counts (a telling word's teller uncounts it). Returns
 * 1 when this call disarmed it (it must now be told: a telling word's
 * teller may have died before its datagram). */
int poll_disarm(const struct seg *s, struct seg_poller *p);

/* Arms entry p for direction dir, counted in the current epoch. Returns 1
 * when it was not armed so. */
int poll_arm(const struct seg *s, struct seg_poller *p, unsigned dir);

/* Writes the path of entry p's socket into buf (POLL_PATH_MAX bytes), for
 * an entry with this id and place. Returns 0, or -ENAMETOOLONG, or
 * -ENOENT when the mailbox has no directory for it ("@PID"). */
int poll_path(const struct seg *s, uint64_t id, unsigned place, char *buf);

/* Frees entry p if the process it names has died, after removing its
 * socket; an entry whose socket the caller may not remove or connect to
 * (another user's, in a sticky directory or of a mode closed to it) is
 * only disarmed, and stays for its user or root. Returns 1 when freed. */
int poll_reap(const struct seg *s, struct seg_poller *p);

#endif
