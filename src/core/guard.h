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

struct mbx;

/* Notes that the calling thread is in a call on m. Returns the handle it
 * was in before (calls nest inside the library), for guard_leave. */
struct mbx *guard_enter(struct mbx *m);

/* Ends the call noted by guard_enter. */
void guard_leave(struct mbx *prev);

/* After m's closing flag was set: returns once no other thread is in a
 * call on m, calling wake(m) while some are. */
void guard_wait_idle(struct mbx *m, void (*wake)(struct mbx *m));

/* Fork handlers (core/process.c): the list of threads stays whole across
 * fork, and in the child only the forking thread is left in it. */
void guard_fork_prepare(void);
void guard_fork_parent(void);
void guard_fork_child(void);

#endif
