/* Interposers of the C library's descriptor calls, so that the shim sees
 * what happens to an mqd_t outside mq_*:
 * - poll, ppoll, select, pselect, epoll_ctl (and the fortified __poll_chk,
 *   __ppoll_chk): a queue's descriptor handed to them marks its queue
 *   polled first (ready.c), so its pipe is in step before the wait;
 * - close, dup2, dup3, close_range, closefrom: a queue's number closed or
 *   replaced by them is forgotten as mq_close forgets it, so later mq_*
 *   calls on the number say EBADF, as the kernel's do, and a descriptor
 *   the number is given next is not taken for the queue;
 * - dup, dup2, dup3: the copy of a queue's number is entered as the
 *   queue's at once (a poll on it marks the queue);
 * - fcntl, __fcntl, fcntl64: F_SETFL sets the open queue's O_NONBLOCK (as on Linux,
 *   where an mqd_t's file flags are the queue's), F_GETFL reports it and
 *   the queue's access mode, F_DUPFD and F_DUPFD_CLOEXEC enter the copy.
 * Each then calls (or has called) the C library's own function. Their
 * versions are glibc's for x86_64 (a preloaded library's function is
 * chosen only at the version the program asks for): on another target
 * (aarch64's oldest version is GLIBC_2.17, x32's GLIBC_2.16) the same
 * names would be bound to nothing, so other targets go without
 * (MQ_INTERPOSED 0: every queue is kept in step from the start, and
 * close() of an mqd_t is not seen), and their build says so
 * (mq_internal.h). symbols_test.sh checks each version against the C
 * library the tests run with. Calls made by raw system calls
 * are not seen either: README says what follows. */
#include "mq_internal.h"

#if MQ_INTERPOSED

#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The C library's function name@ver (RTLD_NEXT: the one after this
 * library), looked up once. NULL when it has none. */
static void *real(void **cache, const char *name, const char *ver)
{
    void *f = __atomic_load_n(cache, __ATOMIC_ACQUIRE);
    if (!f) {
        f = dlvsym(RTLD_NEXT, name, ver);
        if (!f)
            f = dlsym(RTLD_NEXT, name);
        __atomic_store_n(cache, f, __ATOMIC_RELEASE);
    }
    return f;
}

#define REAL(type, name, ver)                                                                      \
    static void *cache_##name;                                                                     \
    __typeof__(type) real_##name = (__typeof__(type))real(&cache_##name, #name, ver)

static void mark(int fd)
{
    struct mq_desc *d = mq_table_get(fd);
    if (d) {
        mq_ready_polled(d);
        mq_put(d);
    }
}

static void mark_set(int n, fd_set *s)
{
    if (!s)
        return;
    if (n > FD_SETSIZE)
        n = FD_SETSIZE;
    for (int fd = 0; fd < n; fd++)
        if (FD_ISSET(fd, s))
            mark(fd);
}

/* poll(2): marks the queues of fds, then polls. */
MQ_API int mbxmq_w_poll(struct pollfd *fds, nfds_t n, int timeout)
{
    REAL(int (*)(struct pollfd *, nfds_t, int), poll, "GLIBC_2.2.5");
    for (nfds_t i = 0; i < n; i++)
        mark(fds[i].fd);
    return real_poll(fds, n, timeout);
}

/* ppoll(2): as poll. */
MQ_API int mbxmq_w_ppoll(struct pollfd *fds, nfds_t n, const struct timespec *t,
                         const sigset_t *mask)
{
    REAL(int (*)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *), ppoll,
         "GLIBC_2.4");
    for (nfds_t i = 0; i < n; i++)
        mark(fds[i].fd);
    return real_ppoll(fds, n, t, mask);
}

/* The fortified poll (_FORTIFY_SOURCE): as poll. */
MQ_API int mbxmq_w_poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen)
{
    REAL(int (*)(struct pollfd *, nfds_t, int, size_t), __poll_chk, "GLIBC_2.16");
    for (nfds_t i = 0; i < n && i < fdslen / sizeof(*fds); i++)
        mark(fds[i].fd);
    return real___poll_chk(fds, n, timeout, fdslen);
}

/* The fortified ppoll: as poll. */
MQ_API int mbxmq_w_ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *t,
                             const sigset_t *mask, size_t fdslen)
{
    REAL(int (*)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *, size_t),
         __ppoll_chk, "GLIBC_2.16");
    for (nfds_t i = 0; i < n && i < fdslen / sizeof(*fds); i++)
        mark(fds[i].fd);
    return real___ppoll_chk(fds, n, t, mask, fdslen);
}

/* select(2): marks the queues of the three sets, then selects. */
MQ_API int mbxmq_w_select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *t)
{
    REAL(int (*)(int, fd_set *, fd_set *, fd_set *, struct timeval *), select, "GLIBC_2.2.5");
    mark_set(n, r);
    mark_set(n, w);
    mark_set(n, e);
    return real_select(n, r, w, e, t);
}

/* pselect(2): as select. */
MQ_API int mbxmq_w_pselect(int n, fd_set *r, fd_set *w, fd_set *e, const struct timespec *t,
                           const sigset_t *mask)
{
    REAL(int (*)(int, fd_set *, fd_set *, fd_set *, const struct timespec *, const sigset_t *),
         pselect, "GLIBC_2.2.5");
    mark_set(n, r);
    mark_set(n, w);
    mark_set(n, e);
    return real_pselect(n, r, w, e, t, mask);
}

/* epoll_ctl(2): a queue's descriptor added or modified marks its queue. */
MQ_API int mbxmq_w_epoll_ctl(int ep, int op, int fd, struct epoll_event *ev)
{
    REAL(int (*)(int, int, int, struct epoll_event *), epoll_ctl, "GLIBC_2.3.2");
    if (op == EPOLL_CTL_ADD || op == EPOLL_CTL_MOD)
        mark(fd);
    return real_epoll_ctl(ep, op, fd, ev);
}

/* close(2): closes fd; a queue's number is forgotten (mq_close's
 * bookkeeping). Returns as close. */
MQ_API int mbxmq_w_close(int fd)
{
    REAL(int (*)(int), close, "GLIBC_2.2.5");
    struct mq_desc *d = mq_table_known(fd);
    int r = real_close ? real_close(fd) : (int)syscall(SYS_close, fd);
    if (d) {
        int e = errno;
        mq_number_gone(fd, d);
        errno = e;
    }
    return r;
}

/* After newfd became a copy of oldfd (dup, dup2, dup3 returned it): a
 * queue's number it replaced is forgotten, a queue's it copies entered. */
static void copied(int oldfd, int newfd, struct mq_desc *replaced)
{
    int e = errno;
    struct mq_desc *from = mq_table_known(oldfd);
    if (replaced && replaced != from)
        mq_number_gone(newfd, replaced);
    if (from && from != replaced)
        mq_table_enter(newfd, from);
    errno = e;
}

/* dup(2): as dup; the copy of a queue's number is the queue's. */
MQ_API int mbxmq_w_dup(int oldfd)
{
    REAL(int (*)(int), dup, "GLIBC_2.2.5");
    int r = real_dup(oldfd);
    if (r >= 0)
        copied(oldfd, r, NULL);
    return r;
}

/* dup2(2): as dup2 (see copied). */
MQ_API int mbxmq_w_dup2(int oldfd, int newfd)
{
    REAL(int (*)(int, int), dup2, "GLIBC_2.2.5");
    struct mq_desc *was = oldfd == newfd ? NULL : mq_table_known(newfd);
    int r = real_dup2(oldfd, newfd);
    if (r >= 0 && oldfd != newfd)
        copied(oldfd, r, was);
    return r;
}

/* dup3(2): as dup3 (see copied). */
MQ_API int mbxmq_w_dup3(int oldfd, int newfd, int flags)
{
    REAL(int (*)(int, int, int), dup3, "GLIBC_2.9");
    struct mq_desc *was = oldfd == newfd ? NULL : mq_table_known(newfd);
    int r = real_dup3(oldfd, newfd, flags);
    if (r >= 0)
        copied(oldfd, r, was);
    return r;
}

/* close_range(2): as close_range; the queues' numbers it closed are
 * forgotten. */
MQ_API int mbxmq_w_close_range(unsigned first, unsigned last, int flags)
{
    REAL(int (*)(unsigned, unsigned, int), close_range, "GLIBC_2.34");
    int r = real_close_range ? real_close_range(first, last, flags)
                             : (int)syscall(SYS_close_range, first, last, flags);
    if (r == 0 && !(flags & CLOSE_RANGE_CLOEXEC)) {
        int e = errno;
        mq_numbers_gone(first, last);
        errno = e;
    }
    return r;
}

/* closefrom(3): as closefrom; the queues' numbers it closed are
 * forgotten. */
MQ_API void mbxmq_w_closefrom(int lowfd)
{
    REAL(void (*)(int), closefrom, "GLIBC_2.34");
    if (real_closefrom)
        real_closefrom(lowfd);
    else
        (void)syscall(SYS_close_range, (unsigned)lowfd, ~0u, 0);
    if (lowfd >= 0)
        mq_numbers_gone((unsigned)lowfd, ~0u);
}

/* fcntl(2) on fd, by real (the C library's fcntl or fcntl64; NULL: the
 * system call). Only F_SETFL, F_GETFL, F_DUPFD and F_DUPFD_CLOEXEC on a
 * number of the table are the shim's business: every other command, and
 * every descriptor not in the table (one lookup, no system call), goes to
 * the C library unchanged. On a queue's number F_SETFL sets the pipe's
 * flags (the C library's errors) and, when that worked, the open queue's
 * O_NONBLOCK, shared with its duplicates and forked children as mq_setattr
 * sets it; F_GETFL answers the queue's access mode and O_NONBLOCK alone
 * (the pipe is open for reading and writing whatever the queue's mode);
 * the copy F_DUPFD makes is entered as the queue's. */
static int fcntl_with(int (*real)(int, int, ...), int fd, int cmd, void *arg)
{
    struct mq_desc *d = NULL;
    if (cmd == F_SETFL || cmd == F_GETFL || cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
        d = mq_table_get(fd);
    int r = real ? real(fd, cmd, arg) : (int)syscall(SYS_fcntl, fd, cmd, arg);
    if (!d)
        return r;
    if (r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC))
        copied(fd, r, NULL);
    else if (r == 0 && cmd == F_SETFL)
        atomic_store(&d->fl->flags, (int32_t)((int)(intptr_t)arg & O_NONBLOCK));
    else if (r >= 0 && cmd == F_GETFL)
        /* The queue's flags alone, as the kernel's queue descriptor says:
         * not the pipe's own (O_LARGEFILE, O_NOFOLLOW). */
        r = d->accmode | (atomic_load(&d->fl->flags) & O_NONBLOCK);
    mq_put(d);
    return r;
}

/* fcntl(2): as glibc's, the third argument (if any) is taken as a pointer,
 * which every command's argument fits. */
MQ_API int mbxmq_w_fcntl(int fd, int cmd, ...)
{
    REAL(int (*)(int, int, ...), fcntl, "GLIBC_2.2.5");
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return fcntl_with(real_fcntl, fd, cmd, arg);
}

/* __fcntl: glibc exports fcntl under this name too (the same function,
 * public at the same version); a program that calls it by that name is
 * seen as one that calls fcntl. */
MQ_API int mbxmq_w___fcntl(int fd, int cmd, ...)
{
    REAL(int (*)(int, int, ...), __fcntl, "GLIBC_2.2.5");
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return fcntl_with(real___fcntl, fd, cmd, arg);
}

/* fcntl64: what programs built with _FILE_OFFSET_BITS=64 against glibc
 * 2.28 and later call; as fcntl. */
MQ_API int mbxmq_w_fcntl64(int fd, int cmd, ...)
{
    REAL(int (*)(int, int, ...), fcntl64, "GLIBC_2.28");
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return fcntl_with(real_fcntl64, fd, cmd, arg);
}

__asm__(".symver mbxmq_w_poll, poll@@GLIBC_2.2.5");
__asm__(".symver mbxmq_w_ppoll, ppoll@@GLIBC_2.4");
__asm__(".symver mbxmq_w_poll_chk, __poll_chk@@GLIBC_2.16");
__asm__(".symver mbxmq_w_ppoll_chk, __ppoll_chk@@GLIBC_2.16");
__asm__(".symver mbxmq_w_select, select@@GLIBC_2.2.5");
__asm__(".symver mbxmq_w_pselect, pselect@@GLIBC_2.2.5");
__asm__(".symver mbxmq_w_epoll_ctl, epoll_ctl@@GLIBC_2.3.2");
__asm__(".symver mbxmq_w_close, close@@GLIBC_2.2.5");
__asm__(".symver mbxmq_w_dup, dup@@GLIBC_2.2.5");
__asm__(".symver mbxmq_w_dup2, dup2@@GLIBC_2.2.5");
__asm__(".symver mbxmq_w_dup3, dup3@@GLIBC_2.9");
__asm__(".symver mbxmq_w_close_range, close_range@@GLIBC_2.34");
__asm__(".symver mbxmq_w_closefrom, closefrom@@GLIBC_2.34");
__asm__(".symver mbxmq_w_fcntl, fcntl@@GLIBC_2.2.5");
__asm__(".symver mbxmq_w___fcntl, __fcntl@@GLIBC_2.2.5");
__asm__(".symver mbxmq_w_fcntl64, fcntl64@@GLIBC_2.28");

#endif
