/* Death notices (mbx_monitor_*): one thread per process watches, in one
 * epoll set, a pidfd per monitored process and a removal descriptor per
 * monitored mailbox (the transport's fd for direction 0), and fires each
 * monitor once: its flag descriptor raised, its notice sent.
 *
 * Monitors are found by id, never by pointer, from the thread's events, so
 * one cancelled between an event and its handling is simply not found. */
#include "mbx.h"

#include "core/monitor.h"
#include "core/handle.h"
#include "core/process.h"
#include "platform/platform.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define RETRY_MS    10   /* a notice waiting for room in its mailbox is tried again */
#define LOOK_MS     50   /* processes without a pidfd are looked at */
#define MAILBOX_MS  1000 /* mailboxes are looked at too: see watcher */
#define IDLE_EVENTS 16   /* events in a row that found the mailbox there */

struct mbx_monitor {
    uint64_t id;
    int kind;           /* MBX_NOTICE_PROCESS, MBX_NOTICE_MAILBOX */
    ident_t who;        /* the process */
    int target;         /* pidfd, or the mailbox's removal descriptor; -1: none */
    int looked_for;     /* no pidfd: looked at every LOOK_MS */
    int idle;           /* events in a row that found the mailbox there... */
    int64_t idle_since; /* ...since then (CLOCK_MONOTONIC ns) */
    mbx *watch;         /* the mailbox handle (flags 0) */
    mbx *notify;
    int flag; /* raised once fired */
    int fired;
    int unsent; /* fired, its message still to send */
    ident_t maker;
    mbx_notice notice;
    struct mbx_monitor *next;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct mbx_monitor *monitors;
static uint64_t next_id = 1;
static int watch_set = -1;   /* the thread's epoll set */
static int thread_wake = -1; /* raised to make the thread look again */
static ident_t thread_of;    /* the process the thread runs in */
static pthread_t watcher_thread;
static pid_t watcher_pid; /* the process that made it (getpid(): not the cache) */
static int unloading;     /* the library goes away: the thread ends */

static int ever_made; /* a monitor was made in this process (atomic) */

void monitor_handle_closing(const mbx *h)
{
    /* A monitor keeps its notify handle as the caller gave it: closed
     * before the monitor fired, the notice went to freed memory
     * (SIGSEGV; found by a review). */
    if (!__atomic_load_n(&ever_made, __ATOMIC_ACQUIRE))
        return;
    pthread_mutex_lock(&mu);
    for (struct mbx_monitor *m = monitors; m; m = m->next)
        if (m->notify == h) {
            m->notify = NULL;
            m->unsent = 0;
        }
    pthread_mutex_unlock(&mu);
}

static struct mbx_monitor *find(uint64_t id)
{
    for (struct mbx_monitor *m = monitors; m; m = m->next)
        if (m->id == id)
            return m;
    return NULL;
}

/* Caller holds mu. Sends the notice, unless its mailbox is full (then
 * later): a bounded one says -EAGAIN, an unbounded one at its memory
 * limit -ENOSPC (dropped for good before; found by a review), and memory
 * may come back. A removed or broken notify mailbox gets none. */
static void send_notice(struct mbx_monitor *m)
{
    int r = mbx_send(m->notify, &m->notice, sizeof(m->notice), 0, MBX_NONBLOCK);
    m->unsent = r == -EAGAIN || r == -ENOSPC || r == -ENOMEM;
}

/* Caller holds mu. Fires m, once. */
static void fire(struct mbx_monitor *m, int reason)
{
    if (m->fired)
        return;
    m->fired = 1;
    m->notice.reason = (uint32_t)reason;
    if (m->target >= 0 && watch_set >= 0)
        evset_del(watch_set, m->target);
    evflag_raise(m->flag);
    if (m->notify)
        send_notice(m);
}

/* Caller holds mu. Whether m's target is gone now. */
static int gone(struct mbx_monitor *m)
{
    if (m->kind == MBX_NOTICE_PROCESS)
        return m->looked_for ? !ident_alive(m->who) : fd_readable(m->target) == 1;
    return m->watch->tp->ready(m->watch, 0) == 2;
}

static void *watcher(void *arg)
{
    pthread_setname_np(pthread_self(), "mbx-monitor"); /* for top -H, perf, gdb */
    (void)arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    int64_t looked_at = clock_now_ns();
    for (;;) {
        pthread_mutex_lock(&mu);
        int timeout = -1;
        for (struct mbx_monitor *m = monitors; m; m = m->next) {
            if (m->unsent)
                timeout = RETRY_MS;
            else if (!m->fired && m->looked_for && (timeout < 0 || timeout > LOOK_MS))
                timeout = LOOK_MS;
            else if (!m->fired && m->kind == MBX_NOTICE_MAILBOX && timeout < 0)
                timeout = MAILBOX_MS;
        }
        int set = watch_set;
        pthread_mutex_unlock(&mu);
        struct epoll_event ev[16];
        int n = epoll_wait(set, ev, 16, timeout);
        pthread_mutex_lock(&mu);
        if (unloading) {
            pthread_mutex_unlock(&mu);
            return NULL;
        }
        for (int i = 0; i < n; i++) {
            if (ev[i].data.u64 == 0) {
                evflag_lower(thread_wake);
                continue;
            }
            struct mbx_monitor *m = find(ev[i].data.u64);
            if (!m || m->fired)
                continue;
            if (gone(m)) {
                fire(m, MBX_GONE_NOW);
            } else if (clock_now_ns() - m->idle_since > MAILBOX_MS * 1000000LL) {
                m->idle = 1;
                m->idle_since = clock_now_ns();
            } else if (++m->idle == IDLE_EVENTS) {
                /* A descriptor readable with the mailbox there, again and
                 * again: a peer who may write it holds every poller
                 * entry (ours cannot be kept, so it is made readable for
                 * the caller to look), and the thread spun (found by a
                 * review). Looked at every MAILBOX_MS instead. A stream's
                 * ends opening wake it once each: IDLE_EVENTS in a row
                 * within MAILBOX_MS. */
                evset_del(watch_set, m->target);
            }
        }
        /* Mailboxes every MAILBOX_MS besides their descriptors: a remover
         * killed between taking the name and marking the mailbox removed
         * tells nobody (shm's poller_check sees the file without a name). */
        int64_t now = clock_now_ns();
        int mailboxes = now - looked_at >= MAILBOX_MS * 1000000LL;
        if (mailboxes)
            looked_at = now;
        for (struct mbx_monitor *m = monitors; m; m = m->next) {
            if (m->unsent)
                send_notice(m);
            else if (!m->fired && (m->looked_for || (mailboxes && m->kind == MBX_NOTICE_MAILBOX)) &&
                     gone(m))
                fire(m, MBX_GONE_NOW);
        }
        pthread_mutex_unlock(&mu);
    }
    return NULL;
}

/* Caller holds mu. Starts this process's thread (again after a fork: the
 * parent's did not come along). Returns 0 or -errno. */
static int start_thread(void)
{
    if (unloading)
        return -EAGAIN; /* the destructor may be closing the thread's descriptors */
    ident_t me = ident_self();
    if (thread_of == me)
        return 0;
    /* A forked child: its monitors are not ours (they never fire here);
     * the parent's set and flag were closed at the fork. */
    monitors = NULL;
    int set = evset_new();
    if (set < 0)
        return set;
    int wake = evflag_new();
    if (wake < 0) {
        close(set);
        return wake;
    }
    struct epoll_event e = {.events = EPOLLIN, .data.u64 = 0};
    pthread_t t;
    /* Joinable: joined when the library is unloaded (monitor_unload). */
    if (epoll_ctl(set, EPOLL_CTL_ADD, wake, &e) != 0 || pthread_create(&t, NULL, watcher, NULL)) {
        close(set);
        close(wake);
        return -EAGAIN;
    }
    watcher_thread = t;
    watcher_pid = getpid();
    watch_set = set;
    thread_wake = wake;
    thread_of = me;
    return 0;
}

static struct mbx_monitor *monitor_new(int kind, mbx *notify, uint64_t tag)
{
    struct mbx_monitor *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->kind = kind;
    m->notify = notify;
    m->target = -1;
    m->maker = ident_self();
    m->notice.magic = MBX_NOTICE_MAGIC;
    m->notice.kind = (uint32_t)kind;
    m->notice.tag = tag;
    m->flag = evflag_new();
    if (m->flag < 0) {
        free(m);
        return NULL;
    }
    return m;
}

static void monitor_free(struct mbx_monitor *m)
{
    if (m->target >= 0 && m->kind == MBX_NOTICE_PROCESS)
        close(m->target);
    if (m->watch)
        mbx_close(m->watch); /* its descriptor goes with it */
    close(m->flag);
    free(m);
}

/* Registers m with the thread: fires at once when `already`, else watches
 * its target. Returns 0 or -errno (m is then freed). */
static int monitor_add(struct mbx_monitor *m, int already)
{
    pthread_mutex_lock(&mu);
    int r = start_thread();
    if (r) {
        pthread_mutex_unlock(&mu);
        monitor_free(m);
        return r;
    }
    m->id = next_id++;
    m->next = monitors;
    monitors = m;
    __atomic_store_n(&ever_made, 1, __ATOMIC_RELEASE);
    if (already) {
        fire(m, MBX_GONE_ALREADY);
    } else if (m->target >= 0) {
        struct epoll_event e = {.events = EPOLLIN, .data.u64 = m->id};
        if (epoll_ctl(watch_set, EPOLL_CTL_ADD, m->target, &e) != 0)
            m->looked_for = 1;
        /* Gone between our look and the watch: the set reports it (level). */
    }
    evflag_raise(thread_wake); /* its timeout may change */
    pthread_mutex_unlock(&mu);
    return 0;
}

/* notify must be a handle opened for sending with room for a notice. */
static int notify_ok(mbx *notify)
{
    if (!notify)
        return 0;
    if (!(notify->flags & MBX_SEND))
        return -EINVAL;
    mbx_stat st;
    int r = mbx_stat_get(notify, &st);
    if (r)
        return r;
    return st.max_msg_size < sizeof(mbx_notice) && !(st.flags & MBX_STREAM) ? -EMSGSIZE : 0;
}

EXPORT int mbx_monitor_process(pid_t pid, mbx *notify, uint64_t tag, mbx_monitor **out)
{
    if (pid <= 0 || !out)
        return -EINVAL;
    int r = notify_ok(notify);
    if (r)
        return r;
    process_init();
    struct mbx_monitor *m = monitor_new(MBX_NOTICE_PROCESS, notify, tag);
    if (!m)
        return -ENOMEM;
    m->notice.pid = pid;
    m->who = ident_of_pid(pid);
    /* /proc may hide another user's process (hidepid): one that exists
     * for the kernel is the one living now, its start time unknown; the
     * pidfd opened below holds it (it was taken for gone: found by a
     * review). */
    if (m->who == 0 && kill(pid, 0) != 0 && errno == EPERM)
        m->who = ident_make(pid, 0);
    int already = m->who == 0;
    if (!already) {
        int fd = pidfd_of(m->who);
        if (fd >= 0)
            m->target = fd;
        else if (fd == -ESRCH)
            already = 1;
        else if (fd == -ENOSYS)
            m->looked_for = 1;
        else {
            monitor_free(m);
            return fd;
        }
    }
    if ((r = monitor_add(m, already)) == 0)
        *out = m;
    return r;
}

EXPORT int mbx_monitor_mailbox(const char *name, mbx *notify, uint64_t tag, mbx_monitor **out)
{
    if (!name || !out)
        return -EINVAL;
    /* The name first: a bad one is -EINVAL whatever notify is (a review
     * saw notify's -EMSGSIZE). */
    const struct mbx_transport *tp = transport_for(name);
    if (!tp)
        return -EPROTONOSUPPORT;
    int r = tp->check_name(name);
    if (r)
        return r;
    if (!tp->fd || !tp->ready)
        return -ENOTSUP;
    if ((r = notify_ok(notify)))
        return r;
    process_init();
    struct mbx_monitor *m = monitor_new(MBX_NOTICE_MAILBOX, notify, tag);
    if (!m)
        return -ENOMEM;
    snprintf(m->notice.name, sizeof(m->notice.name), "%s", name);
    mbx_options o;
    mbx_options_init(&o);
    /* Flags 0: a handle that takes no right, only watches (a monitor of a
     * mailbox another user owns is passive: MBX_SHARED). */
    r = tp->open(name, MBX_SHARED, &o, &m->watch);
    int already = r == -ENOENT || r == -EIDRM;
    if (r && !already) {
        monitor_free(m);
        return r;
    }
    if (!already) {
        int fd = tp->fd(m->watch, 0);
        if (fd == -EIDRM) {
            already = 1;
        } else if (fd < 0) {
            monitor_free(m);
            return fd;
        } else {
            m->target = fd;
        }
    }
    if ((r = monitor_add(m, already)) == 0)
        *out = m;
    return r;
}

EXPORT int mbx_monitor_fd(const mbx_monitor *mon)
{
    return mon ? mon->flag : -EINVAL;
}

EXPORT int mbx_monitor_fired(mbx_monitor *mon, mbx_notice *notice)
{
    if (!mon)
        return -EINVAL;
    pthread_mutex_lock(&mu);
    int fired = mon->fired;
    if (fired && notice)
        *notice = mon->notice;
    pthread_mutex_unlock(&mu);
    return fired;
}

EXPORT int mbx_monitor_cancel(mbx_monitor *mon)
{
    if (!mon)
        return -EINVAL;
    pthread_mutex_lock(&mu);
    for (struct mbx_monitor **q = &monitors; *q; q = &(*q)->next)
        if (*q == mon) {
            *q = mon->next;
            /* A forked child shares its parent's epoll set (the same open
             * file): a removal here would blind the parent's monitor. */
            if (!mon->fired && mon->target >= 0 && watch_set >= 0 && thread_of == ident_self())
                evset_del(watch_set, mon->target);
            break;
        }
    pthread_mutex_unlock(&mu);
    monitor_free(mon);
    return 0;
}

/* The thread may hold mu when another thread forks: the child would find
 * it held for ever. */
void monitor_fork_prepare(void)
{
    pthread_mutex_lock(&mu);
}

void monitor_fork_parent(void)
{
    pthread_mutex_unlock(&mu);
}

/* The child's copies of the thread's epoll set and wake flag are closed
 * here, while their numbers are still the inherited ones: they leaked, two
 * descriptors a generation, and closing them at the child's first monitor
 * closed whatever the child had opened under those numbers since (found
 * by reviews). */
void monitor_fork_child(void)
{
    unloading = 0; /* forked while the parent's destructors ran: not ours */
    if (watch_set >= 0)
        close(watch_set);
    if (thread_wake >= 0)
        close(thread_wake);
    watch_set = thread_wake = -1;
    pthread_mutex_unlock(&mu);
}

/* When the library is unloaded (dlclose), and at exit: this process's
 * watcher ends and is joined, and its epoll set and wake-up flag closed.
 * Left running it waited in epoll_wait for ever, and returned into
 * unmapped code when a monitored process died (SIGSEGV; unload_test).
 * Monitors not cancelled stay as they are (their descriptors are the
 * caller's). Not for a forked child: the watcher is the parent's (the pid
 * it was made in, by getpid(), as a child made by a raw fork or clone
 * runs no atfork handler and keeps the parent's cached identity; it waited
 * in a join for ever). The lock is waited for a bounded time: exit() from
 * a signal handler that interrupted a holder of it would wait for ever
 * (found by a review); then nothing is done, which at exit is harmless. */
__attribute__((destructor)) static void monitor_unload(void)
{
    if (unload_lock(&mu) != 0)
        return;
    unloading = 1;
    int mine = thread_of != 0 && thread_of == ident_self() && watcher_pid == getpid();
    if (mine)
        evflag_raise(thread_wake);
    pthread_mutex_unlock(&mu);
    if (!mine)
        return;
    pthread_join(watcher_thread, NULL);
    if (unload_lock(&mu) != 0)
        return;
    close(watch_set);
    close(thread_wake);
    watch_set = thread_wake = -1;
    thread_of = 0;
    pthread_mutex_unlock(&mu);
}
