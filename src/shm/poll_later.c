/* Wake-ups sent later (poll_later.h). */
#include "shm/poll_later.h"

#include "platform/platform.h"
#include "shm/poll.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct later {
    int64_t due; /* CLOCK_MONOTONIC ns */
    struct later *next;
    char path[POLL_PATH_MAX];
};

/* How long the thread stays with nothing to send. */
#define IDLE_NS 1000000000ll

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct later *pending; /* in the order asked, so by due time */
static int running;           /* the thread runs (or is starting) */
static int joinable;          /* a thread was made and not joined yet */
static pthread_t thread;      /* that thread */
static pid_t thread_pid;      /* the process that made it (getpid(): see poll_later_unload) */
static int unloading;         /* the library goes away: no thread any more */

/* In a forked child: no thread, and the asks are the parent's pollers'
 * (a child's copy of a poller is never its own). Nothing is locked around
 * the fork: taken in a prepare handler, the lock would come before the
 * monitor's, which the monitor's thread holds while it asks for a wake-up
 * here (a lock-order inversion ThreadSanitizer reported: a possible
 * deadlock at fork). So the child does not trust what it copied: the list
 * is dropped unread (left unfreed: it may have been mid-change), and the
 * lock and the condition (whose waiter was the parent's thread) are made
 * new. */
static void after_fork_child(void)
{
    pending = NULL;
    running = 0;
    joinable = 0;
    unloading = 0; /* forked while the parent's destructors ran: not ours */
    pthread_mutex_init(&mu, NULL);
    clock_cond_init(&changed);
}

static void init_once(void)
{
    clock_cond_init(&changed);
    pthread_atfork(NULL, NULL, after_fork_child);
}

static void *sender(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "mbx-poll-later"); /* for top -H, perf, gdb */
    pthread_mutex_lock(&mu);
    int64_t idle_until = 0;
    while (!unloading) {
        if (!pending) {
            /* Nothing left: stay a second for the next ask (a loop on a
             * squatted descriptor asks every 50 ms: a thread made each
             * time, found by a review), then end; the next ask after that
             * starts a thread again. */
            int64_t now = clock_now_ns();
            if (!idle_until)
                idle_until = now + IDLE_NS;
            if (now >= idle_until)
                break;
            struct timespec ts = {.tv_sec = (time_t)(idle_until / 1000000000),
                                  .tv_nsec = (long)(idle_until % 1000000000)};
            pthread_cond_timedwait(&changed, &mu, &ts);
            continue;
        }
        idle_until = 0;
        struct later *l = pending;
        int64_t now = clock_now_ns();
        if (l->due > now) {
            struct timespec ts = {.tv_sec = (time_t)(l->due / 1000000000),
                                  .tv_nsec = (long)(l->due % 1000000000)};
            pthread_cond_timedwait(&changed, &mu, &ts);
            continue;
        }
        pending = l->next;
        pthread_mutex_unlock(&mu);
        (void)note_send(l->path);
        free(l);
        pthread_mutex_lock(&mu);
    }
    running = 0;
    pthread_mutex_unlock(&mu);
    return NULL;
}

/* Caller holds mu. Returns 0 or -EAGAIN. */
static int start(void)
{
    if (running)
        return 0;
    if (unloading)
        return -EAGAIN;
    /* The last thread ended by itself (idle): it left mu for good before
     * it returned, so this join under mu is short. */
    if (joinable && thread_pid == getpid()) /* not a raw fork's copy: no such thread here */
        pthread_join(thread, NULL);
    joinable = 0;
    /* Every signal blocked in the thread from its first instruction: the
     * program's handlers run on its own threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t t;
    int r = pthread_create(&t, NULL, sender, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r)
        return -EAGAIN;
    thread = t;
    thread_pid = getpid();
    joinable = 1;
    running = 1;
    return 0;
}

int poll_later(const char *path)
{
    pthread_once(&once, init_once);
    size_t n = strlen(path);
    if (n >= POLL_PATH_MAX)
        return -ENAMETOOLONG;
    pthread_mutex_lock(&mu);
    struct later **end = &pending;
    for (; *end; end = &(*end)->next)
        if (strcmp((*end)->path, path) == 0) {
            pthread_mutex_unlock(&mu);
            return 0;
        }
    struct later *l = malloc(sizeof(*l));
    if (!l) {
        pthread_mutex_unlock(&mu);
        return -ENOMEM;
    }
    l->due = clock_now_ns() + (int64_t)POLL_LATER_MS * 1000000;
    l->next = NULL;
    memcpy(l->path, path, n + 1);
    int r = start();
    if (r == 0) {
        *end = l; /* the same delay for all: appending keeps the order */
        pthread_cond_signal(&changed);
    } else {
        free(l);
    }
    pthread_mutex_unlock(&mu);
    return r;
}

void poll_later_cancel(const char *path)
{
    if (!path[0])
        return;
    pthread_once(&once, init_once);
    pthread_mutex_lock(&mu);
    for (struct later **q = &pending; *q; q = &(*q)->next)
        if (strcmp((*q)->path, path) == 0) {
            struct later *l = *q;
            *q = l->next;
            free(l);
            break;
        }
    pthread_mutex_unlock(&mu);
}

/* When the library is unloaded (dlclose), and at exit: the thread ends and
 * is joined first. Left running, it returned into unmapped code within
 * its idle second (SIGSEGV; unload_test). Not in a forked child, whose
 * copy of the thread's record is the parent's (after_fork_child, and the
 * pid it was made in for a child of a raw fork, which runs no atfork
 * handler). The lock is waited for a bounded time, as in monitor_unload:
 * exit() from a signal handler that interrupted its holder. */
__attribute__((destructor)) static void poll_later_unload(void)
{
    if (unload_lock(&mu) != 0)
        return;
    unloading = 1;
    int join = joinable && thread_pid == getpid();
    if (join)
        pthread_cond_signal(&changed);
    pthread_mutex_unlock(&mu);
    if (join)
        pthread_join(thread, NULL);
    if (unload_lock(&mu) != 0)
        return;
    joinable = 0;
    for (struct later *l; (l = pending) != NULL;) {
        pending = l->next;
        free(l);
    }
    pthread_mutex_unlock(&mu);
}
