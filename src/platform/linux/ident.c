#include "platform/platform.h"

#include "platform/linux/proc.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

ident_t ident_cached_self;
static uint64_t cached_pidns;
/* Bumped in a forked child, so per-thread caches made before are redone. */
static unsigned fork_gen = 1;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void refresh(void)
{
    int32_t pid = (int32_t)getpid();
    uint64_t start = 0;
    proc_start(pid, &start);
    __atomic_store_n(&cached_pidns, proc_pidns(), __ATOMIC_RELAXED);
    __atomic_store_n(&ident_cached_self, ident_make(pid, (uint32_t)start), __ATOMIC_RELEASE);
}

static void in_child(void)
{
    __atomic_add_fetch(&fork_gen, 1, __ATOMIC_RELAXED);
    refresh();
}

static void setup(void)
{
    refresh();
    pthread_atfork(NULL, NULL, in_child);
}

ident_t ident_self_slow(void)
{
    pthread_once(&once, setup);
    return __atomic_load_n(&ident_cached_self, __ATOMIC_ACQUIRE);
}

uint64_t ident_pidns(void)
{
    pthread_once(&once, setup);
    return __atomic_load_n(&cached_pidns, __ATOMIC_RELAXED);
}

static MBX_TLS ident_t my_thread;
static MBX_TLS unsigned my_thread_gen;

ident_t ident_thread(void)
{
    pthread_once(&once, setup);
    unsigned gen = __atomic_load_n(&fork_gen, __ATOMIC_RELAXED);
    if (my_thread_gen != gen) {
        int32_t tid = (int32_t)syscall(SYS_gettid);
        struct proc_stat st;
        uint32_t start = proc_stat_of(tid, &st) == 0 ? (uint32_t)st.start : 0;
        my_thread = ident_make(tid, start);
        my_thread_gen = gen;
    }
    return my_thread;
}

static int alive(ident_t who, int whole_process)
{
    struct proc_stat st;
    int32_t id = ident_id(who);
    if (id <= 0)
        return 0;
    if (proc_stat_of(id, &st) != 0) {
        /* /proc may hide other users' processes (hidepid): ask the kernel
         * whether the id exists at all. Calling a hidden live process dead
         * would free what it uses; calling a dead one alive only waits. */
        return kill(id, 0) == 0 || errno == EPERM;
    }
    if (proc_stat_ending(&st, whole_process))
        return 0;
    return ident_start(who) == 0 || (uint32_t)st.start == ident_start(who);
}

int ident_alive(ident_t who)
{
    return alive(who, 1);
}

int ident_thread_alive(ident_t who)
{
    return alive(who, 0);
}

int ident_id_exists(int32_t id)
{
    return id <= 0 ? 0 : kill(id, 0) == 0 || errno != ESRCH;
}

int ident_pid_alive(int32_t pid)
{
    return alive(ident_make(pid, 0), 1);
}
