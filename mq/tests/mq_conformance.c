/* Conformance of POSIX message queues, run against the kernel's queues and
 * against libmbx-mq (the same program, run plain, under LD_PRELOAD, and
 * linked with the shim): every check must hold for both, except where a
 * test says the kernel's limits or the shim's differ. */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

#include "../../tests/test_util.h"

/* Whether libmbx-mq provides mq_* in this run. */
static int shim;
/* The test program's pid, in queue names (children use the same names). */
static pid_t main_pid;

/* Every queue a test creates, unlinked at teardown and exit even when a
 * check failed (kernel queues outlive the process otherwise). */
static char made[64][64];
static int nmade;

static const char *qname(const char *tag)
{
    static char buf[8][64];
    static int k;
    char *b = buf[k++ % 8];
    snprintf(b, 64, "/mbxmqt.%d.%s", (int)main_pid, tag);
    for (int i = 0; i < nmade; i++)
        if (strcmp(made[i], b) == 0)
            return b;
    if (nmade < 64)
        snprintf(made[nmade++], 64, "%s", b);
    return b;
}

static void unlink_all(void)
{
    if (getpid() != main_pid)
        return; /* a child's exit */
    for (int i = 0; i < nmade; i++)
        mq_unlink(made[i]);
    nmade = 0;
}

static mqd_t mk(const char *tag, int flags, long maxmsg, long msgsize)
{
    struct mq_attr a = {.mq_maxmsg = maxmsg, .mq_msgsize = msgsize};
    mq_unlink(qname(tag));
    mqd_t q = mq_open(qname(tag), O_CREAT | O_EXCL | flags, 0600, &a);
    assert_int_not_equal(q, (mqd_t)-1);
    return q;
}

#define ERR(call, e)                                                                               \
    do {                                                                                           \
        errno = 0;                                                                                 \
        assert_int_equal((long)(call), -1);                                                        \
        assert_int_equal(errno, (e));                                                              \
    } while (0)

static struct timespec in_ms(long ms)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int wait_child(pid_t p)
{
    int st;
    pid_t r;
    while ((r = waitpid(p, &st, 0)) < 0 && errno == EINTR) {
    }
    if (r != p)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ---- names and opening ---- */

static void names(void **state)
{
    (void)state;
    ERR(mq_open("noslash", O_CREAT | O_RDWR, 0600, NULL), EINVAL);
    ERR(mq_open("/", O_CREAT | O_RDWR, 0600, NULL), ENOENT);
    ERR(mq_open("/a/b", O_CREAT | O_RDWR, 0600, NULL), EACCES);
    ERR(mq_open("/.", O_CREAT | O_RDWR, 0600, NULL), EACCES);
    ERR(mq_open("/..", O_CREAT | O_RDWR, 0600, NULL), EACCES);
    char big[300] = "/";
    memset(big + 1, 'x', 256);
    ERR(mq_open(big, O_CREAT | O_RDWR, 0600, NULL), ENAMETOOLONG);
    ERR(mq_unlink("noslash"), EINVAL);
    ERR(mq_unlink(big), ENAMETOOLONG);
    ERR(mq_unlink("/"), ENOENT);
    ERR(mq_unlink(qname("never")), ENOENT);
    ERR(mq_open(qname("never"), O_RDWR), ENOENT);
    /* Any byte but '/' is part of a name. */
    const char *odd = qname("sp ace_%\xc3\xa9");
    mqd_t q = mq_open(odd, O_CREAT | O_EXCL | O_RDWR, 0600, NULL);
    assert_int_not_equal(q, (mqd_t)-1);
    assert_int_equal(mq_close(q), 0);
    assert_int_equal(mq_unlink(odd), 0);
    /* The kernel takes up to NAME_MAX (255) bytes; mbx names are shorter. */
    big[256] = '\0';
    q = mq_open(big, O_CREAT | O_RDWR, 0600, NULL);
    if (shim) {
        assert_int_equal(q, (mqd_t)-1);
        assert_int_equal(errno, ENAMETOOLONG);
    } else {
        assert_int_not_equal(q, (mqd_t)-1);
        mq_close(q);
        mq_unlink(big);
    }
}

static void open_flags(void **state)
{
    (void)state;
    mqd_t q = mk("flags", O_RDWR, 4, 16);
    ERR(mq_open(qname("flags"), O_CREAT | O_EXCL | O_RDWR, 0600, NULL), EEXIST);
    ERR(mq_open(qname("flags"), O_ACCMODE), EINVAL);
    struct mq_attr bad = {.mq_maxmsg = 0, .mq_msgsize = 16};
    ERR(mq_open(qname("bad"), O_CREAT | O_RDWR, 0600, &bad), EINVAL);
    bad.mq_maxmsg = 4;
    bad.mq_msgsize = -1;
    ERR(mq_open(qname("bad"), O_CREAT | O_RDWR, 0600, &bad), EINVAL);
    /* O_CREAT of an existing queue opens it; its attributes stay. */
    struct mq_attr other = {.mq_maxmsg = 2, .mq_msgsize = 8}, a;
    mqd_t q2 = mq_open(qname("flags"), O_CREAT | O_RDWR, 0600, &other);
    assert_int_not_equal(q2, (mqd_t)-1);
    assert_int_equal(mq_getattr(q2, &a), 0);
    assert_int_equal(a.mq_maxmsg, 4);
    assert_int_equal(a.mq_msgsize, 16);
    assert_int_equal(a.mq_curmsgs, 0);
    assert_int_equal(a.mq_flags, 0);
    /* Even with attributes a new queue could not have: they are not looked
     * at (the shim said EINVAL); O_EXCL says EEXIST first. */
    struct mq_attr zero = {.mq_maxmsg = 0, .mq_msgsize = 0};
    mqd_t q4 = mq_open(qname("flags"), O_CREAT | O_RDWR, 0600, &zero);
    assert_int_not_equal(q4, (mqd_t)-1);
    assert_int_equal(mq_getattr(q4, &a), 0);
    assert_int_equal(a.mq_maxmsg, 4);
    mq_close(q4);
    ERR(mq_open(qname("flags"), O_CREAT | O_EXCL | O_RDWR, 0600, &zero), EEXIST);
    /* Defaults without attributes: Linux's 10 x 8192. */
    mq_unlink(qname("dflt"));
    mqd_t q3 = mq_open(qname("dflt"), O_CREAT | O_RDWR, 0600, NULL);
    assert_int_not_equal(q3, (mqd_t)-1);
    assert_int_equal(mq_getattr(q3, &a), 0);
    assert_int_equal(a.mq_maxmsg, 10);
    assert_int_equal(a.mq_msgsize, 8192);
    /* Closed on exec. */
    assert_true(fcntl(q, F_GETFD) & FD_CLOEXEC);
    /* A descriptor that is no queue. */
    ERR(mq_send((mqd_t)274, "x", 1, 0), EBADF);
    ERR(mq_getattr((mqd_t)-1, &a), EBADF);
    ERR(mq_close((mqd_t)274), EBADF);
    mq_close(q);
    mq_close(q2);
    mq_close(q3);
    ERR(mq_send(q, "x", 1, 0), EBADF);
}

static pid_t send_from_child(const char *tag, int delay_ms);

/* ---- sending and receiving ---- */

static void send_receive(void **state)
{
    (void)state;
    mqd_t q = mk("sr", O_RDWR, 8, 32);
    char buf[64];
    unsigned prio;
    ERR(mq_send(q, buf, 33, 0), EMSGSIZE);
    ERR(mq_send(q, buf, 1, MQ_PRIO_MAX), EINVAL);
    ERR(mq_receive(q, buf, 31, NULL), EMSGSIZE);
    assert_int_equal(MQ_PRIO_MAX, 32768);
    /* Highest priority first, oldest first within one. */
    const char *msgs[] = {"a1", "b5", "c1", "d5", "e0", "f32767"};
    unsigned prios[] = {1, 5, 1, 5, 0, 32767};
    for (int i = 0; i < 6; i++)
        assert_int_equal(mq_send(q, msgs[i], strlen(msgs[i]), prios[i]), 0);
    struct mq_attr a;
    assert_int_equal(mq_getattr(q, &a), 0);
    assert_int_equal(a.mq_curmsgs, 6);
    const char *order[] = {"f32767", "b5", "d5", "a1", "c1", "e0"};
    for (int i = 0; i < 6; i++) {
        ssize_t n = mq_receive(q, buf, sizeof(buf), &prio);
        assert_int_equal(n, (ssize_t)strlen(order[i]));
        assert_memory_equal(buf, order[i], (size_t)n);
    }
    /* Empty messages exist. */
    assert_int_equal(mq_send(q, "", 0, 3), 0);
    assert_int_equal(mq_receive(q, buf, sizeof(buf), &prio), 0);
    assert_int_equal(prio, 3);
    /* Direction of the descriptor. */
    mqd_t r = mq_open(qname("sr"), O_RDONLY);
    mqd_t w = mq_open(qname("sr"), O_WRONLY);
    assert_true(r != (mqd_t)-1 && w != (mqd_t)-1);
    ERR(mq_send(r, "x", 1, 0), EBADF);
    ERR(mq_receive(w, buf, sizeof(buf), NULL), EBADF);
    assert_int_equal(mq_send(w, "w", 1, 0), 0);
    assert_int_equal(mq_receive(r, buf, sizeof(buf), NULL), 1);
    mq_close(r);
    mq_close(w);
    mq_close(q);
}

/* NULL where Linux takes it (mq_getattr's attr), EFAULT where it copies
 * from or to it; and the errors the kernel finds before the descriptor
 * (a priority, a timeout) come first. Called through pointers: glibc
 * declares the arguments nonnull. */
static void null_arguments_and_error_order(void **state)
{
    (void)state;
    int (*volatile getattr)(mqd_t, struct mq_attr *) = mq_getattr;
    int (*volatile send)(mqd_t, const char *, size_t, unsigned) = mq_send;
    ssize_t (*volatile receive)(mqd_t, char *, size_t, unsigned *) = mq_receive;
    mqd_t q = mk("null", O_RDWR | O_NONBLOCK, 4, 64);
    char buf[128] = "hello";
    assert_int_equal(getattr(q, NULL), 0);
    ERR(send(q, NULL, 10, 0), EFAULT);
    ERR(send(q, NULL, 100, 0), EMSGSIZE);     /* the size is checked first */
    assert_int_equal(send(q, NULL, 0, 0), 0); /* nothing to copy */
    assert_int_equal(receive(q, buf, 64, NULL), 0);
    assert_int_equal(send(q, buf, 5, 1), 0);
    ERR(receive(q, NULL, 64, NULL), EFAULT);
    ERR(receive(q, NULL, 10, NULL), EMSGSIZE);
    /* The priority and the timeout before the descriptor and the size. */
    struct timespec bad = {0, 2000000000L};
    ERR(mq_send(9999, buf, 5, 40000), EINVAL);
    ERR(mq_send(q, buf, 100, 40000), EINVAL);
    ERR(mq_timedsend(9999, buf, 5, 0, &bad), EINVAL);
    ERR(mq_timedreceive(9999, buf, 64, NULL, &bad), EINVAL);
    ERR(mq_timedsend(q, buf, 100, 0, &bad), EINVAL);
    ERR(mq_timedreceive(q, buf, 10, NULL, &bad), EINVAL);
    mq_close(q);
}

/* mq_receive into a NULL buffer of a valid length says EFAULT. The
 * kernel takes the message first and loses it; the shim takes none (a
 * deliberate difference: the message stays for the next receive). */
static void null_buffer_keeps_the_message(void **state)
{
    (void)state;
    ssize_t (*volatile receive)(mqd_t, char *, size_t, unsigned *) = mq_receive;
    mqd_t q = mk("nullbuf", O_RDWR | O_NONBLOCK, 4, 64);
    char buf[64];
    struct mq_attr a;
    assert_int_equal(mq_send(q, "first", 5, 1), 0);
    assert_int_equal(mq_send(q, "second", 6, 0), 0);
    ERR(receive(q, NULL, 64, NULL), EFAULT);
    assert_int_equal(mq_getattr(q, &a), 0);
    assert_int_equal(a.mq_curmsgs, shim ? 2 : 1);
    if (shim) {
        assert_int_equal(receive(q, buf, 64, NULL), 5);
        assert_memory_equal(buf, "first", 5);
    }
    assert_int_equal(receive(q, buf, 64, NULL), 6);
    assert_memory_equal(buf, "second", 6);
    ERR(receive(q, buf, 64, NULL), EAGAIN);
    mq_close(q);
}

/* mq_maxmsg bounds the messages queued, however they were taken: one
 * received ahead of older ones (a higher priority) makes room at once. */
static void capacity_counts_messages(void **state)
{
    (void)state;
    mqd_t q = mk("cap", O_RDWR | O_NONBLOCK, 4, 8);
    char buf[8];
    unsigned prio;
    assert_int_equal(mq_send(q, "old", 3, 0), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(mq_send(q, "hi", 2, 5), 0);
    ERR(mq_send(q, "x", 1, 0), EAGAIN);
    for (int round = 0; round < 10; round++) { /* "old" stays queued throughout */
        assert_int_equal(mq_receive(q, buf, 8, &prio), 2);
        assert_int_equal(prio, 5);
        assert_int_equal(mq_send(q, "hi", 2, 5), 0);
        ERR(mq_send(q, "x", 1, 0), EAGAIN);
    }
    /* A blocking send waits only while the queue holds mq_maxmsg. */
    struct mq_attr blocking = {.mq_flags = 0};
    assert_int_equal(mq_setattr(q, &blocking, NULL), 0);
    assert_int_equal(mq_receive(q, buf, 8, &prio), 2);
    struct timespec t = in_ms(2000);
    assert_int_equal(mq_timedsend(q, "hi", 2, 5, &t), 0);
    mq_close(q);
}

static void nonblocking(void **state)
{
    (void)state;
    mqd_t q = mk("nb", O_RDWR | O_NONBLOCK, 2, 8);
    char buf[8];
    struct mq_attr a, old;
    assert_int_equal(mq_getattr(q, &a), 0);
    assert_int_equal(a.mq_flags, O_NONBLOCK);
    ERR(mq_receive(q, buf, 8, NULL), EAGAIN);
    assert_int_equal(mq_send(q, "1", 1, 0), 0);
    assert_int_equal(mq_send(q, "2", 1, 0), 0);
    ERR(mq_send(q, "3", 1, 0), EAGAIN);
    a.mq_flags = O_NONBLOCK | O_APPEND;
    ERR(mq_setattr(q, &a, &old), EINVAL);
    a.mq_flags = 0;
    a.mq_maxmsg = 99; /* ignored */
    assert_int_equal(mq_setattr(q, &a, &old), 0);
    assert_int_equal(old.mq_flags, O_NONBLOCK);
    assert_int_equal(old.mq_curmsgs, 2);
    assert_int_equal(mq_getattr(q, &a), 0);
    assert_int_equal(a.mq_flags, 0);
    assert_int_equal(a.mq_maxmsg, 2);
    /* Blocking now: a full queue waits until the timeout. */
    struct timespec t = in_ms(50);
    double t0 = now_ms();
    ERR(mq_timedsend(q, "3", 1, 0, &t), ETIMEDOUT);
    assert_true(now_ms() - t0 >= 45);
    mq_close(q);
}

/* fcntl(F_SETFL, O_NONBLOCK) on an mqd_t makes its open queue
 * non-blocking, as mq_setattr does (Linux keeps the flag in the mqd_t's
 * file): duplicates share it, F_GETFL and mq_getattr report it, and
 * F_GETFL reports the queue's access mode. Before, the shim set only its
 * pipe's flag: the receive waited (here until its timeout). */
static void nonblocking_by_fcntl(void **state)
{
    (void)state;
    mqd_t q = mk("fcntl", O_RDWR, 2, 8);
    char buf[8];
    struct mq_attr a;
    int fl = fcntl(q, F_GETFL);
    assert_int_equal(fl, O_RDWR); /* the queue's flags alone, as the kernel's */
    assert_int_equal(fcntl(q, F_SETFL, fl | O_NONBLOCK), 0);
    assert_int_equal(fcntl(q, F_GETFL), O_RDWR | O_NONBLOCK);
    assert_int_equal(mq_getattr(q, &a), 0);
    assert_int_equal(a.mq_flags, O_NONBLOCK);
    struct timespec t = in_ms(2000);
    ERR(mq_timedreceive(q, buf, 8, NULL, &t), EAGAIN);
    assert_int_equal(mq_send(q, "1", 1, 0), 0);
    assert_int_equal(mq_send(q, "2", 1, 0), 0);
    ERR(mq_send(q, "3", 1, 0), EAGAIN);
    /* A dup shares the open queue, flag included. */
    int d = dup(q);
    assert_true(d >= 0);
    assert_int_equal(fcntl(d, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
    /* So does a copy made by fcntl; clearing the flag there clears it for q. */
    int c = fcntl(q, F_DUPFD_CLOEXEC, 0);
    assert_true(c >= 0);
    assert_int_equal(fcntl(c, F_SETFL, fcntl(c, F_GETFL) & ~O_NONBLOCK), 0);
    assert_int_equal(mq_getattr(q, &a), 0);
    assert_int_equal(a.mq_flags, 0);
    t = in_ms(50);
    ERR(mq_timedsend(q, "3", 1, 0, &t), ETIMEDOUT);
    /* mq_setattr's flag is what F_GETFL reports. */
    struct mq_attr nb = {.mq_flags = O_NONBLOCK};
    assert_int_equal(mq_setattr(d, &nb, NULL), 0);
    assert_int_equal(fcntl(q, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
    ERR(mq_send(c, "3", 1, 0), EAGAIN);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 28)
    /* fcntl64, what _FILE_OFFSET_BITS=64 programs call, does the same. */
    assert_int_equal(fcntl64(q, F_SETFL, 0), 0);
    assert_int_equal(fcntl64(d, F_GETFL) & O_NONBLOCK, 0);
    t = in_ms(50);
    ERR(mq_timedsend(q, "3", 1, 0, &t), ETIMEDOUT);
#endif
    /* Another open of the queue is another description: its own flag and
     * access mode. */
    mqd_t r = mq_open(qname("fcntl"), O_RDONLY | O_NONBLOCK);
    assert_int_not_equal(r, (mqd_t)-1);
    assert_int_equal(fcntl(r, F_GETFL) & (O_ACCMODE | O_NONBLOCK), O_RDONLY | O_NONBLOCK);
    assert_int_equal(fcntl(q, F_GETFL) & O_NONBLOCK, 0);
    assert_int_equal(mq_receive(r, buf, 8, NULL), 1);
    assert_int_equal(mq_receive(r, buf, 8, NULL), 1);
    ERR(mq_receive(r, buf, 8, NULL), EAGAIN);
    /* Other commands are the C library's. */
    assert_int_equal(fcntl(q, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    assert_int_equal(fcntl(q, F_SETFD, 0), 0);
    assert_int_equal(fcntl(q, F_GETFD) & FD_CLOEXEC, 0);
    assert_int_equal(fcntl(c, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    mq_close(r);
    close(c);
    close(d);
    mq_close(q);
}

static void timeouts(void **state)
{
    (void)state;
    mqd_t q = mk("to", O_RDWR, 2, 8);
    char buf[8];
    struct timespec past = {0, 0}, bad = {0, 1000000000L};
    /* Past: an available message is still taken; none: ETIMEDOUT at once. */
    ERR(mq_timedreceive(q, buf, 8, NULL, &past), ETIMEDOUT);
    assert_int_equal(mq_timedsend(q, "p", 1, 0, &past), 0);
    /* Linux checks tv_nsec whether or not the call would block. */
    ERR(mq_timedreceive(q, buf, 8, NULL, &bad), EINVAL);
    bad.tv_nsec = -1;
    ERR(mq_timedsend(q, "x", 1, 0, &bad), EINVAL);
    /* So is a negative tv_sec, with room to send and a message to take:
     * nothing moves (the shim took it for a time past, and sent, and took
     * the message). The receives below find "p" alone. */
    struct timespec neg = {-1, 0};
    ERR(mq_timedsend(q, "n", 1, 0, &neg), EINVAL);
    ERR(mq_timedreceive(q, buf, 8, NULL, &neg), EINVAL);
    assert_int_equal(mq_timedreceive(q, buf, 8, NULL, &past), 1);
    struct timespec t = in_ms(60);
    double t0 = now_ms();
    ERR(mq_timedreceive(q, buf, 8, NULL, &t), ETIMEDOUT);
    double took = now_ms() - t0;
    assert_true(took >= 55 && took < 2000);
    mq_close(q);
}

/* A timeout as far in the future as time_t goes waits like no timeout
 * (the Open POSIX Test Suite's mq_timedsend/5-1 uses one). */
static void timeouts_far_future(void **state)
{
    (void)state;
    mqd_t q = mk("tofar", O_RDWR, 1, 8);
    char buf[8];
    struct timespec far = {.tv_sec = (time_t)((~0ULL) >> 1), .tv_nsec = 0};
    pid_t c = send_from_child("tofar", 200);
    assert_int_equal(mq_timedreceive(q, buf, 8, NULL, &far), 1);
    assert_int_equal(wait_child(c), 0);
    assert_int_equal(mq_send(q, "f", 1, 0), 0); /* full */
    c = fork();
    if (c == 0) {
        test_child();
        usleep(200000);
        mqd_t r = mq_open(qname("tofar"), O_RDONLY);
        _exit(r != (mqd_t)-1 && mq_receive(r, buf, 8, NULL) == 1 ? 0 : 1);
    }
    assert_int_equal(mq_timedsend(q, "g", 1, 0, &far), 0);
    assert_int_equal(wait_child(c), 0);
    mq_close(q);
}

/* ---- descriptors ---- */

static int readable(int fd, int ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

static void pollable(void **state)
{
    (void)state;
    mqd_t q = mk("poll", O_RDWR | O_NONBLOCK, 4, 8);
    char buf[8];
    assert_false(readable(q, 0));
    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(q, &rs);
    struct timeval tv = {0, 0};
    assert_int_equal(select(q + 1, &rs, NULL, NULL, &tv), 0);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = q}, out;
    assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, q, &ev), 0);
    assert_int_equal(epoll_wait(ep, &out, 1, 0), 0);
    /* A message sent by another process makes it readable. */
    pid_t c = fork();
    if (c == 0) {
        test_child();
        mqd_t w = mq_open(qname("poll"), O_WRONLY);
        usleep(30000);
        _exit(w != (mqd_t)-1 && mq_send(w, "m", 1, 0) == 0 ? 0 : 1);
    }
    assert_int_equal(epoll_wait(ep, &out, 1, 5000), 1);
    assert_true(readable(q, 0));
    FD_ZERO(&rs);
    FD_SET(q, &rs);
    assert_int_equal(select(q + 1, &rs, NULL, NULL, &tv), 1);
    assert_int_equal(wait_child(c), 0);
    assert_int_equal(mq_receive(q, buf, 8, NULL), 1);
    ERR(mq_receive(q, buf, 8, NULL), EAGAIN);
    assert_false(readable(q, 0));
    close(ep);
    mq_close(q);
}

/* What poll, select and epoll (ep watches fd, level-triggered) each say
 * about fd now: POLLIN and POLLOUT bits; the three must agree. */
static int ready_now(int fd, int ep)
{
    struct pollfd p = {fd, POLLIN | POLLOUT, 0};
    assert_int_equal(poll(&p, 1, 0) >= 0, 1);
    int viapoll = p.revents & (POLLIN | POLLOUT);
    fd_set rs, ws;
    FD_ZERO(&rs);
    FD_ZERO(&ws);
    FD_SET(fd, &rs);
    FD_SET(fd, &ws);
    struct timeval tv = {0, 0};
    assert_true(select(fd + 1, &rs, &ws, NULL, &tv) >= 0);
    int viaselect = (FD_ISSET(fd, &rs) ? POLLIN : 0) | (FD_ISSET(fd, &ws) ? POLLOUT : 0);
    assert_int_equal(viaselect, viapoll);
    if (ep >= 0) {
        for (int again = 0; again < 2; again++) { /* level-triggered: twice the same */
            struct epoll_event out = {0};
            int n = epoll_wait(ep, &out, 1, 0);
            assert_true(n >= 0);
            int viaepoll = n ? (int)(out.events & (EPOLLIN | EPOLLOUT)) : 0;
            assert_int_equal(viaepoll, viapoll);
        }
    }
    return viapoll;
}

/* Each descriptor, whatever its access mode, is readable exactly while
 * the queue holds a message and writable exactly while it has room. */
static void poll_directions(void **state)
{
    (void)state;
    mqd_t q = mk("pdir", O_RDWR | O_NONBLOCK, 2, 8);
    mqd_t r = mq_open(qname("pdir"), O_RDONLY | O_NONBLOCK);
    mqd_t w = mq_open(qname("pdir"), O_WRONLY | O_NONBLOCK);
    assert_true(r != (mqd_t)-1 && w != (mqd_t)-1);
    int ep[3];
    mqd_t fds[3] = {q, r, w};
    for (int i = 0; i < 3; i++) {
        ep[i] = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.fd = fds[i]};
        assert_int_equal(epoll_ctl(ep[i], EPOLL_CTL_ADD, fds[i], &ev), 0);
    }
    char buf[8];
    /* empty, one, full, one, empty */
    const int want[5] = {POLLOUT, POLLIN | POLLOUT, POLLIN, POLLIN | POLLOUT, POLLOUT};
    for (int step = 0; step < 5; step++) {
        if (step == 1 || step == 2)
            assert_int_equal(mq_send(w, "m", 1, 0), 0);
        if (step == 3 || step == 4)
            assert_int_equal(mq_receive(r, buf, 8, NULL), 1);
        for (int i = 0; i < 3; i++)
            assert_int_equal(ready_now(fds[i], ep[i]), want[step]);
    }
    for (int i = 0; i < 3; i++)
        close(ep[i]);
    mq_close(r);
    mq_close(w);
    mq_close(q);
}

/* In a child: waits up to 10 s in poll for ev on the queue tag, after
 * telling the parent on ready[1]; exits 0 when poll said exactly ev. */
static pid_t poll_in_child(const char *tag, short ev, int ready[2])
{
    pid_t c = fork();
    if (c == 0) {
        test_child();
        mqd_t m = mq_open(qname(tag), O_RDONLY | O_NONBLOCK);
        if (m == (mqd_t)-1)
            _exit(2);
        (void)write(ready[1], "r", 1);
        struct pollfd p = {m, ev, 0};
        int n = poll(&p, 1, 10000);
        _exit(n == 1 && p.revents == ev ? 0 : 1);
    }
    return c;
}

/* A change made by another process, which itself never polls, wakes a
 * process blocked in poll, in either direction; a message another
 * receiver takes leaves the queue unreadable for everyone. */
static void poll_across_processes(void **state)
{
    (void)state;
    mqd_t q = mk("pwake", O_RDWR | O_NONBLOCK, 1, 8);
    char buf[8];
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    /* Empty: the child waits for POLLIN, a grandchild sends. */
    pid_t c = poll_in_child("pwake", POLLIN, ready);
    assert_true(test_read_ready(ready[0]));
    usleep(100000); /* most likely in poll by now; if not, poll finds it */
    pid_t s = send_from_child("pwake", 0);
    assert_int_equal(wait_child(s), 0);
    assert_int_equal(wait_child(c), 0);
    /* Full: the child waits for POLLOUT, another process receives. */
    c = poll_in_child("pwake", POLLOUT, ready);
    assert_true(test_read_ready(ready[0]));
    usleep(100000);
    pid_t t = fork();
    if (t == 0) {
        test_child();
        mqd_t m = mq_open(qname("pwake"), O_RDONLY | O_NONBLOCK);
        _exit(m != (mqd_t)-1 && mq_receive(m, buf, 8, NULL) == 1 ? 0 : 1);
    }
    assert_int_equal(wait_child(t), 0);
    assert_int_equal(wait_child(c), 0);
    /* Readable here; another process takes the message: not any more. */
    assert_int_equal(mq_send(q, "m", 1, 0), 0);
    assert_int_equal(ready_now(q, -1), POLLIN);
    t = fork();
    if (t == 0) {
        test_child();
        mqd_t m = mq_open(qname("pwake"), O_RDONLY | O_NONBLOCK);
        _exit(m != (mqd_t)-1 && mq_receive(m, buf, 8, NULL) == 1 ? 0 : 1);
    }
    assert_int_equal(wait_child(t), 0);
    assert_int_equal(ready_now(q, -1), POLLOUT);
    close(ready[0]);
    close(ready[1]);
    mq_close(q);
}

/* A forked child polls the descriptor it inherited: the same open queue,
 * readable once the parent sends. */
static void poll_inherited(void **state)
{
    (void)state;
    mqd_t q = mk("pinh", O_RDWR | O_NONBLOCK, 2, 8);
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t c = fork();
    if (c == 0) {
        test_child();
        (void)write(ready[1], "r", 1);
        struct pollfd p = {q, POLLIN, 0};
        int n = poll(&p, 1, 10000);
        _exit(n == 1 && (p.revents & POLLIN) ? 0 : 1);
    }
    assert_true(test_read_ready(ready[0]));
    usleep(100000);
    assert_int_equal(mq_send(q, "m", 1, 0), 0);
    assert_int_equal(wait_child(c), 0);
    close(ready[0]);
    close(ready[1]);
    mq_close(q);
}

/* close() instead of mq_close: the number is no queue any more (EBADF),
 * whatever it comes to name next, and a queue opened again works. */
static void closed_with_close(void **state)
{
    (void)state;
    mqd_t q = mk("closed", O_RDWR | O_NONBLOCK, 4, 8);
    char buf[8];
    struct mq_attr a;
    assert_int_equal(mq_send(q, "a", 1, 0), 0);
    assert_int_equal(close(q), 0);
    ERR(mq_send(q, "x", 1, 0), EBADF);
    ERR(mq_receive(q, buf, 8, NULL), EBADF);
    ERR(mq_getattr(q, &a), EBADF);
    ERR(mq_close(q), EBADF);
    /* Opened again: whichever number it gets works; q names that queue
     * only if it is that number. */
    mqd_t n = mq_open(qname("closed"), O_RDWR | O_NONBLOCK);
    assert_int_not_equal(n, (mqd_t)-1);
    assert_int_equal(mq_getattr(n, &a), 0);
    assert_int_equal(a.mq_curmsgs, 1);
    assert_int_equal(mq_receive(n, buf, 8, NULL), 1);
    if (n != q)
        ERR(mq_send(q, "x", 1, 0), EBADF);
    /* Another file given the number of a closed queue is no queue. */
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    assert_true(null >= 0);
    assert_int_equal(close(n), 0);
    assert_int_equal(dup2(null, n), n);
    ERR(mq_send(n, "x", 1, 0), EBADF);
    ERR(mq_getattr(n, &a), EBADF);
    close(n);
    /* dup2 over a queue's number closes it too. */
    mqd_t m = mq_open(qname("closed"), O_RDWR | O_NONBLOCK);
    assert_int_not_equal(m, (mqd_t)-1);
    assert_int_equal(dup2(null, m), m);
    ERR(mq_send(m, "x", 1, 0), EBADF);
    close(m);
    close(null);
    /* And the queue is still whole. */
    mqd_t k = mq_open(qname("closed"), O_RDWR | O_NONBLOCK);
    assert_int_equal(mq_send(k, "b", 1, 0), 0);
    assert_int_equal(mq_receive(k, buf, 8, NULL), 1);
    mq_close(k);
}

static void duplicates(void **state)
{
    (void)state;
    mqd_t q = mk("dup", O_RDWR, 4, 8);
    char buf[8];
    int d = dup(q);
    assert_true(d >= 0);
    assert_int_equal(mq_send(d, "d", 1, 0), 0);
    /* O_NONBLOCK belongs to the open queue, shared by duplicates. */
    struct mq_attr a = {.mq_flags = O_NONBLOCK}, b;
    assert_int_equal(mq_setattr(q, &a, NULL), 0);
    assert_int_equal(mq_getattr(d, &b), 0);
    assert_int_equal(b.mq_flags, O_NONBLOCK);
    int d2 = dup(q); /* never used before its original closes */
    assert_int_equal(mq_close(q), 0);
    assert_int_equal(mq_receive(d2, buf, 8, NULL), 1);
    ERR(mq_receive(d, buf, 8, NULL), EAGAIN);
    /* A fresh open is another description: blocking. */
    mqd_t q2 = mq_open(qname("dup"), O_RDWR);
    assert_int_equal(mq_getattr(q2, &b), 0);
    assert_int_equal(b.mq_flags, 0);
    mq_close(d);
    mq_close(d2);
    mq_close(q2);
}

static void fork_shares(void **state)
{
    (void)state;
    mqd_t q = mk("fork", O_RDWR, 4, 8);
    char buf[8];
    pid_t c = fork();
    if (c == 0) {
        test_child();
        struct mq_attr a = {.mq_flags = O_NONBLOCK};
        int ok = mq_send(q, "c", 1, 2) == 0 && mq_setattr(q, &a, NULL) == 0;
        _exit(ok ? 0 : 1);
    }
    assert_int_equal(wait_child(c), 0);
    unsigned prio;
    assert_int_equal(mq_receive(q, buf, 8, &prio), 1);
    assert_int_equal(prio, 2);
    struct mq_attr b;
    assert_int_equal(mq_getattr(q, &b), 0);
    assert_int_equal(b.mq_flags, O_NONBLOCK); /* the child set it for both */
    ERR(mq_receive(q, buf, 8, NULL), EAGAIN);
    mq_close(q);
}

static void unlink_open(void **state)
{
    (void)state;
    mqd_t q = mk("unl", O_RDWR, 4, 8);
    char buf[8];
    assert_int_equal(mq_send(q, "a", 1, 0), 0);
    assert_int_equal(mq_unlink(qname("unl")), 0);
    ERR(mq_open(qname("unl"), O_RDWR), ENOENT);
    ERR(mq_unlink(qname("unl")), ENOENT);
    /* The open queue works on; a new one of the same name is another. */
    mqd_t n = mq_open(qname("unl"), O_CREAT | O_EXCL | O_RDWR, 0600, NULL);
    assert_int_not_equal(n, (mqd_t)-1);
    assert_int_equal(mq_send(q, "b", 1, 0), 0);
    struct mq_attr a;
    assert_int_equal(mq_getattr(q, &a), 0);
    assert_int_equal(a.mq_curmsgs, 2);
    assert_int_equal(mq_getattr(n, &a), 0);
    assert_int_equal(a.mq_curmsgs, 0);
    assert_int_equal(mq_receive(q, buf, 8, NULL), 1);
    assert_int_equal(buf[0], 'a');
    mq_close(q);
    mq_close(n);
    if (shim) /* the unlinked queue went with its last descriptor */
        assert_int_equal(test_dir_count(),
                         1); /* the new one's mailbox (side files are dot files) */
}

/* A process exits (exit(), its destructors run) while another of its
 * threads still sends and receives on an unlinked queue: it exits with its
 * status, not SIGSEGV (the shim's exit cleanup unmapped what that thread
 * used; four queues and threads, so that a page mapped again where one
 * was does not hide it). The child's exit is held after the libraries' destructors, in
 * the flush of a stdio stream into a pipe nobody reads yet, for 1 s while
 * the thread runs on. */
#define EXIT_QUEUES 4
static _Atomic long exit_rounds;
static mqd_t exit_q[EXIT_QUEUES];

static void *exit_worker(void *arg)
{
    mqd_t q = exit_q[(intptr_t)arg];
    char buf[16];
    for (;;) {
        mq_send(q, "x", 1, 0);
        mq_receive(q, buf, sizeof(buf), NULL);
        atomic_fetch_add(&exit_rounds, 1);
    }
    return NULL;
}

static void exit_while_a_thread_uses_an_unlinked_queue(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    fflush(NULL);
    pid_t c = fork();
    assert_true(c >= 0);
    if (c == 0) {
        signal(SIGSEGV, SIG_DFL); /* not cmocka's */
        signal(SIGBUS, SIG_DFL);
        close(p[0]);
        static char big[256 * 1024], fbuf[512 * 1024];
        FILE *f = fdopen(p[1], "w");
        if (!f || setvbuf(f, fbuf, _IOFBF, sizeof(fbuf)) != 0)
            _exit(2);
        memset(big, 'x', sizeof(big));
        fwrite(big, 1, sizeof(big), f); /* flushed at exit, after the destructors */
        struct mq_attr a = {.mq_maxmsg = 4, .mq_msgsize = 16};
        for (intptr_t i = 0; i < EXIT_QUEUES; i++) {
            exit_q[i] = mq_open(qname("exitrace"), O_CREAT | O_RDWR, 0600, &a);
            if (exit_q[i] == (mqd_t)-1 || mq_unlink(qname("exitrace")) != 0)
                _exit(3);
            pthread_t t;
            if (pthread_create(&t, NULL, exit_worker, (void *)i) != 0)
                _exit(4);
        }
        while (atomic_load(&exit_rounds) < 400)
            usleep(1000);
        exit(0);
    }
    close(p[1]);
    usleep(1000 * 1000); /* the child's thread runs on while its exit waits */
    char buf[65536];
    while (read(p[0], buf, sizeof(buf)) > 0) {
    }
    close(p[0]);
    assert_int_equal(wait_child(c), 0);
    if (shim) /* its exit removed the unlinked queues it held last */
        assert_int_equal(test_dir_count(), 0);
}

/* mq_close while another thread is blocked in mq_timedreceive on that
 * descriptor: as in Linux, the receive keeps the open queue and waits on,
 * and takes a message sent through another descriptor after the close
 * (the shim freed the description under it: EBADF, or a use after free);
 * later calls on the closed number say EBADF. */
static mqd_t cb_q;
static _Atomic int cb_started;
static _Atomic pid_t cb_tid;
static ssize_t cb_n;
static int cb_errno;
static char cb_buf[16];

static void *cb_receiver(void *arg)
{
    (void)arg;
    atomic_store(&cb_tid, (pid_t)syscall(SYS_gettid));
    struct timespec abs = in_ms(5000);
    atomic_store(&cb_started, 1);
    cb_n = mq_timedreceive(cb_q, cb_buf, sizeof(cb_buf), NULL, &abs);
    cb_errno = errno;
    return NULL;
}

/* Whether thread tid of this process sleeps (state S in its stat). */
static int thread_sleeps(pid_t tid)
{
    char path[64], line[512];
    snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char *ok = fgets(line, sizeof(line), f);
    fclose(f);
    char *p = ok ? strrchr(line, ')') : NULL;
    return p && p[1] == ' ' && p[2] == 'S';
}

static void close_under_a_blocked_receive(void **state)
{
    (void)state;
    cb_q = mk("cblk", O_RDWR, 4, 16);
    mqd_t other = mq_open(qname("cblk"), O_WRONLY);
    assert_int_not_equal(other, (mqd_t)-1);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, cb_receiver, NULL), 0);
    while (!atomic_load(&cb_started))
        usleep(1000);
    /* Asleep in its wait: in the state S 20 times in a row, 5 ms apart. */
    for (int asleep = 0, i = 0; asleep < 20 && i < 2000; i++) {
        asleep = thread_sleeps(atomic_load(&cb_tid)) ? asleep + 1 : 0;
        usleep(5000);
    }
    assert_int_equal(mq_close(cb_q), 0);
    usleep(100 * 1000);
    assert_int_equal(mq_send(other, "late", 4, 0), 0);
    pthread_join(t, NULL);
    errno = cb_errno;
    assert_int_equal(cb_n, 4);
    assert_memory_equal(cb_buf, "late", 4);
    char buf[16];
    ERR(mq_receive(cb_q, buf, sizeof(buf), NULL), EBADF);
    mq_close(other);
}

/* mq_close racing sends and receives of another thread on the same
 * descriptor, 100 rounds: the calls end (EBADF once the number is
 * closed), nothing else happens (a sanitizer build sees any use of a freed
 * description). */
static mqd_t cr_q;

static void *cr_worker(void *arg)
{
    (void)arg;
    char buf[16];
    for (;;) {
        if (mq_send(cr_q, "x", 1, 0) < 0 || mq_receive(cr_q, buf, sizeof(buf), NULL) < 0)
            break;
    }
    return (void *)(intptr_t)errno;
}

static void close_races_calls(void **state)
{
    (void)state;
    for (int i = 0; i < 100; i++) {
        cr_q = mk("crace", O_RDWR, 4, 16);
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, cr_worker, NULL), 0);
        usleep((useconds_t)(i % 10) * 200);
        assert_int_equal(mq_close(cr_q), 0);
        void *e;
        pthread_join(t, &e);
        assert_int_equal((intptr_t)e, EBADF);
    }
}

/* exec closes every mqd_t (mq_open sets close-on-exec, as glibc's does):
 * the new program finds the number closed, whatever its access mode. */
static void exec_closes(void **state)
{
    (void)state;
    mqd_t q = mk("exec", O_RDWR, 4, 8);
    mqd_t r = mq_open(qname("exec"), O_RDONLY);
    assert_int_not_equal(r, (mqd_t)-1);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "test -e /proc/self/fd/%d || test -e /proc/self/fd/%d", (int)q,
             (int)r);
    pid_t c = fork();
    if (c == 0) {
        test_child();
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    assert_int_equal(wait_child(c), 1); /* neither open in the new program */
    mq_close(r);
    mq_close(q);
}

static long read_long(const char *path)
{
    FILE *f = fopen(path, "re");
    long v = -1;
    if (f) {
        if (fscanf(f, "%ld", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

static int write_long(const char *path, long v)
{
    FILE *f = fopen(path, "we");
    if (!f)
        return -1;
    int ok = fprintf(f, "%ld\n", v) > 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* mq_maxmsg and mq_msgsize beyond the kernel's defaults (msg_max 10,
 * msgsize_max 8192): the kernel takes them once root raised msg_max and
 * msgsize_max (done here for the open, as the benchmark does, and put
 * back); the shim takes
 * them from anybody, and past the kernel's hard limit (65536 messages). */
static void attr_limits(void **state)
{
    (void)state;
    const char *knob = "/proc/sys/fs/mqueue/msg_max";
    const char *size_knob = "/proc/sys/fs/mqueue/msgsize_max";
    long was = read_long(knob), size_was = read_long(size_knob);
    int raised = !shim && was >= 0 && was < 50 && write_long(knob, 50) == 0;
    int size_raised =
        !shim && size_was >= 0 && size_was < 10000 && write_long(size_knob, 10000) == 0;
    int kernel_allows = read_long(knob) >= 50 && read_long(size_knob) >= 10000;
    struct mq_attr want = {.mq_maxmsg = 50, .mq_msgsize = 10000}, a;
    mq_unlink(qname("big"));
    errno = 0;
    mqd_t q = mq_open(qname("big"), O_CREAT | O_EXCL | O_RDWR | O_NONBLOCK, 0600, &want);
    int e = errno;
    if (raised && read_long(knob) == 50)
        write_long(knob, was);
    if (size_raised && read_long(size_knob) == 10000)
        write_long(size_knob, size_was);
    if (!shim && !kernel_allows) {
        assert_int_equal(q, (mqd_t)-1);
        assert_int_equal(e, EINVAL);
        test_skip("attr_limits: msg_max and msgsize_max not raised (needs root): the kernel "
                  "said EINVAL");
        return;
    }
    assert_int_not_equal(q, (mqd_t)-1);
    assert_int_equal(mq_getattr(q, &a), 0);
    assert_int_equal(a.mq_maxmsg, 50);
    assert_int_equal(a.mq_msgsize, 10000);
    for (int i = 0; i < 50; i++)
        assert_int_equal(mq_send(q, "m", 1, (unsigned)(i % 7)), 0);
    ERR(mq_send(q, "m", 1, 0), EAGAIN);
    char *buf = calloc(1, 10000), *msg = calloc(1, 10000);
    assert_true(buf && msg);
    assert_int_equal(mq_receive(q, buf, 10000, NULL), 1);
    msg[9999] = 'z';
    assert_int_equal(mq_send(q, msg, 10000, 9), 0);
    unsigned prio;
    assert_int_equal(mq_receive(q, buf, 10000, &prio), 10000);
    assert_int_equal(prio, 9);
    assert_int_equal(buf[9999], 'z');
    free(buf);
    free(msg);
    mq_close(q);
    /* Past the kernel's hard limit: EINVAL from the kernel, a queue from
     * the shim (README: limits). */
    struct mq_attr huge = {.mq_maxmsg = 70000, .mq_msgsize = 16};
    mq_unlink(qname("huge"));
    mqd_t h = mq_open(qname("huge"), O_CREAT | O_EXCL | O_RDWR, 0600, &huge);
    if (shim) {
        assert_int_not_equal(h, (mqd_t)-1);
        assert_int_equal(mq_getattr(h, &a), 0);
        assert_int_equal(a.mq_maxmsg, 70000);
        mq_close(h);
    } else {
        assert_int_equal(h, (mqd_t)-1);
        assert_int_equal(errno, EINVAL);
    }
}

/* ---- several processes ---- */

static void excl_race(void **state)
{
    (void)state;
    const char *n = qname("race");
    mq_unlink(n);
    enum { N = 4 };
    pid_t c[N];
    int go[2];
    assert_int_equal(pipe(go), 0);
    for (int i = 0; i < N; i++) {
        c[i] = fork();
        if (c[i] == 0) {
            test_child();
            char x;
            close(go[1]);
            if (read(go[0], &x, 1) != 0)
                _exit(3);
            mqd_t q = mq_open(n, O_CREAT | O_EXCL | O_RDWR, 0600, NULL);
            _exit(q != (mqd_t)-1 ? 0 : errno == EEXIST ? 1 : 2);
        }
    }
    close(go[0]);
    close(go[1]);
    int won = 0, lost = 0;
    for (int i = 0; i < N; i++) {
        int r = wait_child(c[i]);
        won += r == 0;
        lost += r == 1;
    }
    assert_int_equal(won, 1);
    assert_int_equal(lost, N - 1);
}

static void many_senders(void **state)
{
    (void)state;
    mqd_t q = mk("many", O_RDONLY, 5, 16);
    enum { S = 3, M = 200 };
    pid_t c[S];
    for (int s = 0; s < S; s++) {
        c[s] = fork();
        if (c[s] == 0) {
            test_child();
            mqd_t w = mq_open(qname("many"), O_WRONLY);
            for (int i = 0; i < M; i++) {
                int v[2] = {s, i};
                if (mq_send(w, (char *)v, sizeof(v), 0) < 0)
                    _exit(1);
            }
            _exit(0);
        }
    }
    int next[S] = {0};
    for (int k = 0; k < S * M; k++) {
        int v[4];
        struct timespec t = in_ms(5000);
        assert_int_equal(mq_timedreceive(q, (char *)v, sizeof(v), NULL, &t), 8);
        assert_true(v[0] >= 0 && v[0] < S);
        assert_int_equal(v[1], next[v[0]]); /* each sender's order kept */
        next[v[0]]++;
    }
    for (int s = 0; s < S; s++)
        assert_int_equal(wait_child(c[s]), 0);
    mq_close(q);
}

/* Permissions, checked by a child that is not root: read for receivers,
 * write for senders, the mode masked by the umask. */
static void permissions(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        test_skip("permissions: needs root, to check them as another user");
        return;
    }
    chmod(test_dir, 0777); /* the shim's mailboxes live there */
    mode_t old = umask(022);
    mq_unlink(qname("perm"));
    mqd_t q = mq_open(qname("perm"), O_CREAT | O_RDWR, 0666, NULL); /* 0644 */
    umask(old);
    assert_int_not_equal(q, (mqd_t)-1);
    mq_unlink(qname("priv"));
    mqd_t p = mq_open(qname("priv"), O_CREAT | O_RDWR, 0600, NULL);
    assert_int_not_equal(p, (mqd_t)-1);
    pid_t c = fork();
    if (c == 0) {
        test_child();
        if (setgid(65534) < 0 || setuid(65534) < 0)
            _exit(9);
        mqd_t r = mq_open(qname("perm"), O_RDONLY);
        if (r == (mqd_t)-1)
            _exit(1);
        if (mq_open(qname("perm"), O_WRONLY) != (mqd_t)-1 || errno != EACCES)
            _exit(2);
        if (mq_open(qname("priv"), O_RDONLY) != (mqd_t)-1 || errno != EACCES)
            _exit(3);
        if (mq_unlink(qname("perm")) == 0)
            _exit(4);
        _exit(0);
    }
    int r = wait_child(c);
    if (r == 9) {
        test_skip("permissions: cannot become uid 65534");
        return;
    }
    assert_int_equal(r, 0);
    mq_close(q);
    mq_close(p);
}

/* ---- signals ---- */

static volatile sig_atomic_t hits;
/* hits again, in memory shared with the test's children (NULL: none). */
static _Atomic int *shared_hits;
static void on_alarm(int s)
{
    (void)s;
    hits++;
    if (shared_hits)
        atomic_fetch_add(shared_hits, 1);
}

/* In a child forked just before the parent's call that waits for it: waits
 * until the parent sleeps (after the fork, only that call does) and one of
 * its handlers ran after that, so that the handler ran while the call
 * waited. A 300 ms sleep against signals every 100 ms did not make sure of
 * it on a loaded machine: the child's turn came before any signal, the
 * call never met a handler, and the test failed (3 of 40 runs at nice 19
 * beside three busy loops). */
static void await_handler_in_parents_wait(void)
{
    pid_t parent = getppid();
    while (test_proc_state(parent) != 'S')
        usleep(1000);
    int seen = atomic_load(shared_hits);
    while (atomic_load(shared_hits) == seen)
        usleep(1000);
}

/* Signals the test process every ms milliseconds until killed, so that
 * one signal comes while it waits however slow the machine is. */
static pid_t signal_later(int sig, int ms)
{
    pid_t parent = getpid(), c = fork();
    if (c == 0) {
        test_child();
        for (;;) {
            usleep((useconds_t)ms * 1000);
            kill(parent, sig);
        }
    }
    return c;
}

static void stop_signals(pid_t c)
{
    kill(c, SIGKILL);
    wait_child(c);
}

static void interrupted(void **state)
{
    (void)state;
    mqd_t q = mk("intr", O_RDWR, 2, 8);
    char buf[8];
    shared_hits =
        mmap(NULL, sizeof(*shared_hits), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(shared_hits != MAP_FAILED);
    struct sigaction sa = {.sa_handler = on_alarm}, old;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, &old);
    hits = 0;
    pid_t c = signal_later(SIGUSR1, 100);
    struct timespec t = in_ms(10000);
    ERR(mq_timedreceive(q, buf, 8, NULL, &t), EINTR);
    stop_signals(c);
    assert_true(hits >= 1);
    /* With SA_RESTART the call goes on after the handler (signal(7)). */
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    c = signal_later(SIGUSR1, 100);
    int before = hits;
    pid_t s = fork();
    if (s == 0) {
        test_child();
        await_handler_in_parents_wait();
        _exit(mq_send(q, "r", 1, 0) == 0 ? 0 : 1);
    }
    t = in_ms(20000);
    assert_int_equal(mq_timedreceive(q, buf, 8, NULL, &t), 1);
    stop_signals(c);
    assert_true(hits > before); /* handlers ran, the receive went on */
    assert_int_equal(wait_child(s), 0);
    /* A full queue's sender is interrupted the same way. */
    sa.sa_flags = 0;
    sigaction(SIGUSR1, &sa, NULL);
    assert_int_equal(mq_send(q, "1", 1, 0), 0);
    assert_int_equal(mq_send(q, "2", 1, 0), 0);
    c = signal_later(SIGUSR1, 100);
    t = in_ms(10000);
    ERR(mq_timedsend(q, "3", 1, 0, &t), EINTR);
    stop_signals(c);
    /* With SA_RESTART it goes on until a receiver makes room. */
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    c = signal_later(SIGUSR1, 100);
    before = hits;
    s = fork();
    if (s == 0) {
        test_child();
        await_handler_in_parents_wait();
        _exit(mq_receive(q, buf, 8, NULL) == 1 ? 0 : 1);
    }
    t = in_ms(20000);
    int sent = mq_timedsend(q, "3", 1, 0, &t);
    if (sent != 0) /* seen once, under a heavy load (errno unknown): say why */
        print_message("mq_timedsend with SA_RESTART: %s (handlers %d)\n", strerror(errno),
                      hits - before);
    assert_int_equal(sent, 0);
    stop_signals(c);
    assert_true(hits > before);
    assert_int_equal(wait_child(s), 0);
    sigaction(SIGUSR1, &old, NULL);
    munmap(shared_hits, sizeof(*shared_hits));
    shared_hits = NULL;
    mq_close(q);
}

/* Any signal's handler interrupts a wait, SIGABRT's included (the Open
 * POSIX Test Suite's mq_send/12-1 and mq_receive/13-1 use it). */
static void interrupted_by_abort_handler(void **state)
{
    (void)state;
    mqd_t q = mk("intra", O_RDWR, 1, 8);
    char buf[8];
    struct sigaction sa = {.sa_handler = on_alarm}, old;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGABRT, &sa, &old);
    pid_t c = signal_later(SIGABRT, 100);
    struct timespec t = in_ms(10000);
    ERR(mq_timedreceive(q, buf, 8, NULL, &t), EINTR);
    assert_int_equal(mq_send(q, "1", 1, 0), 0);
    t = in_ms(10000);
    ERR(mq_timedsend(q, "2", 1, 0, &t), EINTR);
    stop_signals(c);
    sigaction(SIGABRT, &old, NULL);
    mq_close(q);
}

/* A signal sent a whole number of seconds after a process blocked (as a
 * program pacing itself with sleep() does) interrupts the wait: with mbx's
 * 250 ms sleeps it used to arrive as one ended, and the wait went on. A
 * few tries, each receiver with its own sender of one SIGUSR1. */
static void interrupted_on_the_second(void **state)
{
    (void)state;
    mqd_t q = mk("intrs", O_RDWR, 1, 8);
    (void)q;
    for (int round = 0; round < 4; round++) {
        pid_t r = fork();
        if (r == 0) {
            test_child();
            struct sigaction sa = {.sa_handler = on_alarm};
            sigemptyset(&sa.sa_mask);
            sigaction(SIGUSR1, &sa, NULL);
            mqd_t m = mq_open(qname("intrs"), O_RDONLY);
            char b[8];
            pid_t s = fork();
            if (s == 0) {
                sleep(1);
                kill(getppid(), SIGUSR1);
                _exit(0);
            }
            int ok = m != (mqd_t)-1 && mq_receive(m, b, 8, NULL) == -1 && errno == EINTR;
            _exit(ok ? 0 : 1);
        }
        /* Waits up to 10 s: a receive that went on is killed and fails. */
        int st = -1;
        for (int i = 0; i < 1000; i++) {
            pid_t w = waitpid(r, &st, WNOHANG);
            if (w == r)
                break;
            st = -1;
            usleep(10000);
        }
        if (st == -1) {
            kill(r, SIGKILL);
            wait_child(r);
        }
        assert_true(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    mq_close(q);
}

/* A handler that runs at any moment of a blocked receive ends it with
 * EINTR: also one that comes while the shim's mailbox still spins in user
 * space, or between two of its sleeps (the receive used to go on to its
 * deadline: 14 of 100 rounds missed). Rounds of one SIGUSR1 each, sent to
 * the receiving thread 200-400 us after it begins; a round whose handler
 * ran before the call began or after it ended says nothing. A few misses
 * are allowed: between the clock read that marks the call's start and the
 * call itself is a window no implementation can close (the kernel's
 * included). */
static _Atomic long long hunt_handled_ns;
static _Atomic int hunt_round;
static void on_hunt(int s)
{
    (void)s;
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    atomic_store(&hunt_handled_ns, (long long)t.tv_sec * 1000000000LL + t.tv_nsec);
}

static long long mono_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

#define HUNT_ROUNDS 100
struct hunt {
    mqd_t q;
    int inside, missed;
};

static void *hunt_receiver(void *arg)
{
    struct hunt *h = arg;
    char buf[8];
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    pthread_sigmask(SIG_UNBLOCK, &usr1, NULL);
    for (int round = 1; round <= HUNT_ROUNDS; round++) {
        atomic_store(&hunt_handled_ns, 0);
        struct timespec t = in_ms(100);
        long long start = mono_now_ns();
        atomic_store(&hunt_round, round);
        errno = 0;
        ssize_t r = mq_timedreceive(h->q, buf, sizeof(buf), NULL, &t);
        int e = errno;
        long long end = mono_now_ns();
        long long at = atomic_load(&hunt_handled_ns);
        for (long long give_up = end + 2000000000LL; !at && mono_now_ns() < give_up;)
            at = atomic_load(&hunt_handled_ns); /* the signal may still be on its way */
        if (at > start && at < end) {
            h->inside++;
            if (!(r == -1 && e == EINTR))
                h->missed++;
        }
        atomic_store(&hunt_round, -round); /* done */
    }
    return NULL;
}

/* The ways a program installs a handler without SA_RESTART; each must
 * end a blocked receive with EINTR wherever the signal lands. */
enum hunt_install {
    BY_SIGACTION,
    BY_SYSV_SIGNAL,  /* one-shot: the handler installs itself again */
    BY_SIGSET,       /* System V, no SA_RESTART */
    BY_SIGINTERRUPT, /* signal(), then siginterrupt(sig, 1) */
    BY_LIBC_ITSELF,  /* the C library's own sigaction, around any shim,
                        before the queue is opened */
};

static void on_hunt_sysv(int s)
{
    on_hunt(s);
    sysv_signal(SIGUSR1, on_hunt_sysv);
}

/* sigset and siginterrupt are deprecated, and old programs still call
 * them: those are what is tested. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static void hunt_install(enum hunt_install how)
{
    struct sigaction sa = {.sa_handler = on_hunt};
    sigemptyset(&sa.sa_mask);
    switch (how) {
    case BY_SIGACTION:
        assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);
        break;
    case BY_SYSV_SIGNAL:
        assert_true(sysv_signal(SIGUSR1, on_hunt_sysv) != SIG_ERR);
        break;
    case BY_SIGSET:
        assert_true(sigset(SIGUSR1, on_hunt) != SIG_ERR);
        break;
    case BY_SIGINTERRUPT:
        assert_true(signal(SIGUSR1, on_hunt) != SIG_ERR);
        assert_int_equal(siginterrupt(SIGUSR1, 1), 0);
        break;
    case BY_LIBC_ITSELF: {
        void *libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
        assert_non_null(libc);
        int (*libc_sigaction)(int, const struct sigaction *, struct sigaction *) = NULL;
        void *f = dlsym(libc, "sigaction");
        assert_non_null(f);
        memcpy(&libc_sigaction, &f, sizeof(f));
        assert_int_equal(libc_sigaction(SIGUSR1, &sa, NULL), 0);
        dlclose(libc);
        break;
    }
    }
}
#pragma GCC diagnostic pop

static void hunt_with(enum hunt_install how)
{
    struct sigaction old;
    assert_int_equal(sigaction(SIGUSR1, NULL, &old), 0);
    hunt_install(how);
    /* The shim's mailbox spins 1 ms before it sleeps (MBX_SPIN_NS, read
     * when the queue is opened): the signals land in the spin. */
    const char *was = getenv("MBX_SPIN_NS");
    char keep[32];
    if (was)
        snprintf(keep, sizeof(keep), "%s", was);
    setenv("MBX_SPIN_NS", "1000000", 1);
    struct hunt h = {mk("hunt", O_RDWR, 1, 8), 0, 0};
    if (was)
        setenv("MBX_SPIN_NS", keep, 1);
    else
        unsetenv("MBX_SPIN_NS");
    /* What is installed reads back as the program's own handler. */
    struct sigaction now;
    assert_int_equal(sigaction(SIGUSR1, NULL, &now), 0);
    assert_true(now.sa_handler == (how == BY_SYSV_SIGNAL ? on_hunt_sysv : on_hunt));
    assert_false(now.sa_flags & (SA_SIGINFO | SA_RESTART));
    atomic_store(&hunt_round, 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, hunt_receiver, &h), 0);
    unsigned seed = (unsigned)getpid();
    for (int round = 1; round <= HUNT_ROUNDS; round++) {
        while (atomic_load(&hunt_round) != round)
            ;
        long long until = mono_now_ns() + 200000 + rand_r(&seed) % 200000;
        while (mono_now_ns() < until)
            ;
        pthread_kill(th, SIGUSR1);
        while (atomic_load(&hunt_round) == round) /* then -round, or the next */
            ;
    }
    pthread_join(th, NULL);
    sigaction(SIGUSR1, &old, NULL);
    mq_close(h.q);
    print_message("handler inside the receive in %d of %d rounds, missed %d\n", h.inside,
                  HUNT_ROUNDS, h.missed);
    assert_true(h.inside >= HUNT_ROUNDS / 4);
    assert_true(h.missed <= 3);
}

static void interrupted_at_any_moment(void **state)
{
    (void)state;
    hunt_with(BY_SIGACTION);
}

static void interrupted_at_any_moment_sysv_signal(void **state)
{
    (void)state;
    hunt_with(BY_SYSV_SIGNAL);
}

static void interrupted_at_any_moment_sigset(void **state)
{
    (void)state;
    hunt_with(BY_SIGSET);
}

static void interrupted_at_any_moment_siginterrupt(void **state)
{
    (void)state;
    hunt_with(BY_SIGINTERRUPT);
}

static void interrupted_at_any_moment_libc_handler(void **state)
{
    (void)state;
    hunt_with(BY_LIBC_ITSELF);
}

/* ---- notification ---- */

static volatile sig_atomic_t notified, note_code, note_value, note_pid;
static void on_note(int s, siginfo_t *si, void *u)
{
    (void)s;
    (void)u;
    notified++;
    note_code = si->si_code;
    note_value = si->si_value.sival_int;
    note_pid = si->si_pid;
}

static int wait_notified(int want, int ms)
{
    for (int i = 0; i < ms && notified < want; i++)
        usleep(1000);
    return notified;
}

static pid_t send_from_child(const char *tag, int delay_ms)
{
    pid_t c = fork();
    if (c == 0) {
        test_child();
        usleep((useconds_t)delay_ms * 1000);
        mqd_t w = mq_open(qname(tag), O_WRONLY);
        _exit(w != (mqd_t)-1 && mq_send(w, "n", 1, 0) == 0 ? 0 : 1);
    }
    return c;
}

static void notify_signal(void **state)
{
    (void)state;
    mqd_t q = mk("note", O_RDWR | O_NONBLOCK, 4, 8);
    char buf[8];
    struct sigaction sa = {.sa_sigaction = on_note, .sa_flags = SA_SIGINFO}, old;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR2, &sa, &old);
    notified = 0;
    assert_int_equal(mq_notify(q, NULL), 0); /* none registered: fine */
    struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR2};
    ev.sigev_value.sival_int = 77;
    assert_int_equal(mq_notify(q, &ev), 0);
    ERR(mq_notify(q, &ev), EBUSY);
    ev.sigev_notify = 12345;
    ERR(mq_notify(q, &ev), EINVAL); /* the sigevent is checked first */
    /* Another process cannot register meanwhile. */
    pid_t c = fork();
    if (c == 0) {
        test_child();
        struct sigevent e2 = {.sigev_notify = SIGEV_NONE};
        mqd_t r = mq_open(qname("note"), O_RDONLY);
        _exit(mq_notify(r, &e2) == -1 && errno == EBUSY ? 0 : 1);
    }
    assert_int_equal(wait_child(c), 0);
    c = send_from_child("note", 0);
    assert_int_equal(wait_child(c), 0);
    assert_int_equal(wait_notified(1, 2000), 1);
    assert_int_equal(note_code, SI_MESGQ);
    assert_int_equal(note_value, 77);
    assert_int_equal(note_pid, c);
    /* Fired: removed. A message into a non-empty queue raises none. */
    assert_int_equal(mq_send(q, "x", 1, 0), 0);
    usleep(20000);
    assert_int_equal(notified, 1);
    ev.sigev_notify = SIGEV_SIGNAL;
    assert_int_equal(mq_notify(q, &ev), 0);
    assert_int_equal(mq_send(q, "y", 1, 0), 0); /* queue not empty */
    usleep(20000);
    assert_int_equal(notified, 1);
    while (mq_receive(q, buf, 8, NULL) > 0) {
    }
    assert_int_equal(mq_send(q, "z", 1, 0), 0); /* empty -> one */
    assert_int_equal(wait_notified(2, 2000), 2);
    assert_int_equal(note_pid, getpid());
    /* Withdrawn: no notice. */
    mq_receive(q, buf, 8, NULL);
    assert_int_equal(mq_notify(q, &ev), 0);
    assert_int_equal(mq_notify(q, NULL), 0);
    assert_int_equal(mq_send(q, "w", 1, 0), 0);
    usleep(20000);
    assert_int_equal(notified, 2);
    ev.sigev_notify = 12345;
    ERR(mq_notify(q, &ev), EINVAL);
    sigaction(SIGUSR2, &old, NULL);
    mq_close(q);
}

/* SIGEV_NONE registers and is removed when a message arrives, with no
 * signal; mq_notify checks the descriptor and the signal number. */
static void notify_none_and_errors(void **state)
{
    (void)state;
    mqd_t q = mk("noten", O_RDWR | O_NONBLOCK, 4, 8);
    char buf[8];
    struct sigevent none = {.sigev_notify = SIGEV_NONE};
    ERR(mq_notify((mqd_t)274, &none), EBADF);
    ERR(mq_notify((mqd_t)274, NULL), EBADF);
    assert_int_equal(mq_notify(q, &none), 0);
    ERR(mq_notify(q, &none), EBUSY);
    assert_int_equal(mq_send(q, "x", 1, 0), 0); /* fires: removed */
    assert_int_equal(mq_notify(q, &none), 0);
    assert_int_equal(mq_notify(q, NULL), 0);
    assert_int_equal(mq_receive(q, buf, 8, NULL), 1);
    /* Signal 0: registered, and removed by a message with no signal. */
    struct sigevent zero = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = 0};
    assert_int_equal(mq_notify(q, &zero), 0);
    ERR(mq_notify(q, &none), EBUSY);
    assert_int_equal(mq_send(q, "x", 1, 0), 0);
    assert_int_equal(mq_notify(q, &none), 0);
    assert_int_equal(mq_notify(q, NULL), 0);
    assert_int_equal(mq_receive(q, buf, 8, NULL), 1);
    struct sigevent bad = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = _NSIG + 1};
    ERR(mq_notify(q, &bad), EINVAL);
    bad.sigev_signo = -1;
    ERR(mq_notify(q, &bad), EINVAL);
    mq_close(q);
}

static void notify_blocked_receiver(void **state)
{
    (void)state;
    mqd_t q = mk("noteb", O_RDWR, 4, 8);
    struct sigaction sa = {.sa_sigaction = on_note, .sa_flags = SA_SIGINFO}, old;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR2, &sa, &old);
    notified = 0;
    struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR2};
    assert_int_equal(mq_notify(q, &ev), 0);
    pid_t r = fork();
    if (r == 0) {
        test_child();
        char b[8];
        mqd_t rq = mq_open(qname("noteb"), O_RDONLY);
        struct timespec t = in_ms(5000);
        _exit(mq_timedreceive(rq, b, 8, NULL, &t) == 1 ? 0 : 1);
    }
    usleep(150000); /* the child blocks in its receive */
    assert_int_equal(mq_send(q, "m", 1, 0), 0);
    assert_int_equal(wait_child(r), 0);
    usleep(20000);
    assert_int_equal(notified, 0); /* the receiver took it: no notice */
    /* Still registered: the next message into the empty queue notifies. */
    assert_int_equal(mq_send(q, "m", 1, 0), 0);
    assert_int_equal(wait_notified(1, 2000), 1);
    sigaction(SIGUSR2, &old, NULL);
    mq_close(q);
}

/* A receiver killed while blocked is blocked no more: the next message
 * into the empty queue notifies. */
static void notify_after_killed_receiver(void **state)
{
    (void)state;
    mqd_t q = mk("notek", O_RDWR, 4, 8);
    struct sigaction sa = {.sa_sigaction = on_note, .sa_flags = SA_SIGINFO}, old;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR2, &sa, &old);
    notified = 0;
    struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR2};
    assert_int_equal(mq_notify(q, &ev), 0);
    pid_t r = fork();
    if (r == 0) {
        test_child();
        char b[8];
        mqd_t rq = mq_open(qname("notek"), O_RDONLY);
        mq_receive(rq, b, 8, NULL); /* blocks until killed */
        _exit(1);
    }
    usleep(150000); /* the child blocks in its receive */
    kill(r, SIGKILL);
    int st;
    assert_int_equal(waitpid(r, &st, 0), r);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(mq_send(q, "m", 1, 0), 0);
    assert_int_equal(wait_notified(1, 2000), 1);
    sigaction(SIGUSR2, &old, NULL);
    mq_close(q);
}

/* Files in the test's mailbox directory whose name contains `part`. */
static int dir_files_with(const char *part)
{
    DIR *d = opendir(test_dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strstr(e->d_name, part) != NULL;
    closedir(d);
    return n;
}

/* A child that blocks in a receive for 50 ms (which makes libmbx-mq's
 * per-process liveness mailbox), then ends with exit() or _exit(). */
static pid_t blocked_child(int normal_exit)
{
    pid_t p = fork();
    if (p == 0) {
        test_child();
        char b[8];
        mqd_t rq = mq_open(qname("live"), O_RDONLY);
        struct timespec t = in_ms(50);
        int ok = rq != (mqd_t)-1 && mq_timedreceive(rq, b, 8, NULL, &t) == -1 && errno == ETIMEDOUT;
        if (normal_exit)
            exit(ok ? 0 : 1);
        _exit(ok ? 0 : 1);
    }
    return p;
}

/* Processes that blocked in a receive leave nothing in libmbx-mq's mailbox
 * directory once they are gone: one that exits removes its own liveness
 * mailbox, and the next one to make one removes those of processes that
 * ended without exit handlers. */
static void blocked_leave_no_files(void **state)
{
    (void)state;
    if (!shim)
        skip(); /* the kernel's queues keep no files in MBX_DIR */
    mqd_t q = mk("live", O_RDWR, 4, 8);
    assert_int_equal(wait_child(blocked_child(0)), 0);
    assert_int_equal(dir_files_with("mq-live."), 1); /* _exit: still there */
    assert_int_equal(wait_child(blocked_child(1)), 0);
    assert_int_equal(dir_files_with("mq-live."), 0);
    mq_close(q);
}

static pthread_mutex_t th_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t th_cond = PTHREAD_COND_INITIALIZER;
static int th_value;
/* A close of any descriptor of the queue by the registrant withdraws its
 * registration, as Linux's (its flush on every close): a dup's
 * (mq_close or close) while the original stays open, and another mq_open's
 * of the same queue. The slot is then free for it again, and a message
 * raises nothing. */
static void notify_withdrawn_by_any_close(void **state)
{
    (void)state;
    mqd_t q = mk("ndup", O_RDWR | O_NONBLOCK, 4, 8);
    sigset_t usr1, old;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    assert_int_equal(pthread_sigmask(SIG_BLOCK, &usr1, &old), 0);
    struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1};
    struct timespec zero = {0, 0}, wait = {5, 0};
    char buf[8];
    for (int how = 0; how < 3; how++) {
        assert_int_equal(mq_notify(q, &ev), 0);
        mqd_t other = how == 2 ? mq_open(qname("ndup"), O_RDWR) : dup(q);
        assert_int_not_equal(other, (mqd_t)-1);
        if (how == 1)
            assert_int_equal(close(other), 0);
        else
            assert_int_equal(mq_close(other), 0);
        assert_int_equal(mq_send(q, "m", 1, 0), 0);
        usleep(100000); /* time for a wrong signal */
        assert_int_equal(sigtimedwait(&usr1, NULL, &zero), -1);
        assert_int_equal(mq_receive(q, buf, sizeof(buf), NULL), 1);
    }
    /* Registered, with nothing closed: the message raises it. */
    assert_int_equal(mq_notify(q, &ev), 0);
    assert_int_equal(mq_send(q, "m", 1, 0), 0);
    assert_int_equal(sigtimedwait(&usr1, NULL, &wait), SIGUSR1);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    mq_close(q);
}

static void on_thread(union sigval v)
{
    pthread_mutex_lock(&th_lock);
    th_value = v.sival_int;
    pthread_cond_signal(&th_cond);
    pthread_mutex_unlock(&th_lock);
}

static void notify_thread_and_death(void **state)
{
    (void)state;
    mqd_t q = mk("notet", O_RDWR, 4, 8);
    struct sigevent ev = {.sigev_notify = SIGEV_THREAD, .sigev_notify_function = on_thread};
    ev.sigev_value.sival_int = 4242;
    th_value = 0;
    assert_int_equal(mq_notify(q, &ev), 0);
    pid_t c = send_from_child("notet", 0);
    assert_int_equal(wait_child(c), 0);
    pthread_mutex_lock(&th_lock);
    struct timespec t = in_ms(3000);
    while (th_value == 0 && pthread_cond_timedwait(&th_cond, &th_lock, &t) == 0) {
    }
    pthread_mutex_unlock(&th_lock);
    assert_int_equal(th_value, 4242);
    /* A registrant killed with SIGKILL frees the registration. */
    char b[8];
    mq_receive(q, b, 8, NULL);
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    c = fork();
    if (c == 0) {
        struct sigevent e2 = {.sigev_notify = SIGEV_NONE};
        mqd_t r = mq_open(qname("notet"), O_RDONLY);
        if (r != (mqd_t)-1 && mq_notify(r, &e2) == 0)
            (void)write(ready[1], "r", 1);
        test_await_kill();
    }
    assert_true(test_read_ready(ready[0]));
    struct sigevent e3 = {.sigev_notify = SIGEV_NONE};
    ERR(mq_notify(q, &e3), EBUSY);
    kill(c, SIGKILL);
    wait_child(c);
    int ok = -1;
    for (int i = 0; i < 200 && ok != 0; i++) {
        ok = mq_notify(q, &e3);
        if (ok != 0)
            usleep(10000);
    }
    assert_int_equal(ok, 0);
    close(ready[0]);
    close(ready[1]);
    mq_close(q);
}

/* A server that keeps a queue open and forks a worker at each request,
 * the worker exiting: the kernel's queues keep nothing per fork. The
 * shim's O_NONBLOCK records, one arena of 8192 counted by hand, leaked one
 * at every fork, and mq_open said EMFILE at the 8192nd (a review). 8300
 * rounds of mq_open, fork, exit, mq_close. Not under AddressSanitizer,
 * whose forks are too slow for that many (the plain build's run is the
 * check). */
static void forks_leak_nothing(void **state)
{
    (void)state;
#if defined(__SANITIZE_ADDRESS__)
    skip();
#endif
    mqd_t keep = mk("forkleak", O_RDWR, 4, 16);
    /* A descriptor leaked per round runs out of a limit of 256 within the
     * rounds (8300 rounds against the usual 8192 took 20 s of forks on a
     * 2-CPU guest; 1124 against 1024, 8 s in each of mq_kernel, mq_linked
     * and mq_preload). */
    struct rlimit old, low;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    low = old;
    if (low.rlim_cur > 256)
        low.rlim_cur = 256;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    int rounds = (int)low.rlim_cur + 100;
    for (int i = 0; i < rounds; i++) {
        mqd_t q = mq_open(qname("forkleak"), O_RDWR);
        if (q == (mqd_t)-1)
            fail_msg("round %d: mq_open: %s", i, strerror(errno));
        pid_t c = fork();
        assert_true(c >= 0);
        if (c == 0)
            _exit(0);
        int st;
        assert_int_equal(waitpid(c, &st, 0), c);
        assert_int_equal(mq_close(q), 0);
    }
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    assert_int_equal(mq_close(keep), 0);
}

static int teardown(void **state)
{
    unlink_all();
    return test_dir_teardown(state);
}

int main(int argc, char **argv)
{
    shim = dlsym(RTLD_DEFAULT, "mbx_mq_shim") != NULL;
    main_pid = getpid();
    fprintf(stderr, "mq_conformance: %s queues\n", shim ? "libmbx-mq" : "the kernel's");
    if (argc > 1 && strcmp(argv[1], "-h") == 0)
        return 0; /* only say which queues (mq_symbols) */
    if (!shim && access("/proc/sys/fs/mqueue/msg_max", R_OK) != 0) {
        fprintf(stderr, "SKIPPED: this kernel has no POSIX message queues\n");
        return TEST_SKIPPED;
    }
    atexit(unlink_all);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(names, test_dir_setup, teardown),
        cmocka_unit_test_setup_teardown(open_flags, test_dir_setup, teardown),
        cmocka_unit_test_setup_teardown(send_receive, test_dir_setup, teardown),
        cmocka_unit_test_setup_teardown(null_arguments_and_error_order, test_dir_setup, teardown),
        cmocka_unit_test_setup_teardown(null_buffer_keeps_the_message, test_dir_setup, teardown),
        cmocka_unit_test_setup_teardown(capacity_counts_messages, test_dir_setup, teardown),
        cmocka_unit_test_setup_teardown(nonblocking, test_dir_setup, teardown),
        cmocka_unit_test_setup_teardown(nonblocking_by_fcntl, test_dir_setup, teardown),
        cmocka_unit_test_setup_teardown(timeouts, test_dir_setup, teardown),
        cmocka_unit_test_setup_teardown(timeouts_far_future, test_dir_setup, teardown),
        cmocka_unit_test_setup_teardown(pollable, test_dir_setup, teardown),
        cmocka_unit_test_setup_teardown(poll_directions, test_dir_setup, teardown),
        cmocka_unit_test_setup_teardown(poll_across_processes, test_dir_setup, teardown),
        cmocka_unit_test_setup_teardown(poll_inherited, test_dir_setup, teardown),
        cmocka_unit_test_setup_teardown(closed_with_close, test_dir_setup, teardown),
        cmocka_unit_test_setup_teardown(duplicates, test_dir_setup, teardown),
        cmocka_unit_test_setup_teardown(fork_shares, test_dir_setup, teardown),
        cmocka_unit_test_setup_teardown(unlink_open, test_dir_setup, teardown),
        cmocka_unit_test_setup_teardown(exec_closes, test_dir_setup, teardown),
        cmocka_unit_test_setup_teardown(close_under_a_blocked_receive, test_dir_setup, teardown),
        cmocka_unit_test_setup_teardown(close_races_calls, test_dir_setup, teardown),
        cmocka_unit_test_setup_teardown(exit_while_a_thread_uses_an_unlinked_queue, test_dir_setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(attr_limits, test_dir_setup, teardown),
        cmocka_unit_test_setup_teardown(excl_race, test_dir_setup, teardown),
        cmocka_unit_test_setup_teardown(many_senders, test_dir_setup, teardown),
        cmocka_unit_test_setup_teardown(permissions, test_dir_setup, teardown),
        cmocka_unit_test_setup_teardown(interrupted, test_dir_setup, teardown),
        cmocka_unit_test_setup_teardown(interrupted_by_abort_handler, test_dir_setup, teardown),
        cmocka_unit_test_setup_teardown(interrupted_on_the_second, test_dir_setup, teardown),
        cmocka_unit_test_setup_teardown(interrupted_at_any_moment, test_dir_setup, teardown),
        cmocka_unit_test_setup_teardown(interrupted_at_any_moment_sysv_signal, test_dir_setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(interrupted_at_any_moment_sigset, test_dir_setup, teardown),
        cmocka_unit_test_setup_teardown(interrupted_at_any_moment_siginterrupt, test_dir_setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(interrupted_at_any_moment_libc_handler, test_dir_setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(notify_signal, test_dir_setup, teardown),
        cmocka_unit_test_setup_teardown(notify_none_and_errors, test_dir_setup, teardown),
        cmocka_unit_test_setup_teardown(notify_blocked_receiver, test_dir_setup, teardown),
        cmocka_unit_test_setup_teardown(notify_after_killed_receiver, test_dir_setup, teardown),
        cmocka_unit_test_setup_teardown(notify_thread_and_death, test_dir_setup, teardown),
        cmocka_unit_test_setup_teardown(notify_withdrawn_by_any_close, test_dir_setup, teardown),
        cmocka_unit_test_setup_teardown(blocked_leave_no_files, test_dir_setup, teardown),
        cmocka_unit_test_setup_teardown(forks_leak_nothing, test_dir_setup, teardown),
    };
    return test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
