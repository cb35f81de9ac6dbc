#include "core/process.h"

#include "core/guard.h"
#include "core/monitor.h"
#include "core/transport.h"

#include <pthread.h>
#include <stdlib.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;

/* Locks are taken in one order (the transports', then the guard's) and
 * let go in the reverse, so a fork while other threads hold them leaves
 * none held in the child. */
static void prepare(void)
{
    monitor_fork_prepare();
    for (const struct mbx_transport *const *t = mbx_transports; *t; t++)
        if ((*t)->fork_prepare)
            (*t)->fork_prepare();
    guard_fork_prepare();
}

static void parent(void)
{
    guard_fork_parent();
    for (const struct mbx_transport *const *t = mbx_transports; *t; t++)
        if ((*t)->fork_parent)
            (*t)->fork_parent();
    monitor_fork_parent();
}

static void child(void)
{
    guard_fork_child();
    for (const struct mbx_transport *const *t = mbx_transports; *t; t++)
        if ((*t)->fork_child)
            (*t)->fork_child();
    monitor_fork_child();
}

/* At exit, and when the library is unloaded (dlclose): a destructor, not
 * atexit(). atexit() from a shared library is tied to it by glibc (run at
 * its dlclose), but ThreadSanitizer's interceptor called it at the
 * program's exit, in unmapped code (unload_test under TSan). */
__attribute__((destructor)) static void at_exit(void)
{
    for (const struct mbx_transport *const *t = mbx_transports; *t; t++)
        if ((*t)->at_exit)
            (*t)->at_exit();
}

static void setup(void)
{
    pthread_atfork(prepare, parent, child);
}

void process_init(void)
{
    pthread_once(&once, setup);
}
