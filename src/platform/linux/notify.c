/* Notices between processes (platform.h): datagram sockets bound at a
 * path, pidfds, and epoll sets. */
#include "platform/platform.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

int plat_random(uint64_t *out)
{
    ssize_t n = getrandom(out, sizeof(*out), 0);
    return n == (ssize_t)sizeof(*out) ? 0 : n < 0 ? -errno : -EIO;
}

static int sun_of(const char *path, struct sockaddr_un *a)
{
    size_t n = strlen(path);
    if (n >= sizeof(a->sun_path))
        return -ENAMETOOLONG;
    memset(a, 0, sizeof(*a));
    a->sun_family = AF_UNIX;
    memcpy(a->sun_path, path, n + 1);
    return 0;
}

int note_bind(const char *path, unsigned mode, uint32_t gid)
{
    struct sockaddr_un a;
    int r = sun_of(path, &a);
    if (r)
        return r;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        r = -errno;
        close(fd);
        return r;
    }
    /* bind made the file with the umask's bits; senders need write. Until
     * the chmod the bits are the umask's, which at worst lets others wake
     * us for nothing. */
    if ((r = note_set_mode(path, mode, gid)) != 0) {
        unlink(path);
        close(fd);
        return r;
    }
    return fd;
}

int note_set_mode(const char *path, unsigned mode, uint32_t gid)
{
    /* By a descriptor of the file itself, not by name: in a directory
     * others may write, the socket could be swapped for a symbolic link
     * (or a link to another file of ours) between bind and here, and
     * chmod would follow it. */
    int pfd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (pfd < 0)
        return errno == ELOOP ? -EPERM : -errno;
    struct stat st;
    int r = 0;
    if (fstat(pfd, &st) != 0)
        r = -errno;
    else if (!S_ISSOCK(st.st_mode) || st.st_uid != geteuid())
        r = -EPERM;
    if (!r && gid != (uint32_t)-1 && fchownat(pfd, "", (uid_t)-1, gid, AT_EMPTY_PATH) != 0) {
        /* Not a member of the mailbox's group: the mode's group bits then
         * mean our own group, which is what the file system gives us. */
    }
    if (!r) {
        /* fchmod does not take an O_PATH descriptor; its /proc name does. */
        char self[40];
        snprintf(self, sizeof(self), "/proc/self/fd/%d", pfd);
        if (chmod(self, mode) != 0)
            r = -errno;
        /* No /proc: by name, refusing a symbolic link (fchmodat2). */
        if (r == -ENOENT && fchmodat(AT_FDCWD, path, mode, AT_SYMLINK_NOFOLLOW) == 0)
            r = 0;
    }
    close(pfd);
    return r;
}

/* One unbound socket per process sends every notice; close-on-exec, and
 * shared with forked children, which is harmless for unconnected sends. */
static int sender = -1;

static int sender_fd(void)
{
    int fd = __atomic_load_n(&sender, __ATOMIC_ACQUIRE);
    if (fd >= 0)
        return fd;
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int none = -1;
    if (!__atomic_compare_exchange_n(&sender, &none, fd, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        close(fd);
        fd = none;
    }
    return fd;
}

int note_send(const char *path)
{
    struct sockaddr_un a;
    int r = sun_of(path, &a);
    if (r)
        return r;
    int fd = sender_fd();
    if (fd < 0)
        return fd;
    char none = 0;
    if (sendto(fd, &none, 0, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&a, sizeof(a)) == 0)
        return 0;
    r = -errno;
    /* A full queue is a readable socket: the notice is already there. */
    return r == -EAGAIN || r == -ENOBUFS ? 0 : r;
}

int note_unlink_unbound(const char *path)
{
    struct sockaddr_un a;
    int r = sun_of(path, &a);
    if (r)
        return r;
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISSOCK(st.st_mode))
        return 0;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    /* Connecting sends nothing: a live poller is not woken by the probe. */
    int c = connect(fd, (struct sockaddr *)&a, sizeof(a));
    int refused = c != 0 && errno == ECONNREFUSED;
    close(fd);
    if (c == 0)
        return -EBUSY;
    if (!refused)
        return 0;
    return unlink(path) == 0 ? 1 : errno == ENOENT ? 0 : -errno;
}

int note_drain(int fd)
{
    /* Notices are empty datagrams: up to 16 in one system call, which is
     * all there ever are but for someone sending them to wake us. */
    enum { BATCH = 16 };
    struct mmsghdr m[BATCH];
    memset(m, 0, sizeof(m));
    int total = 0, n;
    while ((n = recvmmsg(fd, m, BATCH, MSG_DONTWAIT, NULL)) > 0) {
        total += n;
        if (n < BATCH)
            break;
    }
    return total;
}

int pidfd_of(ident_t who)
{
#ifdef SYS_pidfd_open
    int fd = (int)syscall(SYS_pidfd_open, (pid_t)ident_id(who), 0);
    if (fd < 0)
        return -errno;
    (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
    /* The pid may name a later process by now: the pidfd is only ours if
     * the process it names is still the one we mean. */
    if (!ident_alive(who)) {
        close(fd);
        return -ESRCH;
    }
    return fd;
#else
    (void)who;
    return -ENOSYS;
#endif
}

int fd_readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int n = poll(&p, 1, 0);
    if (n < 0)
        return -errno;
    return n > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)) ? 1 : 0;
}

int evset_new(void)
{
    int fd = epoll_create1(EPOLL_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int evset_add(int set, int fd)
{
    struct epoll_event e = {.events = EPOLLIN, .data.fd = fd};
    return epoll_ctl(set, EPOLL_CTL_ADD, fd, &e) == 0 ? 0 : -errno;
}

int evset_del(int set, int fd)
{
    return epoll_ctl(set, EPOLL_CTL_DEL, fd, NULL) == 0 ? 0 : -errno;
}

int evflag_new(void)
{
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return fd < 0 ? -errno : fd;
}

void evflag_raise(int fd)
{
    uint64_t one = 1;
    (void)!write(fd, &one, sizeof(one));
}

void evflag_lower(int fd)
{
    uint64_t v;
    (void)!read(fd, &v, sizeof(v));
}

ident_t ident_of_pid(int32_t pid)
{
    uint64_t start;
    return pid > 0 && proc_start(pid, &start) == 0 ? ident_make(pid, (uint32_t)start) : 0;
}
