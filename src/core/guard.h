/* Calls in progress on a handle, so that mbx_close can wake a call another
 * thread is blocked in and wait until it has left, instead of unmapping the
 * memory under it.
 *
 * Each thread notes the handle it is in a call on in a thread-local slot:
 * plain stores, no atomic instruction on the fast path. mbx_close sets the
 * handle's closing flag, makes every thread of the process pass a memory
 * barrier (membarrier), then waits while any slot names the handle, waking
 * its waiters; they see the flag and return -EBADF. A call that starts
 * while the handle is being closed is a use after close, as with free().
 */
#ifndef MBX_GUARD_H
#define MBX_GUARD_H

#include "platform/platform.h"

struct mbx;

/* A thread's note: the handle it is in a call on. */
struct guard_slot {
    struct mbx *in; /* written by its thread, read by mbx_close in others */
    struct guard_slot *next;
    int listed;
};

extern MBX_TLS struct guard_slot guard_mine;

/* Puts the calling thread's slot in the list mbx_close looks through. */
void guard_list_me(void);

/* Notes that the calling thread is in a call on m. Returns the handle it
 * was in before (calls nest inside the library), for guard_leave. */
static inline struct mbx *guard_enter(struct mbx *m)
{
    if (__builtin_expect(!guard_mine.listed, 0))
        guard_list_me();
    struct mbx *prev = guard_mine.in;
    __atomic_store_n(&guard_mine.in, m, __ATOMIC_RELAXED);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    return prev;
}

/* Ends the call noted by guard_enter. */
static inline void guard_leave(struct mbx *prev)
{
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    __atomic_store_n(&guard_mine.in, prev, __ATOMIC_RELEASE);
}

/* After m's closing flag was set: returns once no other thread is in a
 * call on m, calling wake(m) while some are. */
void guard_wait_idle(struct mbx *m, void (*wake)(struct mbx *m));

/* Fork handlers (core/process.c): the list of threads stays whole across
 * fork, and in the child only the forking thread is left in it. */
void guard_fork_prepare(void);
void guard_fork_parent(void);
void guard_fork_child(void);

#endif
