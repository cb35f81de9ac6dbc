/* Who did something, in a form that survives pid reuse: a process id (or a
 * thread id) and the low 32 bits of its start time (clock ticks since
 * boot), packed into 64 bits so that shared memory stores and compares an
 * identity in one atomic step. 0 is nobody.
 *
 * Identities mean something only inside one PID namespace: a mailbox is
 * refused to processes of another one (see ident_pidns).
 */
#ifndef MBX_IDENT_H
#define MBX_IDENT_H

#include <stdint.h>

typedef uint64_t ident_t;

static inline ident_t ident_make(int32_t id, uint32_t start32)
{
    return (uint64_t)(uint32_t)id | (uint64_t)start32 << 32;
}

static inline int32_t ident_id(ident_t who)
{
    return (int32_t)(uint32_t)who;
}

static inline uint32_t ident_start(ident_t who)
{
    return (uint32_t)(who >> 32);
}

/* This process: pid and start time. Cached (getpid() is a system call and
 * the send path must not make one), renewed in a forked child. */
ident_t ident_self_slow(void);
extern ident_t ident_cached_self;

static inline ident_t ident_self(void)
{
    ident_t me = __atomic_load_n(&ident_cached_self, __ATOMIC_ACQUIRE);
    return __builtin_expect(me != 0, 1) ? me : ident_self_slow();
}

/* This process's pid (see ident_self). */
static inline int32_t ident_self_pid(void)
{
    return ident_id(ident_self());
}

/* The calling thread: tid and its own start time. Cached per thread. */
ident_t ident_thread(void);

/* Returns 1 while process `who` lives and is the one that started then
 * (start 0: any process with that pid), else 0. A process inside its exit
 * counts as dead; one whose main thread ended while others run, alive. */
int ident_alive(ident_t who);

/* The same for a thread identity (ident_thread): 1 while that thread
 * runs, 0 once it ended or is inside its exit. */
int ident_thread_alive(ident_t who);

/* Returns 1 while any process has this pid and is not ending, whatever
 * its start: the check for a pid recorded without its start time. */
int ident_pid_alive(int32_t pid);

/* The inode number of this process's PID namespace (0 if unknown), cached. */
uint64_t ident_pidns(void);

#endif
