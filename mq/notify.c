/* mq_notify: one registration per queue, kept in the side file so every
 * process sees it.
 *
 * The registrant proves it is alive with an owned mailbox (MBX_OWNED: mbx
 * removes it when the process ends in any way, kill -9 included), whose
 * owner must be the registered pid: a registration whose mailbox is gone
 * belongs to a dead process and is free, and no signal goes to a pid
 * another process took over.
 *
 * The sender whose message lands in an empty queue while no receiver is
 * blocked takes the registration (compare-and-swap of its token to none)
 * and delivers it: SIGEV_SIGNAL with sigqueue's information and si_code
 * SI_MESGQ; SIGEV_THREAD by waking the registrant's helper thread through
 * a futex in the side file, which calls the function; SIGEV_NONE by only
 * removing the registration.
 *
 * Whoever may use the queue at all may write the side file (and an owned
 * mailbox of its own, header included), so nothing read there is proof
 * enough to send a signal with the sender's credentials. What a sender
 * trusts instead is what another user cannot fake:
 * - the mailbox's name spells the registration out (token, pid, kind,
 *   signal, value, and the side file's device and inode: this queue), so
 *   whoever made the file claimed exactly that registration;
 * - its file is owned by a user who could signal that pid himself (the
 *   kernel's rule: root, or the target's real or saved uid), is not
 *   writable by group or others (its header, with owner_pid, is then that
 *   user's word) and has one link (not another user's file linked under a
 *   forged name; in a sticky directory nobody else can rename it);
 * - the pid holds that very file open (/proc/PID/fd), so it is the process
 *   that registered and not one that took over a dead registrant's pid;
 * - the signal is sent through a pidfd opened before these checks, so the
 *   process checked is the one signalled.
 * When any of it cannot be checked (another user's /proc without root, a
 * kernel without /proc) no signal is sent and the registration goes: the
 * kernel would refuse a non-root sender another user's process anyway. */
#include "mq_internal.h"

#include <fcntl.h>
#include <dirent.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* What a registration is: the mailbox that proves it is named after it. */
struct mq_reg {
    uint64_t token;
    int32_t pid, how, signo;
    uint64_t value;
};

/* The name of the registrant's mailbox for r on the queue whose side file
 * is open on side_fd. Returns 0, or -1 when side_fd cannot be looked at. */
static int box_name(const struct mq_reg *r, int side_fd, char *out, size_t cap)
{
    struct stat st;
    if (fstat(side_fd, &st) < 0)
        return -1;
    int w = snprintf(out, cap, "%s%016llx.%x.%x.%x.%llx.%llx.%llx", MQ_NOTIFY_PREFIX,
                     (unsigned long long)r->token, (unsigned)r->pid, (unsigned)r->how,
                     (unsigned)r->signo, (unsigned long long)r->value,
                     (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
    return w > 0 && (size_t)w < cap ? 0 : -1;
}

/* The registration the side file names (its fields as written there). */
static struct mq_reg reg_of(const struct mq_side *s, uint64_t token)
{
    struct mq_reg r = {token, s->reg_pid, s->reg_notify, s->reg_signo, s->reg_value};
    return r;
}

/* Returns 1 when the registrant of r is alive: its owned mailbox exists
 * and is owned by r's pid (which, for a mailbox of another user, only
 * means that user says so: see registrant_proven). */
static int registrant_alive(const struct mq_reg *r, int side_fd)
{
    char name[MQ_MBX_NAME_MAX];
    mbx_stat st;
    return r->pid > 0 && box_name(r, side_fd, name, sizeof(name)) == 0 &&
           mbx_stat_name(name, &st) == 0 && st.owner_pid == r->pid;
}

/* Whether uid may signal pid by the kernel's rule for a sender of that
 * uid: root, or pid's real or saved uid (/proc/PID/status). 0 when it
 * cannot be read. */
static int uid_may_signal(uid_t uid, int32_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    int ok = 0;
    while (fgets(line, sizeof(line), f)) {
        unsigned long ru, eu, su;
        if (sscanf(line, "Uid: %lu %lu %lu", &ru, &eu, &su) == 3) {
            ok = uid == 0 || uid == ru || uid == su;
            break;
        }
    }
    fclose(f);
    return ok;
}

/* Whether pid holds the file (dev, ino) open: at descriptor `hint` (what
 * the side file says), else at any. 0 when /proc/PID/fd cannot be read. */
static int holds_open(int32_t pid, int hint, dev_t dev, ino_t ino)
{
    char path[64];
    struct stat st;
    snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, hint);
    if (hint >= 0 && stat(path, &st) == 0 && st.st_dev == dev && st.st_ino == ino)
        return 1;
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    DIR *dh = opendir(path);
    if (!dh)
        return 0;
    int found = 0;
    struct dirent *e;
    while (!found && (e = readdir(dh)) != NULL)
        found = e->d_name[0] != '.' && fstatat(dirfd(dh), e->d_name, &st, 0) == 0 &&
                st.st_dev == dev && st.st_ino == ino;
    closedir(dh);
    return found;
}

/* Returns 1 when r (read from d's side file) is a registration its pid
 * really made for this queue and signal (see the top of the file), 0
 * otherwise or when it cannot be told. */
static int registrant_proven(struct mq_desc *d, const struct mq_reg *r, int hint)
{
    char name[MQ_MBX_NAME_MAX], path[PATH_MAX + 64];
    struct stat st;
    if (r->pid <= 0 || r->signo < 1 || r->signo > SIGRTMAX ||
        box_name(r, d->side_fd, name, sizeof(name)) != 0 ||
        mq_mbx_path(d->dir, name, path, sizeof(path)) != 0 || lstat(path, &st) < 0)
        return 0;
    if (!S_ISREG(st.st_mode) || st.st_nlink != 1 || (st.st_mode & 0022) != 0)
        return 0; /* someone else may have made or changed what it says */
    return uid_may_signal(st.st_uid, r->pid) && registrant_alive(r, d->side_fd) &&
           holds_open(r->pid, hint, st.st_dev, st.st_ino);
}

/* Sends signo with si to pid, through pidfd when there is one (then only
 * the process it was opened on gets it). */
static void send_signal(int pidfd, int32_t pid, int signo, siginfo_t *si)
{
#ifdef SYS_pidfd_send_signal
    if (pidfd >= 0) {
        syscall(SYS_pidfd_send_signal, pidfd, signo, si, 0);
        return;
    }
#endif
    syscall(SYS_rt_sigqueueinfo, pid, signo, si);
}

/* A pidfd of pid (-1 where the kernel has none). */
static int pidfd_of(int32_t pid)
{
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
#else
    (void)pid;
    return -1;
#endif
}

static long futex(_Atomic uint32_t *w, int op, uint32_t val, const struct timespec *t)
{
    return syscall(SYS_futex, (uint32_t *)w, op, val, t, NULL, 0);
}

/* Shared by the helper thread and the description that registered (two
 * references: whoever lets go last frees it). */
struct mq_helper {
    _Atomic int refs;
    struct mq_side *side; /* mapped for the helper: the queue may close first */
    int side_fd;
    uint64_t token;
    _Atomic int cancel;
    void (*fn)(union sigval);
    union sigval value;
};

/* The SIGEV_THREAD helper: waits until its registration fires (then runs
 * the function, as the new thread glibc would start) or is withdrawn. */
static void helper_put(struct mq_helper *h)
{
    if (atomic_fetch_sub(&h->refs, 1) == 1)
        free(h);
}

static void *helper_main(void *arg)
{
    struct mq_helper *h = arg;
    for (;;) {
        uint32_t seq = atomic_load(&h->side->fire_seq);
        if (atomic_load(&h->side->fired_token) == h->token) {
            if (!atomic_load(&h->cancel))
                h->fn(h->value);
            break;
        }
        uint64_t reg = atomic_load(&h->side->reg);
        if (atomic_load(&h->cancel) || (reg != h->token && reg != MQ_REG_WRITING))
            break; /* withdrawn (WRITING: our registration being written) */
        struct timespec t = {0, 100000000}; /* looks again at least every 100 ms */
        futex(&h->side->fire_seq, FUTEX_WAIT, seq, &t);
    }
    mq_side_close(h->side_fd, h->side);
    helper_put(h);
    return NULL;
}

static void wake_all(struct mq_side *s)
{
    atomic_fetch_add(&s->fire_seq, 1);
    futex(&s->fire_seq, FUTEX_WAKE, INT32_MAX, NULL);
}

/* Withdraws the registration d made, if it still holds it, and lets go of
 * what it kept for it. */
void mq_notify_drop(struct mq_desc *d)
{
    if (d->token) {
        uint64_t t = d->token;
        atomic_compare_exchange_strong(&d->side->reg, &t, MQ_REG_NONE);
    }
    if (d->helper) {
        atomic_store(&d->helper->cancel, 1);
        wake_all(d->side);
        helper_put(d->helper);
    }
    if (d->alive_box) {
        close(d->alive_fd);
        mbx_close(d->alive_box); /* the owned mailbox goes with it */
    }
    d->alive_box = NULL;
    d->helper = NULL;
    d->token = 0;
}

static int start_helper(struct mq_desc *d, const struct sigevent *sev, uint64_t token)
{
    struct mq_helper *h = calloc(1, sizeof(*h));
    if (!h)
        return ENOMEM;
    atomic_store(&h->refs, 2);
    h->token = token;
    h->fn = sev->sigev_notify_function;
    h->value = sev->sigev_value;
    h->side_fd = dup(d->side_fd); /* its own mapping: the queue may close first */
    h->side = h->side_fd < 0 ? NULL : mq_side_map(h->side_fd);
    if (!h->side) {
        if (h->side_fd >= 0)
            close(h->side_fd);
        free(h);
        return ENOMEM;
    }
    pthread_attr_t def, *a = sev->sigev_notify_attributes;
    if (!a) {
        pthread_attr_init(&def);
        a = &def;
    }
    pthread_attr_setdetachstate(a, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    d->helper = h;
    int r = pthread_create(&t, a, helper_main, h);
    if (a == &def)
        pthread_attr_destroy(&def);
    if (r != 0) {
        d->helper = NULL;
        mq_side_close(h->side_fd, h->side);
        free(h);
    }
    return r;
}

/* mq_notify(3): registers this process for one notification when a message
 * arrives in the empty queue (sev NULL: withdraws its registration).
 * Returns 0, or -1 with errno EBADF, EBUSY (another live process, or this
 * one, is registered), EINVAL (sigev_notify, or a signal number outside
 * 0..NSIG-1: 0 registers, as Linux's does, and fires no signal), ENOMEM,
 * EAGAIN (no thread), or an errno of the mailbox that proves it lives. */
MQ_API int mbxmq_notify(mqd_t q, const struct sigevent *sev)
{
    struct mq_desc *d = mq_lookup(q);
    if (!d)
        return -1;
    struct mq_side *s = d->side;
    if (!sev) {
        uint64_t cur = atomic_load(&s->reg);
        if (cur > MQ_REG_WRITING && s->reg_pid == getpid() && d->token != cur) {
            /* registered through another descriptor of this process */
            atomic_compare_exchange_strong(&s->reg, &cur, MQ_REG_NONE);
            wake_all(s);
        }
        mq_notify_drop(d);
        return 0;
    }
    if (sev->sigev_notify != SIGEV_NONE && sev->sigev_notify != SIGEV_SIGNAL &&
        sev->sigev_notify != SIGEV_THREAD)
        return mq_fail(EINVAL);
    if (sev->sigev_notify == SIGEV_SIGNAL && (sev->sigev_signo < 0 || sev->sigev_signo >= NSIG))
        return mq_fail(EINVAL);
    /* A registration whose registrant died is free. */
    uint64_t cur = atomic_load(&s->reg);
    struct mq_reg old = reg_of(s, cur);
    if (cur > MQ_REG_WRITING && !registrant_alive(&old, d->side_fd))
        atomic_compare_exchange_strong(&s->reg, &cur, MQ_REG_NONE);
    if (atomic_load(&s->reg) != MQ_REG_NONE)
        return mq_fail(EBUSY);
    mq_notify_drop(d); /* what an earlier, fired registration left */
    uint64_t token = 0;
    while (token <= MQ_REG_WRITING)
        if (getrandom(&token, sizeof(token), 0) != sizeof(token))
            return mq_fail(EAGAIN);
    uint64_t v = 0;
    memcpy(&v, &sev->sigev_value, sizeof(sev->sigev_value) < 8 ? sizeof(sev->sigev_value) : 8);
    struct mq_reg mine = {token, (int32_t)getpid(), sev->sigev_notify, sev->sigev_signo, v};
    char name[MQ_MBX_NAME_MAX], path[PATH_MAX + 64];
    if (box_name(&mine, d->side_fd, name, sizeof(name)) != 0 ||
        mq_mbx_path(d->dir, name, path, sizeof(path)) != 0)
        return mq_fail(EBADF);
    mbx_attr a;
    mbx_attr_init(&a);
    a.capacity = 1;
    a.max_msg_size = 1;
    a.mode = 0644 & ~0022u; /* others only look at it: its header is our word */
    int r = mbx_open(name, MBX_CREATE | MBX_EXCL | MBX_OWNED | MBX_RECV, &a, &d->alive_box);
    if (r < 0)
        return mq_fail(r);
    /* Held open for as long as we are registered: a sender's proof that
     * this process, and no other with our pid later, registered. */
    d->alive_fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    uint64_t none = MQ_REG_NONE;
    if (d->alive_fd < 0 || !atomic_compare_exchange_strong(&s->reg, &none, MQ_REG_WRITING)) {
        int e = d->alive_fd < 0 ? errno : EBUSY;
        if (d->alive_fd >= 0)
            close(d->alive_fd);
        mbx_close(d->alive_box);
        d->alive_box = NULL;
        return mq_fail(e);
    }
    s->reg_pid = mine.pid;
    s->reg_notify = mine.how;
    s->reg_signo = mine.signo;
    s->reg_value = v;
    s->reg_fd = d->alive_fd;
    d->token = token;
    if (sev->sigev_notify == SIGEV_THREAD && (r = start_helper(d, sev, token)) != 0) {
        atomic_store(&s->reg, MQ_REG_NONE);
        mq_notify_drop(d);
        return mq_fail(r == ENOMEM ? ENOMEM : EAGAIN);
    }
    atomic_store(&s->reg, token);
    return 0;
}

/* After a successful send on d: fires the registration when the message
 * went into an empty queue and no receiver is blocked. Costs one load of
 * the side file when nobody is registered; a signal goes only to a
 * registrant proven as the top of the file says. */
void mq_notify_after_send(struct mq_desc *d)
{
    struct mq_side *s = d->side;
    uint64_t token = atomic_load_explicit(&s->reg, memory_order_acquire);
    if (token <= MQ_REG_WRITING || mq_blocked_any(s))
        return;
    mbx_stat st;
    if (mbx_stat_get(d->h, &st) < 0 || st.count != 1)
        return; /* the queue was not empty before this message */
    struct mq_reg r = reg_of(s, token);
    int hint = s->reg_fd;
    if (!atomic_compare_exchange_strong(&s->reg, &token, MQ_REG_NONE))
        return; /* someone else fired or withdrew it */
    if (r.how == SIGEV_SIGNAL && r.signo != 0) {
        /* The pidfd first: the process proven below is then the one that
         * gets the signal, even if it dies and its pid is reused meanwhile. */
        int pidfd = r.pid > 0 ? pidfd_of(r.pid) : -1;
        if (pidfd < 0 && (r.pid <= 0 || errno != ENOSYS))
            return; /* no such process (or none we can pin) */
        if (registrant_proven(d, &r, hint)) {
            siginfo_t si;
            memset(&si, 0, sizeof(si));
            si.si_signo = r.signo;
            si.si_code = SI_MESGQ;
            si.si_pid = getpid();
            si.si_uid = getuid();
            memcpy(&si.si_value, &r.value, sizeof(si.si_value) < 8 ? sizeof(si.si_value) : 8);
            send_signal(pidfd, r.pid, r.signo, &si);
        }
        if (pidfd >= 0)
            close(pidfd);
    } else if (!registrant_alive(&r, d->side_fd)) {
        return; /* its process died: the registration just goes */
    } else if (r.how == SIGEV_THREAD) {
        atomic_store(&s->fired_token, token);
        wake_all(s);
    }
}
