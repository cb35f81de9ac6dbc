/* What this process is, cached: getpid and the credential calls are system
 * calls, too dear for every message. The pid is renewed in a forked child;
 * the credentials by every msgget and in a forked child, so a process that
 * changes its euid or groups is judged by its new ones from its next
 * msgget on (a documented difference from the kernel, which looks at every
 * call). */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "creds.h"

static _Atomic pid_t cached_pid;
static pthread_once_t once = PTHREAD_ONCE_INIT;

struct sysv_creds sysv_creds;
_Atomic int sysv_creds_valid;

static void after_fork(void)
{
    atomic_store(&cached_pid, 0);
    atomic_store(&sysv_creds_valid, 0);
}

static void install(void)
{
    pthread_atfork(NULL, NULL, after_fork);
}

pid_t sysv_pid(void)
{
    pid_t p = atomic_load_explicit(&cached_pid, memory_order_relaxed);
    if (p == 0) {
        pthread_once(&once, install);
        p = getpid();
        atomic_store(&cached_pid, p);
    }
    return p;
}

void sysv_creds_refresh(void)
{
    pthread_once(&once, install);
    struct sysv_creds c;
    c.euid = geteuid();
    c.egid = getegid();
    int n = getgroups(SYSV_GROUPS_MAX, c.groups);
    c.ngroups = n < 0 ? 0 : n;
    /* Readers take the whole struct under no lock: a msgget racing a
     * message on another thread may see a mix of old and new groups,
     * harmless since both are this process's. */
    sysv_creds = c;
    atomic_store(&sysv_creds_valid, 1);
}

int64_t sysv_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    return ts.tv_sec;
}
