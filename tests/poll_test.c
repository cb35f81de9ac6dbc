/* Pollable descriptors (mbx_fd, mbx_poll): level semantics, wake-ups
 * across processes, lost wake-up hunts, many pollers, killed pollers,
 * fork and exec, removal and death. Runs on ring mailboxes, and on heap
 * ones as poll_test_heap (MBX_QUEUE=heap). */
#include "test_util.h"

#include "shm/heap/alloc.h"
#include "shm/heap/heap_queue.h"
#include "shm/lock.h"
#include "shm/poll_later.h"
#include "shm/shm.h"
#include "shm/stream/stream.h"

#include <dirent.h>
#include <grp.h>
#include <errno.h>
#include <sched.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

/* Kill points, set in a child only: killed (SIGKILL, as by kill -9) right
 * after binding a poller's socket, or right before removing one. The
 * library's calls of bind and unlink come here (a program's own
 * definitions come first); every other call passes through. */
static volatile int kill_at_bind, kill_at_unlink;

static int is_poll_socket(const char *path)
{
    const char *slash = strrchr(path, '/');
    return strncmp(slash ? slash + 1 : path, ".mbx-poll.", 10) == 0;
}

int bind(int fd, __CONST_SOCKADDR_ARG addr, socklen_t len)
{
    /* The argument is a pointer, or (with _GNU_SOURCE) a transparent
     * union of pointers: the same bits either way. */
    const struct sockaddr_un *a;
    memcpy(&a, &addr, sizeof(a));
    int r = (int)syscall(SYS_bind, fd, a, len);
    if (r == 0 && kill_at_bind && a->sun_family == AF_UNIX && is_poll_socket(a->sun_path))
        raise(SIGKILL);
    return r;
}

int unlink(const char *path)
{
    if (kill_at_unlink && is_poll_socket(path))
        raise(SIGKILL);
    return unlinkat(AT_FDCWD, path, 0);
}

static mbx *open_box(const char *name, int flags, uint32_t capacity)
{
    mbx_attr a;
    mbx_attr_init(&a);
    a.capacity = capacity;
    a.max_msg_size = 64;
    mbx *m = NULL;
    assert_int_equal(mbx_open(name, flags | MBX_CREATE, &a, &m), 0);
    return m;
}

/* 1 when fd is readable within ms milliseconds, else 0. */
static int readable(int fd, int ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    int n;
    while ((n = poll(&p, 1, ms)) < 0 && errno == EINTR)
        ;
    assert_true(n >= 0);
    return n == 1;
}

/* The count of armed pollers in the hot line, without the bits that say
 * which epoch it belongs to (poll.h). */
static unsigned armed_count(const struct seg_hot *hot, unsigned dir)
{
    return __atomic_load_n(&hot->armed[dir], __ATOMIC_SEQ_CST) & 0xffffu;
}

static void send_u32(mbx *m, uint32_t v)
{
    assert_int_equal(mbx_send(m, &v, sizeof(v), 0, 10000000000ll), 0);
}

/* Waits until fd is readable, then receives (from `from` unless 0)
 * without waiting, as an event loop does, again while that says -EAGAIN:
 * on a heap mailbox the sender may still hold the lock, descheduled,
 * past a non-blocking call's 2 ms when the poller wakes, and the
 * descriptor then stays readable. Returns the receive's result, or
 * -ETIMEDOUT when fd stays unreadable for 10 s. */
static ssize_t recv_when_ready(mbx *m, int fd, pid_t from, uint32_t *v)
{
    ssize_t n = -EAGAIN;
    for (int tries = 0; n == -EAGAIN && tries < 1000; tries++) {
        if (!readable(fd, 10000))
            return -ETIMEDOUT;
        n = from ? mbx_recv_from(m, from, v, sizeof(*v), NULL, MBX_NONBLOCK)
                 : mbx_recv(m, v, sizeof(*v), NULL, MBX_NONBLOCK);
    }
    return n;
}

static void reap_ok(pid_t p)
{
    int st;
    assert_int_equal(waitpid(p, &st, 0), p);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static int poll_sockets(void)
{
    DIR *d = opendir(test_dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strncmp(e->d_name, ".mbx-poll.", 10) == 0;
    closedir(d);
    return n;
}

/* Readable exactly while a message is queued: not before, still after a
 * receive that leaves one, not after the receive that empties it, not
 * after -EAGAIN. */
static void readable_exactly_while_queued(void **state)
{
    (void)state;
    mbx *m = open_box("lvl", MBX_SEND | MBX_RECV, 8);
    int fd = mbx_fd(m, MBX_RECV);
    assert_true(fd >= 0);
    assert_int_equal(mbx_fd(m, MBX_RECV), fd); /* the same every time */
    assert_false(readable(fd, 0));
    send_u32(m, 1);
    send_u32(m, 2);
    assert_true(readable(fd, 0));
    assert_true(readable(fd, 0)); /* level: stays until a receive */
    uint32_t v;
    assert_int_equal(mbx_recv(m, &v, sizeof(v), NULL, MBX_NONBLOCK), sizeof(v));
    assert_true(readable(fd, 0));
    assert_int_equal(mbx_recv(m, &v, sizeof(v), NULL, MBX_NONBLOCK), sizeof(v));
    assert_false(readable(fd, 0));
    assert_int_equal(mbx_recv(m, &v, sizeof(v), NULL, MBX_NONBLOCK), -EAGAIN);
    assert_false(readable(fd, 0));
    send_u32(m, 3);
    assert_true(readable(fd, 0));
    /* A blocking receive on the same handle keeps it true too. */
    assert_int_equal(mbx_recv(m, &v, sizeof(v), NULL, 1000000000), sizeof(v));
    assert_false(readable(fd, 0));
    mbx_close(m);
    mbx_unlink("lvl");
}

/* The send descriptor: readable while there is room. */
static void send_fd_readable_while_room(void **state)
{
    (void)state;
    mbx *m = open_box("room", MBX_SEND | MBX_RECV, 2);
    mbx *r = NULL;
    assert_int_equal(mbx_open("room", MBX_RECV, NULL, &r), 0);
    int fd = mbx_fd(m, MBX_SEND);
    assert_true(fd >= 0);
    assert_true(readable(fd, 0));
    send_u32(m, 1);
    assert_true(readable(fd, 0));
    send_u32(m, 2);
    assert_false(readable(fd, 0)); /* full */
    uint32_t v = 3;
    assert_int_equal(mbx_send(m, &v, sizeof(v), 0, MBX_NONBLOCK), -EAGAIN);
    assert_false(readable(fd, 0));
    assert_int_equal(mbx_recv(r, &v, sizeof(v), NULL, MBX_NONBLOCK), sizeof(v));
    assert_true(readable(fd, 1000)); /* room made by another handle */
    assert_int_equal(mbx_fd(r, MBX_SEND), -EBADF);
    assert_int_equal(mbx_fd(m, MBX_SEND | MBX_RECV), -EINVAL);
    assert_int_equal(mbx_fd(NULL, MBX_RECV), -EINVAL);
    mbx_close(r);
    mbx_close(m);
    mbx_unlink("room");
}

/* A sender in another process makes the poller's descriptor readable. */
static void other_process_wakes_poller(void **state)
{
    (void)state;
    mbx *m = open_box("xproc", MBX_RECV, 8);
    int fd = mbx_fd(m, MBX_RECV);
    assert_true(fd >= 0);
    for (int round = 0; round < 20; round++) {
        pid_t p = fork();
        if (p == 0) {
            test_child();
            mbx *s = NULL;
            if (mbx_open("xproc", MBX_SEND, NULL, &s))
                _exit(2);
            usleep(2000 + (round % 5) * 1000);
            uint32_t v = (uint32_t)round;
            _exit(mbx_send(s, &v, sizeof(v), 0, MBX_NONBLOCK) == 0 ? 0 : 3);
        }
        uint32_t v;
        assert_int_equal(recv_when_ready(m, fd, 0, &v), sizeof(v));
        assert_int_equal(v, (uint32_t)round);
        assert_false(readable(fd, 0));
        reap_ok(p);
    }
    mbx_close(m);
    mbx_unlink("xproc");
}

static uint64_t rnd_state = 88172645463325252ull;
static uint32_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return (uint32_t)rnd_state;
}

static void pause_a_little(void)
{
    uint32_t r = rnd() % 16;
    if (r < 8)
        return;
    if (r < 13)
        sched_yield();
    else
        usleep(rnd() % 200);
}

#define HUNT_MSGS 20000u

/* A child sends HUNT_MSGS numbered messages without waiting (on -EAGAIN it
 * waits on its send descriptor), at random paces; the parent receives
 * without waiting and sleeps in epoll_wait on its receive descriptor. A lost
 * wake-up on either side leaves one asleep for its 10 s limit: the test
 * fails. Both sides also sometimes block in the library instead, which must
 * keep the descriptors right. */
static void lost_wakeup_hunt(void **state)
{
    (void)state;
    mbx *m = open_box("hunt", MBX_RECV, 4);
    pid_t p = fork();
    if (p == 0) {
        test_child();
        rnd_state ^= 0x9e3779b97f4a7c15ull;
        mbx *s = NULL;
        if (mbx_open("hunt", MBX_SEND, NULL, &s))
            _exit(2);
        int sfd = mbx_fd(s, MBX_SEND);
        if (sfd < 0)
            _exit(3);
        for (uint32_t i = 0; i < HUNT_MSGS;) {
            int r = mbx_send(s, &i, sizeof(i), 0, rnd() % 64 == 0 ? 1000000000 : MBX_NONBLOCK);
            if (r == 0) {
                i++;
                pause_a_little();
                continue;
            }
            if (r != -EAGAIN)
                _exit(4);
            if (!readable(sfd, 10000))
                _exit(5); /* a lost wake-up of the send descriptor */
        }
        _exit(0);
    }
    int fd = mbx_fd(m, MBX_RECV);
    assert_true(fd >= 0);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN};
    assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), 0);
    uint32_t next = 0, spurious = 0, wakes = 0;
    while (next < HUNT_MSGS) {
        uint32_t v;
        ssize_t n = mbx_recv(m, &v, sizeof(v), NULL, rnd() % 64 == 0 ? 1000000000 : MBX_NONBLOCK);
        if (n == sizeof(v)) {
            assert_int_equal(v, next);
            next++;
            pause_a_little();
            continue;
        }
        assert_int_equal(n, -EAGAIN);
        struct epoll_event got;
        int k = epoll_wait(ep, &got, 1, 10000);
        assert_int_equal(k, 1); /* 0: a lost wake-up */
        wakes++;
        if (mbx_recv(m, &v, sizeof(v), NULL, MBX_NONBLOCK) == -EAGAIN)
            spurious++;
        else
            assert_int_equal(v, next++);
    }
    reap_ok(p);
    /* A wake-up that finds nothing: a datagram sent by a sender that
     * disarmed us, arriving after we took its message anyway (at most one
     * per message, the documented bound). */
    print_message("hunt: %u messages, %u wake-ups, %u found nothing\n", HUNT_MSGS, wakes, spurious);
    assert_true(spurious <= HUNT_MSGS);
    /* Once empty and left alone, it is not readable, or only once. */
    uint32_t v;
    if (readable(fd, 0))
        assert_int_equal(mbx_recv(m, &v, sizeof(v), NULL, MBX_NONBLOCK), -EAGAIN);
    assert_false(readable(fd, 0));
    close(ep);
    mbx_close(m);
    mbx_unlink("hunt");
}

#define CROWD_SENDERS   4
#define CROWD_RECEIVERS 2
#define CROWD_MSGS      3000u

/* One receiver of the crowd: takes its share of the messages, receiving
 * without waiting and, when that says -EAGAIN, sleeping in poll on its
 * receive descriptor, as `mbx recv -n` does; then closes and exits 0. Exits
 * 7 when it slept 10 s short of its share: the others cannot take more
 * than theirs, so messages were queued (or senders blocked on a full
 * mailbox) beside it, a lost wake-up. */
static void crowd_receiver(uint32_t share)
{
    mbx *r = NULL;
    if (mbx_open("crowd", MBX_RECV, NULL, &r))
        _exit(2);
    int fd = mbx_fd(r, MBX_RECV);
    if (fd < 0)
        _exit(3);
    for (uint32_t got = 0; got < share;) {
        uint32_t v;
        ssize_t n = mbx_recv(r, &v, sizeof(v), NULL, MBX_NONBLOCK);
        if (n == sizeof(v)) {
            got++;
            continue;
        }
        if (n != -EAGAIN)
            _exit(4);
        struct pollfd p = {fd, POLLIN, 0};
        int k = poll(&p, 1, 10000);
        if (k == 0)
            _exit(7);
        if (k < 0 && errno != EINTR)
            _exit(5);
    }
    mbx_close(r);
    _exit(0);
}

/* Several senders blocked on a full mailbox and two receivers polling its
 * descriptor (the shape of four `mbx send` into two `mbx recv` through a
 * mailbox of 8): every receive makes room and wakes a sender, every send
 * wakes a poller, and pollers arm and disarm beside each other all the
 * time. A change of the pollers' protocol once lost a live poller's
 * wake-up here (66461b7, reverted: half its rounds failed with this test,
 * while lost_wakeup_hunt, with one poller, passed). The last receiver
 * standing must be woken for every message. */
static void polling_receivers_beside_blocked_senders(void **state)
{
    (void)state;
    mbx *m = open_box("crowd", MBX_SEND, 8);
    pid_t kids[CROWD_SENDERS + CROWD_RECEIVERS];
    for (int i = 0; i < CROWD_SENDERS + CROWD_RECEIVERS; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            test_child();
            rnd_state ^= (uint64_t)(i + 1) * 0x9e3779b97f4a7c15ull;
            if (i >= CROWD_SENDERS)
                crowd_receiver(CROWD_SENDERS * CROWD_MSGS / CROWD_RECEIVERS);
            mbx *s = NULL;
            if (mbx_open("crowd", MBX_SEND, NULL, &s))
                _exit(2);
            for (uint32_t k = 0; k < CROWD_MSGS; k++) {
                if (mbx_send(s, &k, sizeof(k), 0, 30000000000ll))
                    _exit(6);
                pause_a_little();
            }
            _exit(0);
        }
    }
    /* The receivers first: when one was deaf, the senders are stopped. */
    int failed = 0;
    for (int i = CROWD_SENDERS + CROWD_RECEIVERS - 1; i >= 0; i--) {
        int st;
        assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
            continue;
        print_error("%s %d: %s %d\n", i < CROWD_SENDERS ? "sender" : "receiver", i,
                    WIFEXITED(st) ? "exit" : "signal",
                    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
        if (!failed++)
            for (int k = 0; k < CROWD_SENDERS; k++)
                kill(kids[k], SIGKILL);
    }
    assert_int_equal(failed, 0); /* receiver exit 7: a lost wake-up */
    mbx_stat st;
    assert_int_equal(mbx_stat_get(m, &st), 0);
    assert_int_equal(st.count, 0); /* every message taken, by the shares */
    mbx_close(m);
    mbx_unlink("crowd");
}

/* 1 once process pid is inside its exit (the kernel's PF_EXITING in
 * /proc/PID/stat) or gone. */
static int exiting(pid_t pid)
{
    char path[64], line[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 1;
    int got = fgets(line, sizeof(line), f) != NULL;
    fclose(f);
    const char *p = got ? strrchr(line, ')') : NULL;
    char state = 0;
    unsigned flags = 0;
    if (!p || sscanf(p + 1, " %c %*d %*d %*d %*d %*d %u", &state, &flags) != 2)
        return 1;
    return state == 'Z' || state == 'X' || (flags & 0x4u);
}

/* A poller killed with a large address space is "dead" (inside its exit)
 * while the kernel still tears its memory down, before its descriptors
 * are closed: a new poller's claim that reaps its entry then finds its
 * socket still bound. The entry was freed all the same, and once the
 * socket went the file was named by no entry, for good (a kill -9 chaos
 * run left 67 so). It is kept until a later look removes the file. */
static void poller_reaped_while_exiting_leaves_no_socket(void **state)
{
    (void)state;
    enum { BIG = 64 << 20 };
    mbx *m = open_box("slowdeath", MBX_SEND, 8);
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t c = fork();
    if (c == 0) {
        test_child();
        char *big = malloc(BIG);
        if (!big)
            _exit(2);
        memset(big, 1, BIG);
        mbx *r = NULL;
        if (mbx_open("slowdeath", MBX_RECV, NULL, &r) || mbx_fd(r, MBX_RECV) < 0)
            _exit(3);
        if (write(ready[1], "r", 1) != 1)
            _exit(4);
        test_await_kill();
    }
    assert_true(test_read_ready(ready[0]));
    assert_int_equal(poll_sockets(), 1);
    kill(c, SIGKILL);
    long looks = 0;
    while (!exiting(c) && looks < 10000000)
        looks++;
    mbx *r = NULL;
    assert_int_equal(mbx_open("slowdeath", MBX_RECV, NULL, &r), 0);
    assert_true(mbx_fd(r, MBX_RECV) >= 0); /* its claim reaps the dead entry */
    int still_bound = poll_sockets() == 2;
    assert_int_equal(waitpid(c, NULL, 0), c);
    print_message("reaped while %s\n", still_bound ? "its socket was bound" : "(window missed)");
    mbx_close(r);
    send_u32(m, 1); /* a change: tells nobody, reaps nothing more */
    mbx_close(m);
    assert_int_equal(mbx_unlink("slowdeath"), 0); /* reaps every entry */
    assert_int_equal(poll_sockets(), 0);
    close(ready[0]);
    close(ready[1]);
}

/* Every one of several pollers (processes) is woken by one message. */
static void many_pollers_all_woken(void **state)
{
    (void)state;
    enum { N = 6 };
    mbx *m = open_box("many", MBX_SEND, 8);
    int ready[2], woke[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(woke), 0);
    pid_t kids[N];
    for (int i = 0; i < N; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            test_child();
            mbx *r = NULL;
            if (mbx_open("many", MBX_RECV, NULL, &r))
                _exit(2);
            int fd = mbx_fd(r, MBX_RECV);
            if (fd < 0)
                _exit(3);
            if (write(ready[1], "r", 1) != 1)
                _exit(4);
            if (!readable(fd, 10000))
                _exit(5);
            _exit(write(woke[1], "w", 1) == 1 ? 0 : 6);
        }
    }
    for (int i = 0; i < N; i++)
        assert_true(test_read_ready(ready[0]));
    send_u32(m, 7);
    for (int i = 0; i < N; i++)
        assert_true(test_read_ready(woke[0]));
    for (int i = 0; i < N; i++)
        reap_ok(kids[i]);
    close(ready[0]), close(ready[1]), close(woke[0]), close(woke[1]);
    mbx_close(m);
    mbx_unlink("many");
}

/* A poller killed while armed: the others keep working, its entry and its
 * socket go at the next change. */
static void killed_poller_leaves_nothing(void **state)
{
    (void)state;
    mbx *m = open_box("killed", MBX_SEND | MBX_RECV, 8);
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    int before = poll_sockets();
    pid_t p = fork();
    if (p == 0) {
        mbx *r = NULL;
        if (mbx_open("killed", MBX_RECV, NULL, &r) || mbx_fd(r, MBX_RECV) < 0)
            _exit(2);
        if (write(ready[1], "r", 1) != 1)
            _exit(3);
        test_await_kill();
    }
    assert_true(test_read_ready(ready[0]));
    int fd = mbx_fd(m, MBX_RECV);
    assert_true(fd >= 0);
    assert_int_equal(poll_sockets(), before + 2);
    kill(p, SIGKILL);
    int st;
    assert_int_equal(waitpid(p, &st, 0), p);
    assert_true(WIFSIGNALED(st));
    send_u32(m, 1);
    assert_true(readable(fd, 1000));
    struct seg_hdr *h = shm_box_of(m)->seg.hdr;
    int used = 0;
    for (unsigned i = 0; i < SEG_POLLERS; i++)
        used += h->pollers[i].who != 0;
    assert_int_equal(used, 1);
    assert_int_equal(poll_sockets(), before + 1);
    uint32_t v;
    assert_int_equal(mbx_recv(m, &v, sizeof(v), NULL, MBX_NONBLOCK), sizeof(v));
    assert_false(readable(fd, 0));
    close(ready[0]), close(ready[1]);
    mbx_close(m);
    assert_int_equal(poll_sockets(), before); /* close removes its own */
    mbx_unlink("killed");
}

/* Forks a process that opens mailbox `name` and is killed, with kill -9,
 * making its receive descriptor right after its socket file was made
 * (at_close 0), or closing it right before the file is removed. */
static void kill_a_poller_half_way(const char *name, int at_close)
{
    pid_t p = fork();
    if (p == 0) {
        mbx *r = NULL;
        if (mbx_open(name, MBX_RECV, NULL, &r))
            _exit(2);
        kill_at_bind = !at_close;
        if (mbx_fd(r, MBX_RECV) < 0)
            _exit(3);
        kill_at_unlink = at_close;
        mbx_close(r);
        _exit(4);
    }
    int st;
    assert_int_equal(waitpid(p, &st, 0), p);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGKILL);
}

/* A poller killed the moment its socket file was made, or while its close
 * removed it: the file goes with the next poller, and with the mailbox's
 * removal. Made before the entry that named it (or its entry freed before
 * the file went), the file was named nowhere and stayed for good: 71 left
 * by 3440 killed pollers in a chaos run, every mailbox removed. */
static void poller_killed_making_or_closing_leaves_no_socket(void **state)
{
    (void)state;
    for (int at_close = 0; at_close < 2; at_close++)
        for (int by_removal = 0; by_removal < 2; by_removal++) {
            mbx *m = open_box("killedhalf", MBX_SEND | MBX_RECV, 8);
            int before = poll_sockets();
            kill_a_poller_half_way("killedhalf", at_close);
            assert_int_equal(poll_sockets(), before + 1); /* the dead one's file */
            if (by_removal) {
                mbx_close(m);
                assert_int_equal(mbx_unlink("killedhalf"), 0);
                assert_int_equal(poll_sockets(), before);
                continue;
            }
            assert_true(mbx_fd(m, MBX_RECV) >= 0);        /* the next poller */
            assert_int_equal(poll_sockets(), before + 1); /* its own only */
            mbx_close(m);
            assert_int_equal(poll_sockets(), before);
            assert_int_equal(mbx_unlink("killedhalf"), 0);
        }
}

/* A forged poller entry (a dead process, a live poller's socket id) in a
 * mailbox we only look at must not make us remove that live socket: the
 * attack an attacker review found. The victim's descriptor keeps waking,
 * and its socket stays. */
static void forged_entry_removes_no_live_socket(void **state)
{
    (void)state;
    mbx *victim = open_box("victim", MBX_SEND | MBX_RECV, 8);
    mbx *decoy = open_box("decoy", MBX_SEND | MBX_RECV, 8);
    int fd = mbx_fd(victim, MBX_RECV);
    assert_true(fd >= 0);
    int sockets = poll_sockets();
    struct seg_hdr *vh = shm_box_of(victim)->seg.hdr;
    const struct seg_poller *mine = NULL;
    for (unsigned i = 0; i < SEG_POLLERS; i++)
        if (vh->pollers[i].who != 0)
            mine = &vh->pollers[i];
    assert_non_null(mine);
    pid_t gone = fork();
    if (gone == 0)
        _exit(0);
    reap_ok(gone);
    struct seg_poller *forged = &shm_box_of(decoy)->seg.hdr->pollers[0];
    forged->id = mine->id;
    forged->place = mine->place;
    forged->dir = SEG_POLL_RECV;
    __atomic_store_n(&forged->who, ident_make(gone, 1), __ATOMIC_RELEASE);
    /* Reaping happens when a descriptor is made, at removal, and for
     * mbx_stat_name (mbx ls, stat, top). */
    mbx_stat st;
    assert_int_equal(mbx_stat_name("decoy", &st), 0);
    assert_true(mbx_fd(decoy, MBX_RECV) >= 0);
    /* The entry stays: the socket it names is bound, as a dying poller's
     * may still be (poller_reaped_while_exiting_leaves_no_socket); a later
     * look frees it once nobody has the socket. */
    assert_int_equal(forged->who == ident_make(gone, 1), 1);
    assert_int_equal(poll_sockets(), sockets + 1); /* decoy's own, none gone */
    send_u32(victim, 7);
    assert_true(readable(fd, 10000));
    mbx_close(decoy);
    mbx_close(victim);
    mbx_unlink("decoy");
    mbx_unlink("victim");
}

/* A forked child gets a descriptor of its own that works; exec closes
 * descriptors; the parent's keeps working. */
static void fork_and_exec(void **state)
{
    (void)state;
    mbx *m = open_box("forked", MBX_SEND | MBX_RECV, 8);
    int fd = mbx_fd(m, MBX_RECV);
    assert_true(fd >= 0);
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t p = fork();
    if (p == 0) {
        test_child();
        int mine = mbx_fd(m, MBX_RECV);
        if (mine < 0)
            _exit(2);
        if (write(ready[1], "r", 1) != 1)
            _exit(3);
        uint32_t v;
        ssize_t n = recv_when_ready(m, mine, 0, &v);
        _exit(n == -ETIMEDOUT ? 4 : n == sizeof(v) && v == 5 ? 0 : 5);
    }
    assert_true(test_read_ready(ready[0]));
    send_u32(m, 5);
    reap_ok(p);
    /* The parent's descriptor: the message came and went. */
    uint32_t v;
    assert_int_equal(mbx_recv(m, &v, sizeof(v), NULL, MBX_NONBLOCK), -EAGAIN);
    assert_false(readable(fd, 0));
    send_u32(m, 6);
    assert_true(readable(fd, 1000));
    p = fork();
    if (p == 0) {
        char cmd[64];
        snprintf(cmd, sizeof(cmd), "[ ! -e /proc/self/fd/%d ]", fd);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(9);
    }
    reap_ok(p);
    close(ready[0]), close(ready[1]);
    mbx_close(m);
    mbx_unlink("forked");
}

/* Removal makes both descriptors readable for good; calls say -EIDRM. */
static void removal_makes_readable(void **state)
{
    (void)state;
    mbx *m = open_box("gone", MBX_SEND | MBX_RECV, 1);
    send_u32(m, 1);
    int rfd = mbx_fd(m, MBX_RECV), sfd = mbx_fd(m, MBX_SEND);
    uint32_t v;
    assert_int_equal(mbx_recv(m, &v, sizeof(v), NULL, MBX_NONBLOCK), sizeof(v));
    send_u32(m, 2);
    assert_false(readable(sfd, 0));
    assert_int_equal(mbx_recv(m, &v, sizeof(v), NULL, MBX_NONBLOCK), sizeof(v));
    assert_false(readable(rfd, 0));
    assert_int_equal(mbx_unlink("gone"), 0);
    assert_true(readable(rfd, 1000));
    assert_int_equal(mbx_recv(m, &v, sizeof(v), NULL, MBX_NONBLOCK), -EIDRM);
    assert_true(readable(rfd, 0));
    assert_true(readable(sfd, 0) || mbx_send(m, &v, sizeof(v), 0, MBX_NONBLOCK) == -EIDRM);
    mbx_close(m);
}

/* The owner of an MBX_OWNED mailbox is killed while a sender waits for
 * room on its descriptor: readable at once, and the send says -EIDRM. */
static void owner_death_wakes_sender(void **state)
{
    (void)state;
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t p = fork();
    if (p == 0) {
        mbx_attr a;
        mbx_attr_init(&a);
        a.capacity = 1;
        a.max_msg_size = 64;
        mbx *o = NULL;
        if (mbx_open("owned", MBX_RECV | MBX_CREATE | MBX_OWNED, &a, &o))
            _exit(2);
        if (write(ready[1], "r", 1) != 1)
            _exit(3);
        test_await_kill();
    }
    assert_true(test_read_ready(ready[0]));
    mbx *m = NULL;
    assert_int_equal(mbx_open("owned", MBX_SEND, NULL, &m), 0);
    send_u32(m, 1);
    int fd = mbx_fd(m, MBX_SEND);
    assert_true(fd >= 0);
    assert_false(readable(fd, 0));
    kill(p, SIGKILL);
    int st;
    assert_int_equal(waitpid(p, &st, 0), p);
    assert_true(readable(fd, 2000)); /* the owner's pidfd, well before any poll period */
    uint32_t v = 2;
    assert_int_equal(mbx_send(m, &v, sizeof(v), 0, MBX_NONBLOCK), -EIDRM);
    close(ready[0]), close(ready[1]);
    mbx_close(m);
}

/* The receiving end of a new stream `name` (4 KiB of buffer). */
static mbx *stream_receiver(const char *name)
{
    mbx_attr a;
    mbx_attr_init(&a);
    a.capacity = 4;
    a.max_msg_size = 1024;
    mbx *r = NULL;
    assert_int_equal(mbx_open(name, MBX_RECV | MBX_CREATE | MBX_STREAM, &a, &r), 0);
    return r;
}

/* A stream's receiver descriptor becomes readable at the end of the
 * stream: a sender that closes, and one killed with kill -9. */
static void stream_end_makes_readable(void **state)
{
    (void)state;
    for (int killed = 0; killed < 2; killed++) {
        mbx *r = stream_receiver("pipe");
        int fd = mbx_fd(r, MBX_RECV);
        assert_true(fd >= 0);
        int ready[2];
        assert_int_equal(pipe(ready), 0);
        pid_t p = fork();
        if (p == 0) {
            mbx *s = NULL;
            if (mbx_open("pipe", MBX_SEND, NULL, &s) || mbx_send(s, "ab", 2, 0, MBX_NONBLOCK))
                _exit(2);
            if (write(ready[1], "r", 1) != 1)
                _exit(3);
            if (killed)
                test_await_kill();
            mbx_close(s);
            _exit(0);
        }
        assert_true(test_read_ready(ready[0]));
        assert_true(readable(fd, 1000));
        char buf[8];
        assert_int_equal(mbx_recv(r, buf, sizeof(buf), NULL, MBX_NONBLOCK), 2);
        if (killed) {
            assert_false(readable(fd, 0));
            kill(p, SIGKILL);
            int st;
            assert_int_equal(waitpid(p, &st, 0), p);
        } else {
            reap_ok(p);
        }
        assert_true(readable(fd, 2000));
        assert_int_equal(mbx_recv(r, buf, sizeof(buf), NULL, MBX_NONBLOCK), 0);
        assert_true(readable(fd, 0)); /* the end stays readable */
        close(ready[0]), close(ready[1]);
        mbx_close(r);
        mbx_unlink("pipe");
    }
}

/* A rendezvous mailbox's send descriptor is readable while a receiver
 * waits. One killed asleep stays counted (the count forgets the dead only
 * as its epochs move on, which took a new sleeper): the descriptor stayed
 * readable for ever, every send said -EAGAIN, and an event loop spun. Now
 * it goes quiet within about two seconds. */
static void rendezvous_dead_receiver_stops_the_send_wakeups(void **state)
{
    (void)state;
    mbx *m = open_box("rdvdead", MBX_SEND | MBX_RECV, MBX_RENDEZVOUS);
    pid_t p = fork();
    if (p == 0) {
        test_child();
        uint32_t v;
        mbx_set_spin(m, 0);
        mbx_recv(m, &v, sizeof(v), NULL, MBX_FOREVER);
        _exit(0);
    }
    mbx_stat st;
    for (int i = 0; i < 10000; i++) {
        assert_int_equal(mbx_stat_get(m, &st), 0);
        if (st.receivers_waiting == 1)
            break;
        usleep(1000);
    }
    assert_int_equal(st.receivers_waiting, 1);
    kill(p, SIGKILL);
    int status;
    assert_int_equal(waitpid(p, &status, 0), p);
    int fd = mbx_fd(m, MBX_SEND);
    assert_true(fd >= 0);
    long wakes = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (!readable(fd, 300))
            break; /* quiet */
        uint32_t v = 1;
        assert_int_equal(mbx_send(m, &v, sizeof(v), 0, MBX_NONBLOCK), -EAGAIN);
        wakes++;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (t1.tv_sec - t0.tv_sec > 8)
            fail_msg("the send descriptor of a rendezvous mailbox whose only receiver was killed "
                     "is still readable after 8 s (%ld wake-ups)",
                     wakes);
    }
    print_message("rendezvous: quiet after %ld wake-ups\n", wakes);
    mbx_close(m);
    mbx_unlink("rdvdead");
}

/* A mailbox of one slot whose message a receiver took as a loan and was
 * killed holding: a send would free the slot, so the send descriptor is
 * readable. Before, a ring's said "full" for as long as nobody sent. */
static void dead_borrower_leaves_room(void **state)
{
    (void)state;
    mbx *m = open_box("borrowed", MBX_SEND | MBX_RECV, 1);
    send_u32(m, 1);
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t p = fork();
    if (p == 0) {
        test_child();
        const void *lent = NULL;
        if (mbx_recv_loan(m, &lent, NULL, MBX_NONBLOCK) != sizeof(uint32_t))
            _exit(2);
        if (write(ready[1], "r", 1) != 1)
            _exit(3);
        test_await_kill();
    }
    assert_true(test_read_ready(ready[0]));
    kill(p, SIGKILL);
    int st;
    assert_int_equal(waitpid(p, &st, 0), p);
    int fd = mbx_fd(m, MBX_SEND);
    assert_true(fd >= 0);
    assert_true(readable(fd, 2000));
    uint32_t v = 2;
    assert_int_equal(mbx_send(m, &v, sizeof(v), 0, MBX_NONBLOCK), 0);
    assert_int_equal(mbx_recv(m, &v, sizeof(v), NULL, MBX_NONBLOCK), sizeof(v));
    assert_int_equal(v, 2);
    close(ready[0]), close(ready[1]);
    mbx_close(m);
    mbx_unlink("borrowed");
}

/* A heap mailbox whose arena holds one message, lent to a receiver that
 * is killed after a send found no room: the arena reads full (the block
 * is still in use) though the count is 0. mbx_poll gives the dead
 * borrower's block back and says there is room, and the descriptor is
 * readable: before, both said full until a send took the lock and
 * reclaimed it, and an event loop that sends only when told waited for
 * ever. */
static void dead_borrower_leaves_arena_room(void **state)
{
    (void)state;
    mbx_attr a;
    mbx_attr_init(&a);
    a.capacity = 4;
    a.max_msg_size = 4000;
    a.memory_limit = 4096;
    setenv("MBX_QUEUE", "heap", 1);
    mbx *m = NULL;
    assert_int_equal(mbx_open("arena1", MBX_SEND | MBX_RECV | MBX_CREATE, &a, &m), 0);
    unsetenv("MBX_QUEUE");
    assert_null(shm_box_of(m)->seg.ring);
    static char big[4000];
    assert_int_equal(mbx_send(m, big, sizeof(big), 0, MBX_NONBLOCK), 0);
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t p = fork();
    if (p == 0) {
        test_child();
        const void *lent = NULL;
        if (mbx_recv_loan(m, &lent, NULL, MBX_NONBLOCK) != (ssize_t)sizeof(big))
            _exit(2);
        if (write(ready[1], "r", 1) != 1)
            _exit(3);
        test_await_kill();
    }
    assert_true(test_read_ready(ready[0]));
    /* Armed, and told that a send of this size found no room (the
     * borrower lives): ready only once such a send fits. */
    int fd = mbx_fd(m, MBX_SEND);
    assert_true(fd >= 0);
    assert_int_equal(mbx_send(m, big, sizeof(big), 0, MBX_NONBLOCK), -EAGAIN);
    assert_false(readable(fd, 0));
    kill(p, SIGKILL);
    int st;
    assert_int_equal(waitpid(p, &st, 0), p);
    mbx_pollitem it = {m, -1, POLLOUT, 0};
    assert_int_equal(mbx_poll(&it, 1, MBX_NONBLOCK), 1);
    assert_int_equal(it.revents, POLLOUT);
    assert_true(readable(fd, 0));
    assert_int_equal(mbx_send(m, big, sizeof(big), 0, MBX_NONBLOCK), 0);
    close(ready[0]), close(ready[1]);
    mbx_close(m);
    mbx_unlink("arena1");
}

#if defined(__x86_64__)
#include "step_trace.h"

/* A heap receiver killed under the mailbox's lock after it freed the
 * block it took but before it uncounted it: the mailbox (capacity 1) reads
 * full until someone takes the lock and repairs it. A descriptor made
 * afterwards, and mbx_poll, settle it (the lock's holder is dead) and say
 * there is room: before, they said full until another call came. */
static void dead_lock_holder_leaves_room(void **state)
{
    (void)state;
    if (!trace_allowed())
        test_skip("this process may not trace its children (ptrace refused)");
    setenv("MBX_QUEUE", "heap", 1);
    mbx *m = open_box("halfway", MBX_SEND | MBX_RECV, 1);
    unsetenv("MBX_QUEUE");
    assert_null(shm_box_of(m)->seg.ring);
    send_u32(m, 1);
    pid_t p = fork();
    assert_true(p >= 0);
    if (p == 0) {
        (void)ident_self(); /* learnt from /proc here, not in the receive */
        (void)ident_thread();
        uint32_t v;
        ptrace(PTRACE_TRACEME, 0, NULL, NULL);
        raise(SIGSTOP);
        mbx_recv(m, &v, sizeof(v), NULL, MBX_NONBLOCK);
        _exit(0);
    }
    trace_kill_after(p, (uintptr_t)alloc_free);
    assert_int_equal(__atomic_load_n(&shm_box_of(m)->seg.hdr->hot.count, __ATOMIC_RELAXED), 1);
    mbx_pollitem it = {m, -1, POLLOUT, 0};
    assert_int_equal(mbx_poll(&it, 1, MBX_NONBLOCK), 1);
    assert_int_equal(it.revents, POLLOUT);
    int fd = mbx_fd(m, MBX_SEND);
    assert_true(fd >= 0);
    assert_true(readable(fd, 0));
    uint32_t v = 2;
    assert_int_equal(mbx_send(m, &v, sizeof(v), 0, MBX_NONBLOCK), 0);
    assert_int_equal(mbx_recv(m, &v, sizeof(v), NULL, MBX_NONBLOCK), sizeof(v));
    assert_int_equal(v, 2);
    mbx_close(m);
    mbx_unlink("halfway");
}
#else
static void dead_lock_holder_leaves_room(void **state)
{
    (void)state;
    test_skip("x86-64 only (it reads the instruction pointer)");
}
#endif

/* A sender that opens the stream after the receiver's descriptor is armed
 * and dies before it writes a byte: the descriptor becomes readable, and
 * the receive says the stream ended. Before, the opening told nobody, so
 * nobody watched the sender and its death left the descriptor quiet. */
/* A stream's send right held by a process that died before it opened in
 * full (had_sender still 0: killed inside the open, or written by a
 * peer): its death changes nothing a receive sees, so mbx_poll must end
 * at its timeout. (The poller took it for the end of the stream, its
 * descriptor stayed readable, and mbx_poll spun past its timeout for
 * ever; found by a review.) */
static void half_opened_dead_sender_lets_poll_time_out(void **state)
{
    (void)state;
    mbx *r = stream_receiver("pipe2");
    pid_t gone = fork();
    if (gone == 0)
        _exit(0);
    assert_int_equal(waitpid(gone, NULL, 0), gone);
    struct stream_ctl *ctl = (struct stream_ctl *)shm_box_of(r)->seg.stream;
    assert_int_equal(__atomic_load_n(&ctl->had_sender, __ATOMIC_ACQUIRE), 0);
    __atomic_store_n(&ctl->sender, ident_make(gone, 12345), __ATOMIC_RELEASE);
    pid_t p = fork();
    if (p == 0) {
        test_child();
        alarm(20); /* spinning for ever is the failure */
        mbx_pollitem it = {r, -1, POLLIN, 0};
        _exit(mbx_poll(&it, 1, 200 * 1000000ll) == 0 ? 0 : 1);
    }
    int st = 0;
    assert_int_equal(waitpid(p, &st, 0), p);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    int fd = mbx_fd(r, MBX_RECV); /* and a descriptor stays quiet */
    assert_true(fd >= 0);
    assert_false(readable(fd, 200));
    __atomic_store_n(&ctl->sender, 0, __ATOMIC_RELEASE);
    mbx_close(r);
    mbx_unlink("pipe2");
}

static void stream_sender_dying_unwritten_makes_readable(void **state)
{
    (void)state;
    mbx *r = stream_receiver("pipe0");
    int fd = mbx_fd(r, MBX_RECV);
    assert_true(fd >= 0);
    assert_false(readable(fd, 0));
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t p = fork();
    if (p == 0) {
        test_child();
        mbx *s = NULL;
        if (mbx_open("pipe0", MBX_SEND, NULL, &s))
            _exit(2);
        if (write(ready[1], "r", 1) != 1)
            _exit(3);
        test_await_kill();
    }
    assert_true(test_read_ready(ready[0]));
    /* As an event loop: a wake-up that finds nothing, then quiet. */
    char buf[8];
    for (int i = 0; i < 100 && readable(fd, 20); i++)
        assert_int_equal(mbx_recv(r, buf, sizeof(buf), NULL, MBX_NONBLOCK), -EAGAIN);
    assert_false(readable(fd, 50));
    kill(p, SIGKILL);
    int st;
    assert_int_equal(waitpid(p, &st, 0), p);
    assert_true(readable(fd, 2000));
    assert_int_equal(mbx_recv(r, buf, sizeof(buf), NULL, MBX_NONBLOCK), 0);
    close(ready[0]), close(ready[1]);
    mbx_close(r);
    mbx_unlink("pipe0");
}

/* Takes every descriptor number left (under a soft limit of at most 256)
 * with copies of fd; *n of them, in fds. */
static void exhaust_descriptors(int fd, int *fds, int *n, struct rlimit *was)
{
    assert_int_equal(getrlimit(RLIMIT_NOFILE, was), 0);
    struct rlimit low = *was;
    if (low.rlim_cur > 256)
        low.rlim_cur = 256;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    *n = 0;
    int d;
    while (*n < 256 && (d = dup(fd)) >= 0)
        fds[(*n)++] = d;
    assert_int_equal(errno, EMFILE);
}

static void give_back_descriptors(const int *fds, int n, const struct rlimit *was)
{
    for (int i = 0; i < n; i++)
        close(fds[i]);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, was), 0);
}

/* A process out of descriptors (EMFILE) could not open the pidfd of a
 * stream's sender that opened: the sender was taken for dead, the
 * descriptor made readable at every look, and an event loop spun (each
 * receive said -EAGAIN). It now looks again every POLL_LATER_MS, and
 * still reports the sender's death once descriptors are back. */
static void no_descriptor_for_a_pidfd_does_not_spin_a_loop(void **state)
{
    (void)state;
    mbx *r = stream_receiver("pipefd");
    int fd = mbx_fd(r, MBX_RECV);
    assert_true(fd >= 0);
    char none[300];
    snprintf(none, sizeof(none), "%s/.nobody", test_dir);
    (void)note_send(none); /* this process's sending socket made now */
    int go[2], ready[2];
    assert_int_equal(pipe(go), 0);
    assert_int_equal(pipe(ready), 0);
    pid_t p = fork();
    if (p == 0) {
        test_child();
        char c;
        if (read(go[0], &c, 1) != 1)
            _exit(4);
        mbx *s = NULL;
        if (mbx_open("pipefd", MBX_SEND, NULL, &s))
            _exit(2);
        if (write(ready[1], "r", 1) != 1)
            _exit(3);
        test_await_kill();
    }
    static int fds[256];
    int n;
    struct rlimit was;
    exhaust_descriptors(go[1], fds, &n, &was);
    assert_int_equal(write(go[1], "g", 1), 1);
    int opened = test_read_ready(ready[0]);
    int reports = 0;
    char buf[8];
    int64_t end = clock_now_ns() + 1000000000LL;
    while (opened && clock_now_ns() < end) {
        if (!readable(fd, 100))
            continue;
        reports++;
        if (mbx_recv(r, buf, sizeof(buf), NULL, MBX_NONBLOCK) != -EAGAIN)
            break;
    }
    give_back_descriptors(fds, n, &was);
    printf("reports in 1 s of an open stream, no descriptor for its sender's pidfd: %d\n", reports);
    kill(p, SIGKILL);
    int st;
    assert_int_equal(waitpid(p, &st, 0), p);
    assert_true(opened);
    assert_true(reports <= 100);
    uint32_t v;
    assert_int_equal(recv_when_ready(r, fd, 0, &v), 0); /* the end */
    close(go[0]), close(go[1]), close(ready[0]), close(ready[1]);
    mbx_close(r);
    mbx_unlink("pipefd");
}

/* A round-robin mailbox: a message queued while a receiver holds the turn
 * is that receiver's, so the descriptor is not readable; when it dies the
 * turn passes on, and the descriptor becomes readable (the poller watches
 * the holder's death) for a receive that does not wait. A holder that is
 * stopped has left the line too: a descriptor made then is readable at
 * once. The holder here is a process whose ticket the test writes in, as
 * a receiver that has not yet run since its wake-up holds it: a real
 * receiver would take the message first. Before: the descriptor stayed
 * unreadable, and such a receive said -EAGAIN, for as long as nobody
 * waited. */
static void round_robin_turn_holder_death_makes_readable(void **state)
{
    (void)state;
    for (int stop = 0; stop < 2; stop++) {
        mbx_attr a;
        mbx_attr_init(&a);
        a.recv_policy = MBX_RECV_ROUND_ROBIN;
        a.max_msg_size = 64;
        mbx *m = NULL;
        assert_int_equal(mbx_open("rrpoll", MBX_SEND | MBX_RECV | MBX_CREATE, &a, &m), 0);
        int ready[2];
        assert_int_equal(pipe(ready), 0);
        pid_t p = fork();
        if (p == 0) {
            test_child(); /* before it can be stopped: it dies with the test */
            ident_t me = ident_self();
            if (write(ready[1], &me, sizeof(me)) != (ssize_t)sizeof(me))
                _exit(3);
            test_await_kill();
            _exit(0);
        }
        ident_t holder = 0;
        assert_int_equal(read(ready[0], &holder, sizeof(holder)), (ssize_t)sizeof(holder));
        struct seg *s = &shm_box_of(m)->seg;
        assert_int_equal(seg_lock(s, -1), 0);
        struct seg_rr *rr = &s->hdr->rr;
        rr->holder[rr->next % SEG_RR_WINDOW] = holder;
        rr->next++;
        heap_unlock(s);
        int st;
        uint32_t v = 0;
        if (stop) {
            kill(p, SIGSTOP);
            assert_int_equal(waitpid(p, &st, WUNTRACED), p);
            send_u32(m, 6);
            int fd = mbx_fd(m, MBX_RECV);
            assert_true(fd >= 0);
            assert_true(readable(fd, 2000));
            assert_int_equal(recv_when_ready(m, fd, 0, &v), sizeof(v));
            assert_int_equal(v, 6);
        } else {
            send_u32(m, 5);
            int fd = mbx_fd(m, MBX_RECV);
            assert_true(fd >= 0);
            assert_false(readable(fd, 50));
            assert_int_equal(mbx_recv(m, &v, sizeof(v), NULL, MBX_NONBLOCK), -EAGAIN);
            assert_false(readable(fd, 50));
            kill(p, SIGKILL);
            assert_int_equal(waitpid(p, &st, 0), p);
            assert_int_equal(recv_when_ready(m, fd, 0, &v), sizeof(v));
            assert_int_equal(v, 5);
        }
        assert_int_equal(mbx_recv(m, &v, sizeof(v), NULL, MBX_NONBLOCK), -EAGAIN);
        if (stop) {
            kill(p, SIGKILL);
            assert_int_equal(waitpid(p, &st, 0), p);
        }
        close(ready[0]), close(ready[1]);
        mbx_close(m);
        mbx_unlink("rrpoll");
    }
}

/* A receive from one sender that finds none of its messages leaves the
 * descriptor unreadable although others' messages are queued; that
 * sender's next message makes it readable. */
static void recv_from_waits_for_its_sender(void **state)
{
    (void)state;
    mbx *m = open_box("from", MBX_SEND | MBX_RECV, 8);
    send_u32(m, 1); /* from us */
    int fd = mbx_fd(m, MBX_RECV);
    int go[2];
    assert_int_equal(pipe(go), 0);
    pid_t p = fork();
    if (p == 0) {
        test_child();
        if (!test_read_ready(go[0]))
            _exit(2);
        mbx *s = NULL;
        uint32_t v = 2;
        _exit(mbx_open("from", MBX_SEND, NULL, &s) || mbx_send(s, &v, sizeof(v), 0, 0) ? 3 : 0);
    }
    uint32_t v;
    assert_int_equal(mbx_recv_from(m, p, &v, sizeof(v), NULL, MBX_NONBLOCK), -EAGAIN);
    assert_false(readable(fd, 0));
    assert_int_equal(write(go[1], "g", 1), 1);
    assert_int_equal(recv_when_ready(m, fd, p, &v), sizeof(v));
    assert_int_equal(v, 2);
    reap_ok(p);
    close(go[0]), close(go[1]);
    mbx_close(m);
    mbx_unlink("from");
}

/* mbx_poll over mailboxes and a pipe. */
static void poll_many(void **state)
{
    (void)state;
    mbx *a = open_box("pa", MBX_SEND | MBX_RECV, 4);
    mbx *b = open_box("pb", MBX_SEND | MBX_RECV, 4);
    int pp[2];
    assert_int_equal(pipe(pp), 0);
    mbx_pollitem it[3] = {
        {a, -1, POLLIN, 0},
        {b, -1, POLLIN, 0},
        {NULL, pp[0], POLLIN, 0},
    };
    assert_int_equal(mbx_poll(it, 3, 20000000), 0);
    assert_int_equal(mbx_poll(it, 3, MBX_NONBLOCK), 0);
    assert_int_equal(write(pp[1], "x", 1), 1);
    assert_int_equal(mbx_poll(it, 3, 1000000000), 1);
    assert_int_equal(it[2].revents, POLLIN);
    assert_int_equal(it[0].revents | it[1].revents, 0);
    char c;
    assert_int_equal(read(pp[0], &c, 1), 1);
    send_u32(b, 9);
    assert_int_equal(mbx_poll(it, 3, 1000000000), 1);
    assert_int_equal(it[1].revents, POLLIN);
    uint32_t v;
    assert_int_equal(mbx_recv(b, &v, sizeof(v), NULL, MBX_NONBLOCK), sizeof(v));
    /* From another process, while mbx_poll sleeps. */
    pid_t p = fork();
    if (p == 0) {
        test_child();
        usleep(20000);
        mbx *s = NULL;
        uint32_t w = 4;
        _exit(mbx_open("pa", MBX_SEND, NULL, &s) || mbx_send(s, &w, sizeof(w), 0, 0) ? 2 : 0);
    }
    assert_int_equal(mbx_poll(it, 3, 10000000000ll), 1);
    assert_int_equal(it[0].revents, POLLIN);
    reap_ok(p);
    /* Removal: POLLHUP with POLLIN; a direction the handle lacks: POLLNVAL. */
    assert_int_equal(mbx_unlink("pb"), 0);
    assert_int_equal(mbx_poll(&it[1], 1, 1000000000), 1);
    assert_int_equal(it[1].revents, POLLIN | POLLHUP);
    mbx *ro = NULL;
    assert_int_equal(mbx_open("pa", MBX_RECV, NULL, &ro), 0);
    mbx_pollitem bad = {ro, -1, POLLOUT, 0};
    assert_int_equal(mbx_poll(&bad, 1, MBX_NONBLOCK), 1);
    assert_int_equal(bad.revents, POLLNVAL);
    mbx_pollitem none = {NULL, -1, POLLIN, 0};
    assert_int_equal(mbx_poll(&none, 1, 0), -EINVAL);
    assert_int_equal(mbx_poll(NULL, 1, 0), -EINVAL);
    /* Room: POLLOUT. */
    mbx_pollitem out = {a, -1, POLLOUT, 0};
    assert_int_equal(mbx_poll(&out, 1, MBX_NONBLOCK), 1);
    assert_int_equal(out.revents, POLLOUT);
    close(pp[0]), close(pp[1]);
    mbx_close(ro);
    mbx_close(a);
    mbx_close(b);
    mbx_unlink("pa");
}

/* At most SEG_POLLERS descriptors per mailbox; a closed one frees its
 * place. */
static void pollers_are_bounded(void **state)
{
    (void)state;
    int before = poll_sockets();
    mbx *h[SEG_POLLERS + 1];
    for (unsigned i = 0; i <= SEG_POLLERS; i++)
        h[i] = open_box("bound", MBX_RECV, 4);
    for (unsigned i = 0; i < SEG_POLLERS; i++)
        assert_true(mbx_fd(h[i], MBX_RECV) >= 0);
    assert_int_equal(mbx_fd(h[SEG_POLLERS], MBX_RECV), -EUSERS);
    mbx_close(h[0]);
    assert_true(mbx_fd(h[SEG_POLLERS], MBX_RECV) >= 0);
    for (unsigned i = 1; i <= SEG_POLLERS; i++)
        mbx_close(h[i]);
    assert_int_equal(poll_sockets(), before);
    mbx_unlink("bound");
}

/* A peer who may write the mailbox scribbles the place of our entry once
 * (its socket said to be in /dev/shm while it is beside the mailbox):
 * every changer then told a socket nobody has, and the handle's next
 * calls kept the entry as it was (its place was taken from the entry
 * itself), so the descriptor stayed deaf for good. The next call of the
 * handle puts the place back. */
static void scribbled_place_is_put_back(void **state)
{
    (void)state;
    mbx *m = open_box("place", MBX_SEND | MBX_RECV, 8);
    mbx *s = NULL;
    assert_int_equal(mbx_open("place", MBX_SEND, NULL, &s), 0);
    int fd = mbx_fd(m, MBX_RECV);
    assert_true(fd >= 0);
    struct seg_hdr *h = shm_box_of(m)->seg.hdr;
    struct seg_poller *mine = NULL;
    for (unsigned i = 0; i < SEG_POLLERS; i++)
        if (h->pollers[i].who != 0)
            mine = &h->pollers[i];
    assert_non_null(mine);
    __atomic_store_n(&mine->place, (uint16_t)(mine->place ^ 1), __ATOMIC_SEQ_CST);
    uint32_t v;
    assert_int_equal(mbx_recv(m, &v, sizeof(v), NULL, MBX_NONBLOCK), -EAGAIN);
    send_u32(s, 7);
    assert_int_equal(recv_when_ready(m, fd, 0, &v), sizeof(v));
    assert_int_equal(v, 7);
    /* And again, now that the first wake-up was used. */
    send_u32(s, 8);
    assert_int_equal(recv_when_ready(m, fd, 0, &v), sizeof(v));
    assert_int_equal(v, 8);
    mbx_close(s);
    mbx_close(m);
    mbx_unlink("place");
}

/* The thread id of this process's "mbx-poll-later" thread, or 0. */
static pid_t later_thread(void)
{
    DIR *d = opendir("/proc/self/task");
    assert_non_null(d);
    pid_t found = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && !found) {
        char path[300], name[32] = "";
        snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        if (fgets(name, sizeof(name), f) && strncmp(name, "mbx-poll-later", 14) == 0)
            found = (pid_t)atoi(e->d_name);
        fclose(f);
    }
    closedir(d);
    return found;
}

/* A peer who may write the mailbox puts a live process (pid 1) into every
 * poller entry: our descriptor can keep none, and nobody tells it of a
 * change. It was then readable at every look, so an event loop waiting
 * on it spun (each receive said -EAGAIN), as did mbx_poll until its
 * timeout (found by a review). It now looks every POLL_LATER_MS (50 ms):
 * at most about 20 reports a second for a mailbox that stays empty, and
 * a message sent meanwhile is still reported. */
static void squatted_entries_do_not_spin_a_loop(void **state)
{
    (void)state;
    mbx *m = open_box("squat", MBX_SEND | MBX_RECV, 8);
    int fd = mbx_fd(m, MBX_RECV);
    assert_true(fd >= 0);
    struct seg_hdr *h = shm_box_of(m)->seg.hdr;
    for (unsigned i = 0; i < SEG_POLLERS; i++)
        __atomic_store_n(&h->pollers[i].who, ident_make(1, 0), __ATOMIC_SEQ_CST);
    uint32_t v;
    assert_int_equal(mbx_recv(m, &v, sizeof(v), NULL, MBX_NONBLOCK), -EAGAIN);
    int reports = 0, threads = 0;
    pid_t seen[64];
    int64_t end = clock_now_ns() + 1000000000LL;
    while (clock_now_ns() < end) {
        if (!readable(fd, 100))
            continue;
        reports++;
        assert_int_equal(mbx_recv(m, &v, sizeof(v), NULL, MBX_NONBLOCK), -EAGAIN);
        pid_t t = later_thread();
        int known = t == 0;
        for (int i = 0; i < threads && !known; i++)
            known = seen[i] == t;
        if (!known && threads < 64)
            seen[threads++] = t;
    }
    printf("reports in 1 s of an empty mailbox with every entry squatted: %d, from %d "
           "threads\n",
           reports, threads);
    assert_true(reports <= 40);
    /* One thread sends them all (one was made for every report: a
     * review). */
    assert_true(threads <= 2);
    /* Still told of a message, within the look's period. */
    send_u32(m, 7);
    assert_int_equal(recv_when_ready(m, fd, 0, &v), sizeof(v));
    assert_int_equal(v, 7);
    /* mbx_poll sleeps too: CPU time well under the second it waits. */
    struct timespec c0, c1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    mbx_pollitem it = {.mbox = m, .fd = -1, .events = POLLIN};
    assert_int_equal(mbx_poll(&it, 1, 1000000000LL), 0);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
    int64_t used = (c1.tv_sec - c0.tv_sec) * 1000000000LL + (c1.tv_nsec - c0.tv_nsec);
    printf("mbx_poll's CPU over 1 s, squatted: %.3f s\n", (double)used / 1e9);
    assert_true(used < 250000000LL);
    for (unsigned i = 0; i < SEG_POLLERS; i++)
        __atomic_store_n(&h->pollers[i].who, 0, __ATOMIC_SEQ_CST);
    mbx_close(m);
    mbx_unlink("squat");
}

/* The delayed wake-ups' thread across fork: a child forked while the
 * parent's thread waits for a due time gets a thread of its own at its
 * first ask (the parent's asks are not its to send; its list, lock and
 * condition start afresh), and both are woken. */
static void delayed_wakeups_across_fork(void **state)
{
    (void)state;
    if (under_tsan()) {
        printf("skipped under ThreadSanitizer: the child starts a thread after a fork of a "
               "process with threads\n");
        return;
    }
    char parent_path[300], child_path[300];
    snprintf(parent_path, sizeof(parent_path), "%s/.later-parent", test_dir);
    snprintf(child_path, sizeof(child_path), "%s/.later-child", test_dir);
    int ps = note_bind(parent_path, 0600, (uint32_t)-1);
    assert_true(ps >= 0);
    assert_int_equal(poll_later(parent_path), 0); /* the thread waits 50 ms */
    pid_t c = fork();
    if (c == 0) {
        int cs = note_bind(child_path, 0600, (uint32_t)-1);
        if (cs < 0 || poll_later(child_path) != 0)
            _exit(1);
        struct pollfd p = {cs, POLLIN, 0};
        int n = poll(&p, 1, 10000);
        unlink(child_path);
        _exit(n == 1 ? 0 : 2);
    }
    assert_true(readable(ps, 10000));
    reap_ok(c);
    close(ps);
    unlink(parent_path);
}

/* Edge-triggered epoll works when each wake-up is drained to -EAGAIN. */
static void edge_triggered_epoll(void **state)
{
    (void)state;
    mbx *m = open_box("edge", MBX_SEND | MBX_RECV, 8);
    int fd = mbx_fd(m, MBX_RECV);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET};
    assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), 0);
    for (int round = 0; round < 50; round++) {
        send_u32(m, (uint32_t)round);
        if (round % 3 == 0)
            send_u32(m, (uint32_t)round);
        struct epoll_event got;
        assert_int_equal(epoll_wait(ep, &got, 1, 1000), 1);
        uint32_t v;
        int n = 0;
        while (mbx_recv(m, &v, sizeof(v), NULL, MBX_NONBLOCK) == sizeof(v))
            n++;
        assert_int_equal(n, round % 3 == 0 ? 2 : 1);
        assert_int_equal(epoll_wait(ep, &got, 1, 0), 0);
    }
    close(ep);
    mbx_close(m);
    mbx_unlink("edge");
}

/* Nobody polls: no pollers counted, so a send makes no system call for
 * them (the benchmark's system-call column shows the whole path). */
static void nobody_polls_nobody_counted(void **state)
{
    (void)state;
    mbx *m = open_box("quiet", MBX_SEND | MBX_RECV, 8);
    struct seg_hot *hot = &shm_box_of(m)->seg.hdr->hot;
    assert_int_equal(armed_count(hot, SEG_POLL_RECV) + armed_count(hot, SEG_POLL_SEND), 0);
    mbx *r = NULL;
    assert_int_equal(mbx_open("quiet", MBX_RECV, NULL, &r), 0);
    assert_true(mbx_fd(r, MBX_RECV) >= 0);
    assert_int_equal(armed_count(hot, SEG_POLL_RECV), 1);
    send_u32(m, 1); /* tells it: disarmed until it looks again */
    assert_int_equal(armed_count(hot, SEG_POLL_RECV), 0);
    uint32_t v;
    assert_int_equal(mbx_recv(r, &v, sizeof(v), NULL, MBX_NONBLOCK), sizeof(v));
    assert_int_equal(armed_count(hot, SEG_POLL_RECV), 1);
    mbx_close(r);
    assert_int_equal(armed_count(hot, SEG_POLL_RECV), 0);
    mbx_close(m);
    mbx_unlink("quiet");
}

/* A poller killed while armed stops counting at the next change of its
 * direction: the change tells it (the datagram finds nobody), and later
 * sends and receives pay nothing for it. For each direction: a child arms
 * a descriptor (an empty mailbox to receive from; a full one to send
 * into) and is killed; then the change, and more traffic. */
static void killed_armed_poller_stops_counting(void **state)
{
    (void)state;
    for (unsigned dir = SEG_POLL_RECV; dir <= SEG_POLL_SEND; dir++) {
        mbx *m = open_box("uncount", MBX_SEND | MBX_RECV, 2);
        struct seg_hot *hot = &shm_box_of(m)->seg.hdr->hot;
        uint32_t v;
        if (dir == SEG_POLL_SEND)
            while (mbx_send(m, &v, sizeof(v), 0, MBX_NONBLOCK) == 0)
                ;
        int ready[2];
        assert_int_equal(pipe(ready), 0);
        pid_t p = fork();
        if (p == 0) {
            mbx *r = NULL;
            if (mbx_open("uncount", MBX_SEND | MBX_RECV, NULL, &r) ||
                mbx_fd(r, dir == SEG_POLL_RECV ? MBX_RECV : MBX_SEND) < 0)
                _exit(2);
            if (write(ready[1], "r", 1) != 1)
                _exit(3);
            test_await_kill();
        }
        assert_true(test_read_ready(ready[0]));
        assert_int_equal(armed_count(hot, dir), 1);
        kill(p, SIGKILL);
        int st;
        assert_int_equal(waitpid(p, &st, 0), p);
        assert_int_equal(armed_count(hot, dir), 1); /* nobody told it yet */
        if (dir == SEG_POLL_RECV)
            send_u32(m, 1);
        else
            assert_int_equal(mbx_recv(m, &v, sizeof(v), NULL, MBX_NONBLOCK), sizeof(v));
        assert_int_equal(armed_count(hot, SEG_POLL_RECV) + armed_count(hot, SEG_POLL_SEND), 0);
        for (int i = 0; i < 10; i++) {
            send_u32(m, 2);
            assert_int_equal(mbx_recv(m, &v, sizeof(v), NULL, MBX_NONBLOCK), sizeof(v));
        }
        assert_int_equal(armed_count(hot, SEG_POLL_RECV) + armed_count(hot, SEG_POLL_SEND), 0);
        struct seg_hdr *h = shm_box_of(m)->seg.hdr;
        for (unsigned i = 0; i < SEG_POLLERS; i++)
            assert_int_equal(h->pollers[i].who, 0);
        close(ready[0]), close(ready[1]);
        mbx_close(m);
        mbx_unlink("uncount");
    }
}

/* One change of each direction on m, a mailbox that stays full when dir
 * is SEG_POLL_SEND and empty otherwise. */
static void change_both(mbx *m, unsigned dir)
{
    uint32_t v;
    if (dir == SEG_POLL_SEND) {
        assert_int_equal(mbx_recv(m, &v, sizeof(v), NULL, MBX_NONBLOCK), sizeof(v));
        send_u32(m, 3);
    } else {
        send_u32(m, 3);
        assert_int_equal(mbx_recv(m, &v, sizeof(v), NULL, MBX_NONBLOCK), sizeof(v));
    }
}

/* A poller killed between counting itself armed and arming its entry, or
 * a disarmer (the poller itself, or a changer telling it) killed between
 * disarming the entry and uncounting it, leaves the count of armed
 * pollers one above the armed entries. That count stayed for good, and
 * every later change of the direction scanned all 48 entries. For each
 * direction: a child arms a descriptor, its entry is disarmed behind the
 * count (the state either kill leaves), the child is killed; within three
 * changes the count is back to 0, and stays there. */
static void leftover_armed_count_returns_to_zero(void **state)
{
    (void)state;
    for (unsigned dir = SEG_POLL_RECV; dir <= SEG_POLL_SEND; dir++) {
        mbx *m = open_box("leftover", MBX_SEND | MBX_RECV, 2);
        struct seg_hdr *h = shm_box_of(m)->seg.hdr;
        struct seg_hot *hot = &h->hot;
        uint32_t v = 0;
        if (dir == SEG_POLL_SEND)
            while (mbx_send(m, &v, sizeof(v), 0, MBX_NONBLOCK) == 0)
                ;
        int ready[2];
        assert_int_equal(pipe(ready), 0);
        pid_t p = fork();
        if (p == 0) {
            mbx *r = NULL;
            if (mbx_open("leftover", MBX_SEND | MBX_RECV, NULL, &r) ||
                mbx_fd(r, dir == SEG_POLL_RECV ? MBX_RECV : MBX_SEND) < 0)
                _exit(2);
            if (write(ready[1], "r", 1) != 1)
                _exit(3);
            test_await_kill();
        }
        assert_true(test_read_ready(ready[0]));
        assert_int_equal(armed_count(hot, dir), 1);
        struct seg_poller *e = NULL;
        for (unsigned i = 0; i < SEG_POLLERS; i++)
            if (h->pollers[i].who != 0)
                e = &h->pollers[i];
        assert_non_null(e);
        assert_int_not_equal(__atomic_load_n(&e->armed, __ATOMIC_SEQ_CST), 0);
        __atomic_store_n(&e->armed, 0, __ATOMIC_SEQ_CST);
        kill(p, SIGKILL);
        int st;
        assert_int_equal(waitpid(p, &st, 0), p);
        assert_int_equal(armed_count(hot, dir), 1); /* what the kill left */
        for (int i = 0; i < 3 && armed_count(hot, dir) != 0; i++)
            change_both(m, dir);
        assert_int_equal(armed_count(hot, SEG_POLL_RECV), 0);
        assert_int_equal(armed_count(hot, SEG_POLL_SEND), 0);
        for (int i = 0; i < 10; i++)
            change_both(m, dir);
        assert_int_equal(armed_count(hot, SEG_POLL_RECV), 0);
        assert_int_equal(armed_count(hot, SEG_POLL_SEND), 0);
        close(ready[0]), close(ready[1]);
        mbx_close(m);
        mbx_unlink("leftover");
    }
}

/* A count of armed pollers that a peer who may write the mailbox forged
 * (or that many kills left) costs changers a look at the entries, not for
 * good, and loses no wake-up of a poller that lives: each round's first
 * send tells the poller, its second finds nobody armed and sets the count
 * right; the poller, woken each round, re-arms and is counted again. */
static void forged_armed_count_costs_a_scan_and_loses_no_wakeup(void **state)
{
    (void)state;
    mbx *m = open_box("forged", MBX_SEND | MBX_RECV, 8);
    struct seg_hot *hot = &shm_box_of(m)->seg.hdr->hot;
    int fd = mbx_fd(m, MBX_RECV);
    assert_true(fd >= 0);
    assert_int_equal(armed_count(hot, SEG_POLL_RECV), 1);
    __atomic_store_n(&hot->armed[SEG_POLL_RECV], 1000, __ATOMIC_SEQ_CST);
    for (int round = 0; round < 20; round++) {
        assert_false(readable(fd, 0));
        send_u32(m, (uint32_t)round);
        send_u32(m, (uint32_t)round);
        assert_true(readable(fd, 10000));
        uint32_t v;
        int n = 0;
        while (mbx_recv(m, &v, sizeof(v), NULL, MBX_NONBLOCK) == sizeof(v))
            n++;
        assert_int_equal(n, 2);
    }
    assert_false(readable(fd, 0));
    assert_int_equal(armed_count(hot, SEG_POLL_RECV), 1); /* only ours */
    mbx_close(m);
    mbx_unlink("forged");
}

/* An entry armed in an epoch before the current one (poll.h) is not in
 * the count: disarming it takes nothing off. Here two pollers armed in
 * epoch 0, then the count started again (epoch 1, counted 1: what a
 * changer killed before it told them leaves), a third poller armed in
 * epoch 1, and the first two closed. Had each close taken one off, the
 * count would have been 0 with the third armed, and the next send would
 * not have told it. */
static void pollers_of_an_older_epoch_uncount_nobody_else(void **state)
{
    (void)state;
    mbx *m = open_box("epochs", MBX_SEND | MBX_RECV, 8);
    struct seg_hot *hot = &shm_box_of(m)->seg.hdr->hot;
    mbx *h[3];
    for (int i = 0; i < 3; i++) {
        assert_int_equal(mbx_open("epochs", MBX_RECV, NULL, &h[i]), 0);
        if (i == 2)
            __atomic_store_n(&hot->armed[SEG_POLL_RECV], (1u << 16) | 1u, __ATOMIC_SEQ_CST);
        assert_true(mbx_fd(h[i], MBX_RECV) >= 0);
    }
    mbx_close(h[0]);
    mbx_close(h[1]);
    int fd = mbx_fd(h[2], MBX_RECV);
    assert_false(readable(fd, 0));
    send_u32(m, 1);
    assert_true(readable(fd, 10000));
    uint32_t v;
    assert_int_equal(mbx_recv(h[2], &v, sizeof(v), NULL, MBX_NONBLOCK), sizeof(v));
    mbx_close(h[2]);
    mbx_close(m);
    mbx_unlink("epochs");
}

/* A heap mailbox whose lock a peer holds past a call's grace (as one
 * preempted or stopped holding it would): a receive from one sender that
 * could not look at the queue says -EAGAIN, and the descriptor must stay
 * readable while that sender's message is queued (it stayed unreadable
 * for good: the message was taken for one the receive had looked at and
 * found not for it). The same for a selective receive. */
static void filtered_receive_cut_short_stays_readable(void **state)
{
    (void)state;
    for (int select = 0; select < 2; select++) {
        mbx_options o;
        mbx_options_init(&o);
        o.kind = MBX_KIND_HEAP;
        o.attr.capacity = 4;
        o.attr.max_msg_size = 64;
        mbx *m = NULL;
        assert_int_equal(mbx_open_opts("cut", MBX_SEND | MBX_RECV | MBX_CREATE, &o, &m), 0);
        int fd = mbx_fd(m, MBX_RECV);
        assert_true(fd >= 0);
        pid_t p = fork();
        if (p == 0) {
            test_child();
            mbx *s = NULL;
            uint32_t v = 7;
            _exit(mbx_open("cut", MBX_SEND, NULL, &s) || mbx_send_typed(s, &v, sizeof(v), 0, 3, 0)
                      ? 2
                      : 0);
        }
        reap_ok(p);
        uint32_t v = 0;
        int held[2], go[2];
        assert_int_equal(pipe(held), 0);
        assert_int_equal(pipe(go), 0);
        pid_t h = fork();
        if (h == 0) {
            test_child();
            struct seg *s = &shm_box_of(m)->seg;
            if (seg_lock(s, -1) != 0 || write(held[1], "h", 1) != 1 || !test_read_ready(go[0]))
                _exit(2);
            heap_unlock(s);
            _exit(0);
        }
        char c;
        assert_int_equal(read(held[0], &c, 1), 1);
        ssize_t r = select
                        ? mbx_recv_select(m, MBX_SEL_EQ, 3, &v, sizeof(v), NULL, NULL, MBX_NONBLOCK)
                        : mbx_recv_from(m, p, &v, sizeof(v), NULL, MBX_NONBLOCK);
        assert_int_equal(r, -EAGAIN); /* the lock stayed busy */
        assert_int_equal(write(go[1], "g", 1), 1);
        reap_ok(h);
        assert_true(readable(fd, 2000));
        r = select ? mbx_recv_select(m, MBX_SEL_EQ, 3, &v, sizeof(v), NULL, NULL, MBX_NONBLOCK)
                   : mbx_recv_from(m, p, &v, sizeof(v), NULL, MBX_NONBLOCK);
        assert_int_equal(r, sizeof(v));
        assert_int_equal(v, 7);
        close(held[0]), close(held[1]), close(go[0]), close(go[1]);
        mbx_close(m);
        mbx_unlink("cut");
    }
}

/* mbx_poll after a receive from one sender that found only others'
 * messages: not ready until that sender sends (it said POLLIN at every
 * look, and a loop of mbx_poll and mbx_recv_from spun). */
static void poll_after_recv_from_waits_for_its_sender(void **state)
{
    (void)state;
    mbx *m = open_box("pfrom", MBX_SEND | MBX_RECV, 8);
    send_u32(m, 1); /* from us */
    pid_t p = fork();
    if (p == 0) {
        test_child();
        mbx *s = NULL;
        uint32_t v = 2;
        _exit(mbx_open("pfrom", MBX_SEND, NULL, &s) || mbx_send(s, &v, sizeof(v), 0, 0) ? 3 : 0);
    }
    reap_ok(p); /* its message is queued too */
    assert_true(mbx_fd(m, MBX_RECV) >= 0);
    uint32_t v;
    pid_t other = p + 1000000; /* no such process: none of its messages */
    assert_int_equal(mbx_recv_from(m, other, &v, sizeof(v), NULL, MBX_NONBLOCK), -EAGAIN);
    mbx_pollitem it = {m, -1, POLLIN, 0};
    assert_int_equal(mbx_poll(&it, 1, 50000000), 0);
    assert_int_equal(mbx_poll(&it, 1, MBX_NONBLOCK), 0);
    /* An unfiltered receive's look: ready again. */
    assert_int_equal(mbx_recv(m, &v, sizeof(v), NULL, MBX_NONBLOCK), sizeof(v));
    assert_int_equal(mbx_poll(&it, 1, 1000000000), 1);
    assert_int_equal(it.revents, POLLIN);
    mbx_close(m);
    mbx_unlink("pfrom");
}

/* Root only: another user's poller killed with kill -9, whose entry a
 * third user's process reaps but whose socket it may not remove (sticky
 * directory): the entry stays, so that a process of the dead poller's
 * user removes the socket. It was freed, and nothing named the socket
 * any more: such files piled up, one per killed poller. Unless no entry
 * is free: then the third user takes one, and its socket stays. */
static int pollers_to_make = 1; /* by make_poller_and_wait */

static int make_poller_and_wait(int ready_fd)
{
    for (int i = 0; i < pollers_to_make; i++) {
        mbx *m = NULL;
        if (mbx_open("xuser", MBX_RECV | MBX_SHARED, NULL, &m) != 0 || mbx_fd(m, MBX_RECV) < 0)
            return 2;
    }
    if (write(ready_fd, "r", 1) != 1)
        return 3;
    test_await_kill();
    return 0;
}

static pid_t as_user(uid_t uid, int ready_fd, int (*fn)(int))
{
    pid_t p = fork();
    assert_true(p >= 0);
    if (p == 0) {
        test_child();
        if (setgroups(0, NULL) < 0 || setgid(uid) < 0 || setuid(uid) < 0)
            _exit(100);
        _exit(fn(ready_fd));
    }
    return p;
}

static const char *poller_box = "xuser"; /* what open_poller opens */

static int open_poller(int unused)
{
    (void)unused;
    mbx *m = NULL;
    if (mbx_open(poller_box, MBX_RECV | MBX_SHARED, NULL, &m) != 0 || mbx_fd(m, MBX_RECV) < 0)
        return 2;
    mbx_close(m);
    return 0;
}

/* Creates mailbox "xpriv", only for its user (mode 0600). */
static int make_private_box(int unused)
{
    (void)unused;
    mbx_attr a;
    mbx_attr_init(&a);
    a.mode = 0600;
    mbx *m = NULL;
    if (mbx_open("xpriv", MBX_SEND | MBX_RECV | MBX_CREATE, &a, &m) != 0)
        return 2;
    mbx_close(m);
    return 0;
}

/* A killed poller's socket that the reaper may not even connect to (the
 * mailbox's owner, reaping the entry of a root poller whose socket is
 * root's, mode 0600): whether anyone has it bound is not known, so the
 * entry stays, disarmed, for root to reap with its file. Freed, the entry
 * named that file nowhere any more, and it stayed behind for good. */
static void unconnectable_socket_keeps_its_entry(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip(); /* needs other users */
    assert_int_equal(chmod(test_dir, 01777), 0);
    reap_ok(as_user(61013, -1, make_private_box));
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t r = fork();
    assert_true(r >= 0);
    if (r == 0) {
        mbx *m = NULL;
        if (mbx_open("xpriv", MBX_RECV | MBX_SHARED, NULL, &m) != 0 || mbx_fd(m, MBX_RECV) < 0)
            _exit(2);
        if (write(ready[1], "r", 1) != 1)
            _exit(3);
        test_await_kill();
    }
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    assert_int_equal(poll_sockets(), 1);
    int st;
    kill(r, SIGKILL);
    assert_int_equal(waitpid(r, &st, 0), r);
    poller_box = "xpriv";
    reap_ok(as_user(61013, -1, open_poller)); /* may not connect to root's socket */
    assert_int_equal(poll_sockets(), 1);
    r = fork(); /* root: reaps the entry and its socket */
    assert_true(r >= 0);
    if (r == 0) {
        test_child();
        _exit(open_poller(0));
    }
    reap_ok(r);
    poller_box = "xuser";
    assert_int_equal(poll_sockets(), 0);
    close(ready[0]), close(ready[1]);
    mbx_unlink("xpriv");
}

static void killed_pollers_socket_waits_for_its_user(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip(); /* needs other users */
    assert_int_equal(chmod(test_dir, 01777), 0);
    mbx_attr a;
    mbx_attr_init(&a);
    a.mode = 0666;
    mbx *m = NULL;
    assert_int_equal(mbx_open("xuser", MBX_SEND | MBX_RECV | MBX_CREATE, &a, &m), 0);
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t b = as_user(61011, ready[1], make_poller_and_wait);
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    assert_int_equal(poll_sockets(), 1);
    int st;
    kill(b, SIGKILL);
    assert_int_equal(waitpid(b, &st, 0), b);
    reap_ok(as_user(61012, -1, open_poller)); /* may not remove the dead one's socket */
    reap_ok(as_user(61011, -1, open_poller)); /* its user may */
    assert_int_equal(poll_sockets(), 0);
    /* Every entry held by that user's killed pollers: another user still
     * gets one (the entries were kept, and mbx_fd said -EUSERS for good);
     * the socket of the entry it took stays behind. */
    pollers_to_make = SEG_POLLERS;
    b = as_user(61011, ready[1], make_poller_and_wait);
    assert_int_equal(read(ready[0], &c, 1), 1);
    assert_int_equal(poll_sockets(), SEG_POLLERS);
    kill(b, SIGKILL);
    assert_int_equal(waitpid(b, &st, 0), b);
    reap_ok(as_user(61012, -1, open_poller));
    reap_ok(as_user(61011, -1, open_poller)); /* the rest: its user removes them */
    assert_int_equal(poll_sockets(), 1);
    for (const char *left = NULL; !left;) {
        DIR *d = opendir(test_dir);
        assert_non_null(d);
        struct dirent *e;
        while ((e = readdir(d)))
            if (strncmp(e->d_name, ".mbx-poll.", 10) == 0) {
                char path[sizeof(test_dir) + 300];
                snprintf(path, sizeof(path), "%s/%s", test_dir, e->d_name);
                assert_int_equal(unlink(path), 0); /* as root would */
                left = "removed";
            }
        closedir(d);
    }
    close(ready[0]), close(ready[1]);
    mbx_close(m);
    mbx_unlink("xuser");
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(readable_exactly_while_queued),
        cmocka_unit_test(send_fd_readable_while_room),
        cmocka_unit_test(other_process_wakes_poller),
        cmocka_unit_test(lost_wakeup_hunt),
        cmocka_unit_test(many_pollers_all_woken),
        cmocka_unit_test(polling_receivers_beside_blocked_senders),
        cmocka_unit_test(killed_poller_leaves_nothing),
        cmocka_unit_test(poller_reaped_while_exiting_leaves_no_socket),
        cmocka_unit_test(poller_killed_making_or_closing_leaves_no_socket),
        cmocka_unit_test(forged_entry_removes_no_live_socket),
        cmocka_unit_test(fork_and_exec),
        cmocka_unit_test(removal_makes_readable),
        cmocka_unit_test(owner_death_wakes_sender),
        cmocka_unit_test(stream_end_makes_readable),
        cmocka_unit_test(stream_sender_dying_unwritten_makes_readable),
        cmocka_unit_test(half_opened_dead_sender_lets_poll_time_out),
        cmocka_unit_test(rendezvous_dead_receiver_stops_the_send_wakeups),
        cmocka_unit_test(dead_borrower_leaves_room),
        cmocka_unit_test(dead_lock_holder_leaves_room),
        cmocka_unit_test(dead_borrower_leaves_arena_room),
        cmocka_unit_test(round_robin_turn_holder_death_makes_readable),
        cmocka_unit_test(recv_from_waits_for_its_sender),
        cmocka_unit_test(poll_many),
        cmocka_unit_test(pollers_are_bounded),
        cmocka_unit_test(squatted_entries_do_not_spin_a_loop),
        cmocka_unit_test(delayed_wakeups_across_fork),
        cmocka_unit_test(edge_triggered_epoll),
        cmocka_unit_test(nobody_polls_nobody_counted),
        cmocka_unit_test(killed_armed_poller_stops_counting),
        cmocka_unit_test(leftover_armed_count_returns_to_zero),
        cmocka_unit_test(forged_armed_count_costs_a_scan_and_loses_no_wakeup),
        cmocka_unit_test(pollers_of_an_older_epoch_uncount_nobody_else),
        cmocka_unit_test(filtered_receive_cut_short_stays_readable),
        cmocka_unit_test(poll_after_recv_from_waits_for_its_sender),
        cmocka_unit_test(scribbled_place_is_put_back),
        cmocka_unit_test(no_descriptor_for_a_pidfd_does_not_spin_a_loop),
    };
    const struct CMUnitTest as_root[] = {
        cmocka_unit_test(killed_pollers_socket_waits_for_its_user),
        cmocka_unit_test(unconnectable_socket_keeps_its_entry),
    };
    if (getenv("TEST_ONLY")) /* TEST_ONLY=lost_wakeup_hunt: that test alone */
        cmocka_set_test_filter(getenv("TEST_ONLY"));
    if (test_root_only(argc, argv))
        return test_result(cmocka_run_group_tests(as_root, test_dir_setup, test_dir_teardown));
    return test_result(cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown));
}
