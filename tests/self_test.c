/* Direct communication: every process's own mailbox "@PID" (mbx_self),
 * reachable by name from any process. */
#include "test_util.h"

#include "mbx.h"
#include "shm/process.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MS 1000000ll

static int reap(pid_t p)
{
    int st;
    if (waitpid(p, &st, 0) != p)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void self_name(pid_t pid, char *buf, size_t cap)
{
    snprintf(buf, cap, "@%d", (int)pid);
}

static void same_handle_every_call(void **state)
{
    (void)state;
    mbx *a, *b;
    assert_int_equal(mbx_self(&a), 0);
    assert_int_equal(mbx_self(&b), 0);
    assert_ptr_equal(a, b);
    assert_int_equal(mbx_self(NULL), -EINVAL);
    mbx_stat st;
    char name[16];
    self_name(getpid(), name, sizeof(name));
    assert_int_equal(mbx_stat_get(a, &st), 0);
    assert_string_equal(st.name, name);
    assert_int_equal(st.owner_pid, getpid());
    assert_int_equal(st.flags & MBX_OWNED, MBX_OWNED);
    assert_int_equal(st.capacity, 64);
}

static void others_send_by_name(void **state)
{
    (void)state;
    mbx *me;
    assert_int_equal(mbx_self(&me), 0);
    char name[16];
    self_name(getpid(), name, sizeof(name));
    pid_t c = fork();
    if (c == 0) {
        mbx *x;
        if (mbx_open(name, MBX_SEND | MBX_CREATE, NULL, &x) != -EACCES)
            _exit(1);
        if (mbx_open(name, MBX_RECV, NULL, &x) != -EACCES)
            _exit(2);
        if (mbx_open(name, MBX_SEND, NULL, &x) != 0 || mbx_send(x, "ping", 4, 0, 0) != 0)
            _exit(3);
        _exit(0);
    }
    assert_int_equal(reap(c), 0);
    char buf[16];
    mbx_msginfo info;
    assert_int_equal(mbx_recv(me, buf, sizeof(buf), &info, 1000 * MS), 4);
    assert_memory_equal(buf, "ping", 4);
    assert_int_equal(info.sender_pid, c);
    assert_int_equal(info.reply_token, 0);
    mbx *x;
    assert_int_equal(mbx_open("@0", MBX_SEND, NULL, &x), -EINVAL);
    assert_int_equal(mbx_open("@12ab", MBX_SEND, NULL, &x), -EINVAL);
}

/* A forked child's mbx_self is its own mailbox, and the parent reaches it. */
static void forked_child_has_its_own(void **state)
{
    (void)state;
    mbx *mine;
    assert_int_equal(mbx_self(&mine), 0);
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t c = fork();
    if (c == 0) {
        mbx *m;
        if (mbx_self(&m) != 0 || m == mine)
            _exit(1);
        mbx_stat st;
        if (mbx_stat_get(m, &st) != 0 || st.owner_pid != getpid())
            _exit(2);
        if (write(ready[1], "x", 1) != 1)
            _exit(3);
        char buf[16];
        mbx_msginfo info;
        if (mbx_recv(m, buf, sizeof(buf), &info, 5000 * MS) != 5 || info.sender_pid != getppid())
            _exit(4);
        exit(0); /* a normal exit removes the mailbox at once */
    }
    char name[16];
    assert_true(test_read_ready(ready[0]));
    self_name(c, name, sizeof(name));
    mbx *to;
    assert_int_equal(mbx_open(name, MBX_SEND, NULL, &to), 0);
    assert_int_equal(mbx_send(to, "hello", 5, 0, 0), 0);
    assert_int_equal(reap(c), 0);
    mbx *x;
    assert_int_equal(mbx_open(name, MBX_SEND, NULL, &x), -ENOENT);
    assert_int_equal(mbx_send(to, "again", 5, 0, 0), -EIDRM);
    mbx_close(to);
    close(ready[0]);
    close(ready[1]);
}

/* The descriptor of this process's own mailbox file (its memfd). */
static int own_box_fd(void)
{
    char want[64], link[64], target[128];
    snprintf(want, sizeof(want), "/memfd:mbx.@%d (deleted)", (int)getpid());
    for (int fd = 0; fd < 1024; fd++) {
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, target, sizeof(target) - 1);
        if (n > 0) {
            target[n] = 0;
            if (strcmp(target, want) == 0)
                return fd;
        }
    }
    return -1;
}

/* A process cannot shrink its own mailbox under those that map it: one
 * that did killed every process that had sent to it (a server running as
 * root for other users' calls too) with SIGBUS at its next touch. */
static void own_mailbox_cannot_shrink_under_senders(void **state)
{
    (void)state;
    int ready[2], mapped[2], done[2], hold[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(mapped), 0);
    assert_int_equal(pipe(done), 0);
    assert_int_equal(pipe(hold), 0);
    pid_t a = fork();
    if (a == 0) { /* the one that shrinks its mailbox */
        mbx *m;
        char c = 'x';
        if (mbx_self(&m) != 0 || write(ready[1], &c, 1) != 1 || !test_read_ready(mapped[0]))
            _exit(1);
        int fd = own_box_fd();
        c = fd < 0 ? 'n' : ftruncate(fd, 0) == 0 ? 'y' : errno == EPERM ? 'p' : 'e';
        if (write(done[1], &c, 1) != 1)
            _exit(2);
        close(hold[1]);
        if (read(hold[0], &c, 1) < 0) /* until the test ends */
            _exit(3);
        _exit(0);
    }
    pid_t s = fork();
    if (s == 0) { /* a sender that has it mapped */
        char name[16], c;
        self_name(a, name, sizeof(name));
        mbx *to;
        if (!test_read_ready(ready[0]) || mbx_open(name, MBX_SEND, NULL, &to) != 0 ||
            mbx_send(to, "one", 3, 0, 0) != 0 || write(mapped[1], "x", 1) != 1 ||
            read(done[0], &c, 1) != 1)
            _exit(1);
        if (c != 'p')
            _exit(c == 'y' ? 2 : c == 'n' ? 3 : 4);
        if (mbx_send(to, "two", 3, 0, 0) != 0) /* SIGBUS when it could shrink */
            _exit(5);
        _exit(0);
    }
    assert_int_equal(reap(s), 0);
    close(hold[1]);
    assert_int_equal(reap(a), 0);
    int fds[] = {ready[0], ready[1], mapped[0], mapped[1], done[0], done[1], hold[0]};
    for (unsigned i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
        close(fds[i]);
}

/* A file planted under a process's mailbox label that may shrink is
 * refused before it is mapped (a look at it could be killed meanwhile). */
static void unsealed_planted_mailbox_is_refused(void **state)
{
    (void)state;
    int ready[2], hold[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(hold), 0);
    pid_t a = fork();
    if (a == 0) {
        char label[32], c = 'x';
        snprintf(label, sizeof(label), "mbx.@%d", (int)getpid());
        int fd = memfd_create(label, 0);
        if (fd < 0 || ftruncate(fd, 1 << 20) != 0 || write(ready[1], &c, 1) != 1)
            _exit(1);
        close(hold[1]);
        if (read(hold[0], &c, 1) < 0)
            _exit(2);
        _exit(0);
    }
    assert_true(test_read_ready(ready[0]));
    char name[16];
    self_name(a, name, sizeof(name));
    mbx *to;
    mbx_stat st;
    assert_int_equal(mbx_open(name, MBX_SEND, NULL, &to), -EUCLEAN);
    assert_int_equal(mbx_stat_name(name, &st), -EUCLEAN);
    close(hold[1]);
    assert_int_equal(reap(a), 0);
    close(ready[0]);
    close(ready[1]);
    close(hold[0]);
}

/* A child with files under its own mailbox's label (decoys, lower
 * descriptors than its mailbox) and its mailbox; it holds them until
 * hold is closed. how: 0 one sealed decoy under a read lease, 1 forty
 * unsealed decoys. */
static pid_t child_with_decoys(int how, int ready[2], int hold[2])
{
    pid_t a = fork();
    if (a != 0)
        return a;
    char label[32], c = 'x';
    snprintf(label, sizeof(label), "mbx.@%d", (int)getpid());
    signal(SIGIO, SIG_IGN); /* what breaking its lease sends */
    int n = how ? 40 : 1, low[40];
    for (int i = 0; i < n; i++) /* descriptors below the mailbox's */
        if ((low[i] = open("/dev/null", O_RDONLY)) < 0)
            _exit(1);
    mbx *m;
    if (mbx_self(&m) != 0)
        _exit(2);
    for (int i = 0; i < n; i++) {
        int fd = memfd_create(label, how ? 0 : MFD_ALLOW_SEALING);
        if (fd < 0 || ftruncate(fd, 1 << 20) != 0)
            _exit(3);
        if (how == 0) {
            char self[64];
            snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
            int ro = open(self, O_RDONLY);
            if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) != 0 || ro < 0 ||
                fcntl(ro, F_SETLEASE, F_RDLCK) != 0)
                _exit(4);
        }
        if (dup2(fd, low[i]) != low[i])
            _exit(5);
        close(fd);
    }
    if (write(ready[1], &c, 1) != 1)
        _exit(6);
    close(hold[1]);
    if (read(hold[0], &c, 1) < 0)
        _exit(7);
    _exit(0);
}

/* A file under a process's label that its process leased is passed over
 * at once: the open of each waited 45 s (fs.lease-break-time), and a
 * caller so stalled the server that replied to it. */
static void leased_decoy_does_not_stall_an_open(void **state)
{
    (void)state;
    int ready[2], hold[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(hold), 0);
    pid_t a = child_with_decoys(0, ready, hold);
    assert_true(test_read_ready(ready[0]));
    char name[16];
    self_name(a, name, sizeof(name));
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    mbx *to;
    assert_int_equal(mbx_open(name, MBX_SEND, NULL, &to), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(t1.tv_sec - t0.tv_sec < 10);
    assert_int_equal(mbx_send(to, "x", 1, 0, 0), 0);
    mbx_close(to);
    close(hold[1]);
    assert_int_equal(reap(a), 0);
    close(ready[0]);
    close(ready[1]);
    close(hold[0]);
}

/* The look for a process's mailbox tries a bounded number of files under
 * its label: a process chose how many (20000 copies cost a server 1.2 s
 * per reply); its own mailbox is one. */
static void look_for_a_mailbox_is_bounded(void **state)
{
    (void)state;
    int ready[2], hold[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(hold), 0);
    pid_t a = child_with_decoys(1, ready, hold);
    assert_true(test_read_ready(ready[0]));
    char name[16];
    self_name(a, name, sizeof(name));
    mbx_stat st;
    assert_int_equal(mbx_stat_name(name, &st), -EUCLEAN); /* gave up before its mailbox */
    close(hold[1]);
    assert_int_equal(reap(a), 0);
    close(ready[0]);
    close(ready[1]);
    close(hold[0]);
}

/* While set, opens of a process's descriptor links (/proc/PID/fd/N) fail
 * with ENOENT, as when the descriptor is closed between the look (stat)
 * and the open: a process exiting. This open takes the C library's place
 * for the whole program. */
static volatile int proc_fd_vanishes;

int open(const char *path, int flags, ...);
int open(const char *path, int flags, ...)
{
    mode_t mode = 0;
    if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    if (proc_fd_vanishes && strncmp(path, "/proc/", 6) == 0 && strstr(path, "/fd/")) {
        errno = ENOENT;
        return -1;
    }
    return (int)syscall(SYS_openat, AT_FDCWD, path, flags, mode);
}

/* A process's mailbox whose descriptor goes away under the look (its
 * process exiting) is no mailbox, not a damaged one: -ENOENT, which a
 * reply reports as -ESRCH (a chaos run saw mbx_reply say -EUCLEAN, "damaged
 * mailbox", 3 times in 1500 replies to a caller just killed). */
static void mailbox_of_an_exiting_process_is_gone_not_damaged(void **state)
{
    (void)state;
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t c = fork();
    if (c == 0) {
        mbx *m;
        if (mbx_self(&m) != 0 || write(ready[1], "x", 1) != 1)
            _exit(1);
        test_await_kill();
        _exit(2);
    }
    char name[16];
    assert_true(test_read_ready(ready[0]));
    self_name(c, name, sizeof(name));
    mbx *to = NULL;
    proc_fd_vanishes = 1;
    int r = mbx_open(name, MBX_SEND, NULL, &to);
    proc_fd_vanishes = 0;
    kill(c, SIGKILL);
    reap(c);
    close(ready[0]);
    close(ready[1]);
    assert_int_equal(r, -ENOENT);
}

/* A killed process's mailbox goes away too. */
static void killed_process_mailbox_goes(void **state)
{
    (void)state;
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t c = fork();
    if (c == 0) {
        mbx *m;
        if (mbx_self(&m) != 0 || write(ready[1], "x", 1) != 1)
            _exit(1);
        test_await_kill();
        _exit(2);
    }
    char name[16];
    assert_true(test_read_ready(ready[0]));
    self_name(c, name, sizeof(name));
    mbx *to;
    assert_int_equal(mbx_open(name, MBX_SEND, NULL, &to), 0);
    kill(c, SIGKILL);
    assert_int_equal(reap(c), 128 + SIGKILL);
    usleep(60 * 1000);
    assert_int_equal(mbx_send(to, "x", 1, 0, 0), -EIDRM);
    mbx *x;
    assert_int_equal(mbx_open(name, MBX_SEND, NULL, &x), -ENOENT);
    mbx_close(to);
    close(ready[0]);
    close(ready[1]);
}

/* Symmetric naming: recv_from takes one sender's messages, the rest wait. */
static void recv_from_picks_a_sender(void **state)
{
    (void)state;
    mbx *me;
    assert_int_equal(mbx_self(&me), 0);
    char name[16];
    self_name(getpid(), name, sizeof(name));
    pid_t kids[2];
    for (int i = 0; i < 2; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            mbx *x;
            if (mbx_open(name, MBX_SEND, NULL, &x) != 0)
                _exit(1);
            for (int k = 0; k < 3; k++)
                if (mbx_send(x, &k, sizeof(k), 0, 0) != 0)
                    _exit(2);
            _exit(0);
        }
    }
    for (int i = 0; i < 2; i++)
        assert_int_equal(reap(kids[i]), 0);
    mbx_msginfo info;
    int v;
    for (int k = 0; k < 3; k++) {
        assert_int_equal(mbx_recv_from(me, kids[1], &v, sizeof(v), &info, 0), sizeof(v));
        assert_int_equal(v, k);
        assert_int_equal(info.sender_pid, kids[1]);
    }
    assert_int_equal(mbx_recv_from(me, kids[1], &v, sizeof(v), &info, 0), -EAGAIN);
    for (int k = 0; k < 3; k++) {
        assert_int_equal(mbx_recv(me, &v, sizeof(v), &info, 0), sizeof(v));
        assert_int_equal(info.sender_pid, kids[0]);
        assert_int_equal(v, k);
    }
}

/* The caller's side of caller_after_exec_gets_its_replies, in a program
 * image of its own: one call to "svc", then (round 1) the same program
 * again by exec, in the same process, for a second call. */
static int exec_caller(int round)
{
    mbx *svc;
    char buf[16];
    if (mbx_open("svc", MBX_SEND, NULL, &svc) != 0)
        return 10;
    ssize_t n = mbx_call(svc, "q", 1, 0, buf, sizeof(buf), 5000 * MS);
    mbx_close(svc);
    if (n != 2)
        return round == 1 ? 11 : 12;
    if (round == 2)
        return 0;
    execl("/proc/self/exe", "self_test", "exec-caller", "2", (char *)NULL);
    return 13;
}

static mbx *svc_box;

static void *serve_calls(void *arg)
{
    (void)arg;
    char buf[16];
    mbx_msginfo info;
    for (;;) {
        ssize_t n = mbx_recv(svc_box, buf, sizeof(buf), &info, 20000 * MS);
        if (n < 0 || (n == 4 && memcmp(buf, "stop", 4) == 0))
            return NULL;
        mbx_reply(&info, "ok", 2);
    }
}

/* A caller that replaced its program (exec: the same pid, a new "@PID")
 * gets the replies to its calls: the server kept the old image's mailbox
 * and its replies went there (-ESRCH), and every call of the new image
 * timed out (found by a review). */
static void caller_after_exec_gets_its_replies(void **state)
{
    (void)state;
    assert_int_equal(mbx_open("svc", MBX_SEND | MBX_RECV | MBX_CREATE, NULL, &svc_box), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, serve_calls, NULL), 0);
    pid_t c = fork();
    if (c == 0) {
        execl("/proc/self/exe", "self_test", "exec-caller", "1", (char *)NULL);
        _exit(14);
    }
    int r = reap(c);
    assert_int_equal(mbx_send(svc_box, "stop", 4, 0, 0), 0);
    pthread_join(t, NULL);
    mbx_close(svc_box);
    mbx_unlink("svc");
    assert_int_equal(r, 0);
}

/* A server looks a caller's mailbox up again (after a reply found no
 * call waiting in the one it kept) at most once a second per caller: a
 * caller that made it do so after every late reply cost it a look at all
 * its descriptors each time (63 ms with 19000). */
static void caller_looked_up_again_at_most_once_a_second(void **state)
{
    (void)state;
    mbx *me;
    assert_int_equal(mbx_self(&me), 0);
    struct shm_box *b;
    assert_int_equal(shm_peer_get(getpid(), &b), 0);
    assert_int_equal(shm_peer_forget(b), 1);
    shm_peer_put(b);
    assert_int_equal(shm_peer_get(getpid(), &b), 0);
    assert_int_equal(shm_peer_forget(b), 0); /* kept: too soon */
    shm_peer_put(b);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "exec-caller") == 0)
        return exec_caller(atoi(argv[2]));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_handle_every_call),
        cmocka_unit_test(others_send_by_name),
        cmocka_unit_test(forked_child_has_its_own),
        cmocka_unit_test(killed_process_mailbox_goes),
        cmocka_unit_test(recv_from_picks_a_sender),
        cmocka_unit_test(own_mailbox_cannot_shrink_under_senders),
        cmocka_unit_test(unsealed_planted_mailbox_is_refused),
        cmocka_unit_test(leased_decoy_does_not_stall_an_open),
        cmocka_unit_test(look_for_a_mailbox_is_bounded),
        cmocka_unit_test(mailbox_of_an_exiting_process_is_gone_not_damaged),
        cmocka_unit_test(caller_after_exec_gets_its_replies),
        cmocka_unit_test(caller_looked_up_again_at_most_once_a_second),
    };
    return test_result(cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown));
}
