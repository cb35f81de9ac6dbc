#include "core/guard.h"

#include "core/cancel.h"
#include "shm/origin.h"

#include "platform/platform.h"

#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

MBX_TLS struct guard_slot guard_mine;
MBX_TLS struct cancel_hook cancel_mine; /* cancel.h */
MBX_TLS uint32_t origin_mine;           /* shm/origin.h */
#define mine guard_mine
static struct guard_slot *all;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_key_t key;

static void unlist(void *arg)
{
    struct guard_slot *s = arg;
    pthread_mutex_lock(&lock);
    for (struct guard_slot **p = &all; *p; p = &(*p)->next) {
        if (*p == s) {
            *p = s->next;
            break;
        }
    }
    pthread_mutex_unlock(&lock);
}

void guard_fork_prepare(void)
{
    pthread_mutex_lock(&lock);
}

void guard_fork_parent(void)
{
    pthread_mutex_unlock(&lock);
}

/* Only the forking thread lives on in the child. */
void guard_fork_child(void)
{
    all = mine.listed ? &mine : NULL;
    mine.next = NULL;
    pthread_mutex_unlock(&lock);
}

static int key_made;

static void setup(void)
{
    __atomic_store_n(&key_made, pthread_key_create(&key, unlist) == 0, __ATOMIC_RELEASE);
}

/* When the library is unloaded (dlclose), and at exit: the key goes, so a
 * thread of the program that made calls and ends later does not run
 * unlist, whose code is gone by then (SIGSEGV; unload_test). The list
 * itself is not looked at again: the library's code that reads it goes
 * too. At exit, a thread that makes its first call after this is not
 * listed (pthread_setspecific fails), which matters to nothing past
 * exit. */
__attribute__((destructor)) static void guard_unload(void)
{
    if (__atomic_exchange_n(&key_made, 0, __ATOMIC_ACQ_REL))
        pthread_key_delete(key);
}

void guard_list_me(void)
{
    pthread_once(&once, setup);
    pthread_mutex_lock(&lock);
    mine.next = all;
    all = &mine;
    mine.listed = 1;
    pthread_mutex_unlock(&lock);
    pthread_setspecific(key, &mine);
}

/* Every thread of the process passes a full barrier: their notes made
 * before are visible to us, and they see the closing flag from now on. */
static void barrier_all_threads(void)
{
    static int registered;
    if (!__atomic_load_n(&registered, __ATOMIC_ACQUIRE)) {
        if (syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0)
            __atomic_store_n(&registered, 1, __ATOMIC_RELEASE);
    }
    if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) != 0) {
        /* Without membarrier: stores reach other CPUs within microseconds;
         * give them a millisecond. */
        static int fence;
        __atomic_fetch_add(&fence, 1, __ATOMIC_SEQ_CST);
        usleep(1000);
    }
}

static int anyone_in(struct mbx *m)
{
    int found = 0;
    pthread_mutex_lock(&lock);
    for (struct guard_slot *s = all; s && !found; s = s->next)
        found = s != &mine && __atomic_load_n(&s->in, __ATOMIC_ACQUIRE) == m;
    pthread_mutex_unlock(&lock);
    return found;
}

void guard_wait_idle(struct mbx *m, void (*wake)(struct mbx *m))
{
    pthread_once(&once, setup);
    barrier_all_threads();
    while (anyone_in(m)) {
        wake(m);
        sched_yield();
        usleep(100);
    }
}
