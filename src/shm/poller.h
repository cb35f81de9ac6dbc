/* Pollable descriptors, the handle's side (mbx_fd): the socket a handle
 * polls, and keeping it readable exactly while its direction is ready.
 *
 * Invariant, per direction of a handle: either the handle's entry is armed
 * (a changer will send a datagram), or being told (its teller sends one,
 * or, killed first, leaves it for the next change: poll.h), or a datagram
 * is queued or on its way, or the handle is between those and looks again
 * after arming. After
 * each call of that direction on the handle the invariant is re-made
 * (poller_settle): when the direction is ready the socket is made
 * readable; when not, the socket is drained only if it may hold a
 * datagram, the entry armed, and the direction looked at again. So a
 * receive that empties the mailbox leaves the descriptor unreadable, and a
 * descriptor reports a mailbox that stays empty at most once per change
 * another process made (a message another receiver took first), plus once
 * per datagram sent by someone who only meant to wake it.
 *
 * For an owned mailbox (and a stream's receiver) the descriptor is an
 * epoll set of the socket and pidfds of the processes whose death matters
 * (owner, pending owner; a stream's sender), so that death, which nobody
 * signals, makes it readable at once.
 */
#ifndef MBX_SHM_POLLER_H
#define MBX_SHM_POLLER_H

#include "shm/poll.h"
#include "shm/shm.h"

#include <errno.h>
#include <pthread.h>

#define POLLER_PEERS 3 /* owner, pending owner, a stream's sender */

struct shm_poller {
    unsigned dir;   /* SEG_POLL_RECV, SEG_POLL_SEND */
    unsigned slot;  /* its entry in the header */
    unsigned place; /* where its socket is (poll_path): kept here, as the
                       entry's may be whatever a peer wrote */
    uint64_t id;
    ident_t maker; /* the process that made it; a forked child's copy is not its own */
    int sock;      /* bound at path */
    int fd;        /* what mbx_fd returns: sock, or the epoll set */
    int clean;     /* drained and armed since its last wake-up: an empty call
                      may skip one drain (poller_settle) */
    uint64_t want; /* a send that found no room: its size; a filtered receive
                      that found nothing: its sent mark (poller_settle) */
    ident_t peer[POLLER_PEERS];
    int pidfd[POLLER_PEERS];
    pthread_mutex_t mu;
    struct shm_poller *next_in_process; /* the list poller_at_exit walks */
    char path[POLL_PATH_MAX];
};

/* Returns the descriptor of direction dir (SEG_POLL_RECV, SEG_POLL_SEND)
 * of handle b, making it on first use; -EUSERS when the mailbox already
 * has SEG_POLLERS pollers, -EMFILE, -ENFILE, -ENOMEM, -EIDRM, or the error
 * of binding its socket. */
int poller_fd(struct shm_box *b, unsigned dir);

/* How a call of a poller's direction ended: */
enum poller_after {
    POLLER_DID = 0,   /* it did something (a message, bytes, the end) */
    POLLER_EMPTY = 1, /* it found nothing to do (-EAGAIN, -ETIMEDOUT) */
};

/* Re-makes the invariant above after a call on b in p's direction.
 * want: the size of a send that found no room; for a receive that took
 * only some messages (mbx_recv_from) and found none, the sent mark taken
 * before it; 0: none. */
void poller_settle(struct shm_box *b, struct shm_poller *p, enum poller_after after, uint64_t want);

/* A mark that moves on with every message sent to b's mailbox. */
uint64_t poller_sent_mark(struct shm_box *b);

/* After a call in direction dir ended with r (a size or -errno): settles
 * the handle's poller of that direction, if it has one. */
static inline void poller_after(struct shm_box *b, unsigned dir, long r, uint64_t want)
{
    struct shm_poller *p = __atomic_load_n(&b->poller[dir], __ATOMIC_ACQUIRE);
    if (__builtin_expect(p == NULL, 1))
        return;
    if (r >= 0)
        poller_settle(b, p, POLLER_DID, 0);
    else if (r == -EAGAIN || r == -ETIMEDOUT)
        poller_settle(b, p, POLLER_EMPTY, want);
}

/* For mbx_poll: returns 1 when direction dir of b is ready, 2 when the
 * mailbox is gone (removed, its owner dead: the next call says -EIDRM),
 * else makes sure its descriptor will become readable at the next change
 * and returns 0. */
int poller_check(struct shm_box *b, unsigned dir);

/* Returns 1 when a process b's poller of direction dir watches has died
 * (its pidfd is readable): the caller should look at the owner now. */
int poller_peer_died(struct shm_box *b, unsigned dir);

/* Gives b's pollers up (mbx_close): entries freed, sockets removed. */
void poller_close(struct shm_box *b);

/* At a normal exit: removes the sockets of this process's pollers (a
 * killed process's are removed by whoever next finds it gone). */
void poller_at_exit(void);

#endif
