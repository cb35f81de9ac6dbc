/* The table of remote senders' hosts (src/shm/hosts.c): ids name their
 * host while the table holds it, the oldest place goes to the 1025th
 * host, and a table that is not a file of the sender's user alone, or not
 * a table, names nothing. */
#include "shm/hosts.h"

#include "test_util.h"

#include <mbx.h>

#include <errno.h>
#include <sys/file.h>
#include <poll.h>
#include <sched.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/wait.h>
#include <signal.h>
#include <limits.h>
#include <sys/stat.h>
#include <grp.h>
#include <string.h>
#include <sys/fanotify.h>

static void table_path(char *out, size_t cap)
{
    snprintf(out, cap, "%s/.mbx-hosts.%d", test_dir, (int)getpid());
}

static int name_of(uint32_t id, char *buf, size_t cap)
{
    return hosts_name(getpid(), getuid(), id, buf, cap);
}

static void ids_name_their_hosts(void **state)
{
    (void)state;
    hosts_hold();
    char buf[HOSTS_TEXT_MAX];
    uint32_t a = hosts_id("10.0.0.5"), b = hosts_id("fd00::5");
    assert_int_not_equal(a, 0);
    assert_int_not_equal(a, HOSTS_UNKNOWN);
    assert_int_not_equal(a, b);
    assert_int_equal(hosts_id("10.0.0.5"), a); /* one place per host */
    assert_int_equal(name_of(a, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "10.0.0.5");
    assert_int_equal(name_of(b, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "fd00::5");
    assert_int_equal(name_of(a, buf, 8), -ERANGE);
    /* Another user's table is not ours to believe, nor another pid's. */
    assert_int_equal(hosts_name(getpid(), getuid() + 1, a, buf, sizeof(buf)), -EACCES);
    assert_int_equal(hosts_name(getpid() + 1000000, getuid(), a, buf, sizeof(buf)), -ENOENT);
    assert_int_equal(name_of(HOSTS_UNKNOWN, buf, sizeof(buf)), -ENOENT);
    assert_int_equal(name_of(a ^ (1u << 31), buf, sizeof(buf)), -ENOENT); /* another generation */
    assert_int_equal(hosts_id(""), HOSTS_UNKNOWN);
    hosts_release();
    assert_int_equal(name_of(a, buf, sizeof(buf)), -ENOENT); /* removed with the last gateway */
}

static void oldest_place_goes_to_a_new_host(void **state)
{
    (void)state;
    hosts_hold();
    char buf[HOSTS_TEXT_MAX], text[32];
    uint32_t first = hosts_id("192.0.2.1");
    for (int i = 0; i < HOSTS_MAX - 1; i++) {
        snprintf(text, sizeof(text), "198.51.%d.%d", i / 256, i % 256);
        assert_int_not_equal(hosts_id(text), HOSTS_UNKNOWN);
    }
    assert_int_equal(name_of(first, buf, sizeof(buf)), 0); /* still held: 1024 hosts */
    uint32_t next = hosts_id("203.0.113.9");
    assert_int_equal(name_of(first, buf, sizeof(buf)), -ENOENT);
    assert_int_equal(name_of(next, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "203.0.113.9");
    hosts_release();
}

static void untrusted_tables_name_nothing(void **state)
{
    (void)state;
    hosts_hold();
    char buf[HOSTS_TEXT_MAX], path[512], other[600];
    uint32_t a = hosts_id("10.0.0.7");
    table_path(path, sizeof(path));
    assert_int_equal(chmod(path, 0666), 0); /* writable by others */
    assert_int_equal(name_of(a, buf, sizeof(buf)), -EACCES);
    assert_int_equal(chmod(path, 0644), 0);
    snprintf(other, sizeof(other), "%s.link", path); /* a second link */
    assert_int_equal(link(path, other), 0);
    assert_int_equal(name_of(a, buf, sizeof(buf)), -EACCES);
    unlink(other);
    assert_int_equal(name_of(a, buf, sizeof(buf)), 0);
    /* A table with a host's place overwritten with what no gateway writes. */
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    off_t at = 64 + (off_t)((a & 0x7ff) - 1) * 64 + 4;
    assert_int_equal(pwrite(fd, "\033]0;x\007", 6, at), 6);
    assert_int_equal(name_of(a, buf, sizeof(buf)), -EUCLEAN);
    /* Not a table at all. */
    assert_int_equal(pwrite(fd, "NOTHOSTS", 8, 0), 8);
    close(fd);
    assert_int_equal(name_of(a, buf, sizeof(buf)), -EUCLEAN);
    /* A symbolic link in its place. */
    assert_int_equal(rename(path, other), 0);
    assert_int_equal(symlink(other, path), 0);
    assert_int_equal(name_of(a, buf, sizeof(buf)), -EUCLEAN);
    unlink(path);
    rename(other, path);
    hosts_release();
}

/* A child that makes its table (a gateway naming a host), says so on
 * ready, and waits to be killed. */
static pid_t table_holder(int ready[2])
{
    pid_t c = fork();
    if (c == 0) {
        hosts_hold();
        if (hosts_id("10.0.0.7") == HOSTS_UNKNOWN || write(ready[1], "r", 1) != 1)
            _exit(1);
        test_await_kill();
        _exit(2);
    }
    return c;
}

/* The table of a gateway killed with kill -9 is removed when the next
 * process of its user makes one (a chaos run left 27 tables after 26
 * restarts); a live process's table stays. */
static void dead_gateways_tables_are_swept(void **state)
{
    (void)state;
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t dead = table_holder(ready), live = table_holder(ready);
    assert_true(test_read_ready(ready[0]));
    assert_true(test_read_ready(ready[0]));
    kill(dead, SIGKILL);
    assert_int_equal(waitpid(dead, NULL, 0), dead);
    char dead_path[PATH_MAX], live_path[PATH_MAX];
    snprintf(dead_path, sizeof(dead_path), "%s/.mbx-hosts.%d", test_dir, (int)dead);
    snprintf(live_path, sizeof(live_path), "%s/.mbx-hosts.%d", test_dir, (int)live);
    assert_int_equal(access(dead_path, F_OK), 0); /* nothing removed it */
    usleep(1200 * 1000);                          /* older than a table being made */
    hosts_hold();
    assert_int_not_equal(hosts_id("10.0.0.8"), HOSTS_UNKNOWN); /* makes ours */
    assert_int_equal(access(dead_path, F_OK), -1);
    assert_int_equal(access(live_path, F_OK), 0);
    hosts_release();
    kill(live, SIGKILL);
    assert_int_equal(waitpid(live, NULL, 0), live);
    unlink(live_path);
    close(ready[0]);
    close(ready[1]);
}

/* A gateway that forked a child (which neither executed nor named a host)
 * and was then killed: its table is swept all the same. The child's copy
 * of the table's descriptor shared the gateway's lock, and the table
 * looked alive for as long as the child lived (found by a review). */
static void dead_gateways_table_swept_while_its_child_lives(void **state)
{
    (void)state;
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t holder = fork();
    if (holder == 0) {
        /* As a gateway, which has opened mailboxes: the library's fork
         * handlers are in place. */
        mbx *me = NULL;
        if (mbx_self(&me) != 0)
            _exit(3);
        hosts_hold();
        if (hosts_id("10.0.0.7") == HOSTS_UNKNOWN)
            _exit(1);
        pid_t kid = fork();
        if (kid == 0) {
            alarm(30); /* no death signal: it outlives its parent on purpose */
            for (;;)
                pause();
        }
        if (write(ready[1], &kid, sizeof(kid)) != (ssize_t)sizeof(kid))
            _exit(2);
        test_await_kill();
    }
    pid_t kid = 0;
    struct pollfd pf = {ready[0], POLLIN, 0};
    assert_int_equal(poll(&pf, 1, 10000), 1);
    assert_int_equal(read(ready[0], &kid, sizeof(kid)), sizeof(kid));
    kill(holder, SIGKILL);
    assert_int_equal(waitpid(holder, NULL, 0), holder);
    char dead_path[PATH_MAX];
    snprintf(dead_path, sizeof(dead_path), "%s/.mbx-hosts.%d", test_dir, (int)holder);
    usleep(1200 * 1000); /* older than a table being made */
    hosts_hold();
    assert_int_not_equal(hosts_id("10.0.0.8"), HOSTS_UNKNOWN); /* makes ours, sweeps */
    int gone = access(dead_path, F_OK) != 0;
    hosts_release();
    kill(kid, SIGKILL); /* not ours to wait for: the holder's */
    unlink(dead_path);
    close(ready[0]);
    close(ready[1]);
    assert_true(gone);
}

static pid_t dead_pid(void);
static int plant(pid_t pid, const char *tail, mode_t mode, const char *head, off_t size, char *path,
                 size_t cap);

/* A table under our pid that someone holds (a live gateway of another pid
 * namespace sharing the directory, pid 1 in each, say: a previous build's,
 * full size with its magic and no mark) is not replaced when we make
 * ours: we have none (hosts read as unknown). */
static void held_table_under_our_pid_is_not_replaced(void **state)
{
    (void)state;
    int go[2];
    assert_int_equal(pipe(go), 0);
    pid_t c = fork();
    if (c == 0) {
        test_child();
        char x;
        if (read(go[0], &x, 1) != 1)
            _exit(2);
        hosts_hold();
        _exit(hosts_id("10.0.0.9") == HOSTS_UNKNOWN ? 0 : 1);
    }
    char path[PATH_MAX];
    int fd = plant(c, "", 0644, "MBXHOST1", 64 + 64 * HOSTS_MAX, path, sizeof(path));
    assert_int_equal(flock(fd, LOCK_SH), 0); /* the other namespace's gateway */
    struct stat before, after;
    assert_int_equal(fstat(fd, &before), 0);
    assert_int_equal(write(go[1], "g", 1), 1);
    int st;
    assert_int_equal(waitpid(c, &st, 0), c);
    int kept = stat(path, &after) == 0 && after.st_ino == before.st_ino;
    close(fd);
    unlink(path);
    close(go[0]);
    close(go[1]);
    assert_true(kept);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0); /* no table of its own */
}

/* The same with a gateway of this build in the other namespace: it holds
 * the lock file beside its table (.mbx-hosts.PID.lock), and a process
 * here given that pid must make no table of its own while it is held. */
static void held_lock_file_under_our_pid_keeps_us_out(void **state)
{
    (void)state;
    int go[2];
    assert_int_equal(pipe(go), 0);
    pid_t c = fork();
    if (c == 0) {
        test_child();
        char x;
        if (read(go[0], &x, 1) != 1)
            _exit(2);
        hosts_hold();
        _exit(hosts_id("10.0.0.9") == HOSTS_UNKNOWN ? 0 : 1);
    }
    char path[PATH_MAX], lock[PATH_MAX + 8];
    snprintf(path, sizeof(path), "%s/.mbx-hosts.%d", test_dir, (int)c);
    snprintf(lock, sizeof(lock), "%s.lock", path);
    int fd = open(lock, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX), 0); /* the other namespace's gateway */
    assert_int_equal(write(go[1], "g", 1), 1);
    int st;
    assert_int_equal(waitpid(c, &st, 0), c);
    struct stat sb;
    int made = stat(path, &sb) == 0;
    close(fd);
    unlink(path);
    unlink(lock);
    close(go[0]);
    close(go[1]);
    assert_false(made);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0); /* no table of its own */
}

/* A process in another pid namespace sharing the directory (a container
 * given the host's /dev/shm) sees no process of a live gateway's pid:
 * kill(pid, 0) says ESRCH there. It must not sweep that gateway's table
 * (whose senders' hosts would then name nothing). Root only (a new pid
 * namespace); skipped otherwise. */
static void live_tables_stay_for_another_pid_namespace(void **state)
{
    (void)state;
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t live = table_holder(ready);
    assert_true(test_read_ready(ready[0]));
    char live_path[PATH_MAX], ns_path[PATH_MAX];
    snprintf(live_path, sizeof(live_path), "%s/.mbx-hosts.%d", test_dir, (int)live);
    snprintf(ns_path, sizeof(ns_path), "%s/.mbx-hosts.1", test_dir);
    usleep(1200 * 1000); /* older than a table being made */
    pid_t x = fork();
    if (x == 0) {
        if (unshare(CLONE_NEWPID) != 0)
            _exit(77);
        pid_t g = fork();
        if (g == 0) {
            if (getpid() != 1 || kill(live, 0) == 0 || errno != ESRCH)
                _exit(3); /* the gateway must look dead from here */
            hosts_hold();
            _exit(hosts_id("10.0.0.9") == HOSTS_UNKNOWN ? 4 : 0); /* makes its table */
        }
        int st;
        _exit(waitpid(g, &st, 0) == g && WIFEXITED(st) ? WEXITSTATUS(st) : 5);
    }
    int st;
    assert_int_equal(waitpid(x, &st, 0), x);
    assert_true(WIFEXITED(st));
    int skipped = WEXITSTATUS(st) == 77;
    if (!skipped)
        assert_int_equal(WEXITSTATUS(st), 0);
    int kept = access(live_path, F_OK) == 0;
    kill(live, SIGKILL);
    assert_int_equal(waitpid(live, NULL, 0), live);
    unlink(live_path);
    unlink(ns_path);
    close(ready[0]);
    close(ready[1]);
    if (skipped)
        skip(); /* no new pid namespace without root */
    assert_true(kept);
}

/* Reads the byte a child writes once ready: it, or 0 when none came
 * within 10 s. */
static char ready_byte(int fd)
{
    struct pollfd p = {fd, POLLIN, 0};
    char c = 0;
    return poll(&p, 1, 10000) == 1 && read(fd, &c, 1) == 1 ? c : 0;
}

/* Root only: a child as user nobody (65534), who may read every table
 * (receivers name hosts from them), opens table `path` and holds a shared
 * lock on it, and on its lock file too if it may open that; says on ready
 * 't' (the table held) or 'l' (its lock file as well), then waits to be
 * killed. */
static pid_t pinner(const char *path, int ready[2])
{
    pid_t c = fork();
    if (c == 0) {
        if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
            _exit(10);
        test_child(); /* after: a change of user clears the death signal */
        char lock[PATH_MAX];
        snprintf(lock, sizeof(lock), "%s.lock", path);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || flock(fd, LOCK_SH | LOCK_NB) != 0)
            _exit(11);
        int lfd = open(lock, O_RDONLY | O_CLOEXEC);
        char what = lfd >= 0 && flock(lfd, LOCK_SH | LOCK_NB) == 0 ? 'l' : 't';
        if (write(ready[1], &what, 1) != 1)
            _exit(12);
        for (;;)
            pause();
    }
    return c;
}

/* Root only: table `path` of a dead process (its lock file `lock`)
 * pinned by user nobody, who holds the table locked: the next table our
 * user makes sweeps both all the same. */
static void pinned_dead_table_is_swept(const char *path, const char *lock)
{
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(chmod(test_dir, 0711), 0); /* nobody may reach the table */
    pid_t pin = pinner(path, ready);
    char what = ready_byte(ready[0]);
    usleep(1200 * 1000); /* older than a table being made */
    hosts_hold();
    assert_int_not_equal(hosts_id("10.0.0.8"), HOSTS_UNKNOWN); /* makes ours, sweeps */
    int gone = access(path, F_OK) != 0, lock_gone = access(lock, F_OK) != 0;
    hosts_release();
    kill(pin, SIGKILL);
    assert_int_equal(waitpid(pin, NULL, 0), pin);
    unlink(path);
    unlink(lock);
    assert_int_equal(chmod(test_dir, 0700), 0);
    close(ready[0]);
    close(ready[1]);
    assert_int_equal(what, 't'); /* it held the table; the lock file is not its to open */
    assert_true(gone);
    assert_true(lock_gone);
}

/* A child that waits for a byte on go[0], then makes its table (as a
 * gateway naming a host) and exits 0 when it could. */
static pid_t waiting_table_maker(int go[2])
{
    assert_int_equal(pipe(go), 0);
    pid_t c = fork();
    if (c == 0) {
        test_child();
        char x;
        if (read(go[0], &x, 1) != 1)
            _exit(2);
        hosts_hold();
        _exit(hosts_id("10.0.0.9") == HOSTS_UNKNOWN ? 1 : 0);
    }
    assert_true(c > 0);
    return c;
}

/* Root only: table `path` (lock file `lock`) under the pid of child c of
 * waiting_table_maker, pinned by user nobody: c, let go, makes its table
 * all the same. */
static void pinned_table_under_its_pid_is_replaced(pid_t c, int go[2], const char *path,
                                                   const char *lock)
{
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(chmod(test_dir, 0711), 0);
    pid_t pin = pinner(path, ready);
    char what = ready_byte(ready[0]);
    usleep(1200 * 1000); /* not a table being made this instant */
    assert_int_equal(write(go[1], "g", 1), 1);
    int st;
    assert_int_equal(waitpid(c, &st, 0), c);
    kill(pin, SIGKILL);
    assert_int_equal(waitpid(pin, NULL, 0), pin);
    unlink(path);
    unlink(lock);
    assert_int_equal(chmod(test_dir, 0700), 0);
    close(ready[0]);
    close(ready[1]);
    close(go[0]);
    close(go[1]);
    assert_int_equal(what, 't');
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0); /* it made its table */
}

/* A dead gateway's table that another user holds locked (anyone who may
 * read it may lock it) is swept all the same: the table's lock looked like
 * its gateway's, and a user pinned dead tables for good (found by a
 * review). The liveness is a lock file only the gateway's user can open.
 * Root only (a second user). */
static void dead_table_pinned_by_another_user_is_swept(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        printf("skipped: needs root (a second user, nobody, to pin the table)\n");
        skip();
    }
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t dead = table_holder(ready);
    assert_true(test_read_ready(ready[0]));
    kill(dead, SIGKILL);
    assert_int_equal(waitpid(dead, NULL, 0), dead);
    close(ready[0]);
    close(ready[1]);
    char dead_path[PATH_MAX], dead_lock[PATH_MAX + 8];
    snprintf(dead_path, sizeof(dead_path), "%s/.mbx-hosts.%d", test_dir, (int)dead);
    snprintf(dead_lock, sizeof(dead_lock), "%s.lock", dead_path);
    pinned_dead_table_is_swept(dead_path, dead_lock);
}

/* A dead gateway's table under the pid of a new gateway, held locked by
 * another user, is replaced by the new gateway's: the other user's lock
 * looked like a live gateway of another pid namespace, and the new
 * gateway named no host for its life (found by a review). Root only. */
static void pinned_dead_table_under_our_pid_is_replaced(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        printf("skipped: needs root (a second user, nobody, to pin the table)\n");
        skip();
    }
    int ready[2], go[2];
    pid_t c = waiting_table_maker(go);
    assert_int_equal(pipe(ready), 0);
    pid_t dead = table_holder(ready);
    assert_true(test_read_ready(ready[0]));
    kill(dead, SIGKILL);
    assert_int_equal(waitpid(dead, NULL, 0), dead);
    close(ready[0]);
    close(ready[1]);
    /* The dead gateway's files under c's pid: as if c got its pid. */
    char dead_path[PATH_MAX], dead_lock[PATH_MAX + 8], path[PATH_MAX], lock[PATH_MAX + 8];
    snprintf(dead_path, sizeof(dead_path), "%s/.mbx-hosts.%d", test_dir, (int)dead);
    snprintf(dead_lock, sizeof(dead_lock), "%s.lock", dead_path);
    snprintf(path, sizeof(path), "%s/.mbx-hosts.%d", test_dir, (int)c);
    snprintf(lock, sizeof(lock), "%s.lock", path);
    assert_int_equal(rename(dead_path, path), 0);
    assert_true(rename(dead_lock, lock) == 0 || errno == ENOENT);
    pinned_table_under_its_pid_is_replaced(c, go, path, lock);
}

/* The sweep unlinks a dead table only while it is still that file: a
 * sweeper that judged a dead gateway's table, let go of its lock and then
 * unlinked the name removed the live table of a gateway that had got the
 * dead one's pid and made its table under the name meanwhile (found by a
 * review): here a previous build's, of another pid namespace, which holds
 * its table itself. The sweeper is held in its last open of the dead
 * one's files (fanotify: the lock file's, else the table's) while the live
 * table takes the name. Root only. */
static void sweep_leaves_a_live_table_that_took_a_dead_ones_name(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        printf("skipped: needs root (fanotify, to hold the sweeper in its open)\n");
        skip();
    }
    int fan = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC, O_RDONLY | O_CLOEXEC);
    if (fan < 0) {
        printf("skipped: no fanotify permission events here (%s)\n", strerror(errno));
        skip();
    }
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t dead = table_holder(ready);
    assert_true(test_read_ready(ready[0]));
    kill(dead, SIGKILL);
    assert_int_equal(waitpid(dead, NULL, 0), dead);
    char dead_path[PATH_MAX], dead_lock[PATH_MAX + 8], live_path[PATH_MAX];
    snprintf(dead_path, sizeof(dead_path), "%s/.mbx-hosts.%d", test_dir, (int)dead);
    snprintf(dead_lock, sizeof(dead_lock), "%s.lock", dead_path);
    snprintf(live_path, sizeof(live_path), "%s/.mbx-hosts.new", test_dir);
    /* The live table (a previous build's: no lock mark, held itself). */
    int live = open(live_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    assert_true(live >= 0);
    assert_int_equal(pwrite(live, "MBXHOST1", 8, 0), 8);
    assert_int_equal(ftruncate(live, 64 + 64 * HOSTS_MAX), 0);
    assert_int_equal(flock(live, LOCK_SH), 0);
    struct stat live_st, lock_st, now;
    assert_int_equal(fstat(live, &live_st), 0);
    int has_lock = stat(dead_lock, &lock_st) == 0;
    usleep(1200 * 1000); /* older than a table being made */
    assert_int_equal(fanotify_mark(fan, FAN_MARK_ADD, FAN_OPEN_PERM, AT_FDCWD, dead_path), 0);
    if (has_lock)
        assert_int_equal(fanotify_mark(fan, FAN_MARK_ADD, FAN_OPEN_PERM, AT_FDCWD, dead_lock), 0);
    pid_t s = fork();
    if (s == 0) {
        test_child();
        hosts_hold();
        _exit(hosts_id("10.0.0.9") == HOSTS_UNKNOWN ? 1 : 0); /* makes its table, sweeps */
    }
    int moved = 0, st = 0;
    for (int waited = 0; waited < 300; waited++) {
        struct pollfd p = {fan, POLLIN, 0};
        if (poll(&p, 1, 100) == 1) {
            char buf[4096];
            ssize_t n = read(fan, buf, sizeof(buf));
            struct fanotify_event_metadata *md = (void *)buf;
            for (; n > 0 && FAN_EVENT_OK(md, n); md = FAN_EVENT_NEXT(md, n)) {
                struct stat of;
                int last =
                    fstat(md->fd, &of) == 0 &&
                    (!has_lock || (of.st_dev == lock_st.st_dev && of.st_ino == lock_st.st_ino));
                if (last && !moved) /* the live table takes the name meanwhile */
                    moved = rename(live_path, dead_path) == 0;
                struct fanotify_response r = {md->fd, FAN_ALLOW};
                assert_int_equal(write(fan, &r, sizeof(r)), sizeof(r));
                close(md->fd);
            }
        }
        if (waitpid(s, &st, WNOHANG) == s)
            break;
    }
    close(fan);
    int kept = stat(dead_path, &now) == 0 && now.st_ino == live_st.st_ino;
    close(live);
    unlink(dead_path);
    unlink(dead_lock);
    unlink(live_path);
    close(ready[0]);
    close(ready[1]);
    assert_true(moved);
    assert_true(WIFEXITED(st));
    assert_true(kept);
}

/* A pid no process has: a child's that has exited. */
static pid_t dead_pid(void)
{
    pid_t c = fork();
    if (c == 0)
        _exit(0);
    assert_int_equal(waitpid(c, NULL, 0), c);
    return c;
}

/* Makes file `.mbx-hosts.<pid><tail>` of the test directory, mode `mode`,
 * with `len` bytes of `head` then zeros up to `size`; returns it open. */
static int plant(pid_t pid, const char *tail, mode_t mode, const char *head, off_t size, char *path,
                 size_t cap)
{
    snprintf(path, cap, "%s/.mbx-hosts.%d%s", test_dir, (int)pid, tail);
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    assert_true(fd >= 0);
    if (head)
        assert_int_equal(pwrite(fd, head, strlen(head), 0), (ssize_t)strlen(head));
    assert_int_equal(ftruncate(fd, size), 0);
    return fd;
}

/* What this build leaves and what a previous build's gateways (no lock
 * file: they hold the table itself) share the directory with: a lock file
 * left alone by a gateway killed between removing its table and its lock
 * file is swept, as is a previous build's dead table; a previous build's
 * live one (held: another pid namespace) stays, and so does a lock file
 * someone holds. */
static void previous_builds_tables_and_lone_lock_files(void **state)
{
    (void)state;
    char lone[PATH_MAX], held_lock[PATH_MAX], old_dead[PATH_MAX], old_live[PATH_MAX];
    off_t size = 64 + 64 * HOSTS_MAX;
    close(plant(dead_pid(), ".lock", 0600, NULL, 0, lone, sizeof(lone)));
    int h = plant(dead_pid(), ".lock", 0600, NULL, 0, held_lock, sizeof(held_lock));
    assert_int_equal(flock(h, LOCK_EX), 0);
    close(plant(dead_pid(), "", 0644, "MBXHOST1", size, old_dead, sizeof(old_dead)));
    int l = plant(dead_pid(), "", 0644, "MBXHOST1", size, old_live, sizeof(old_live));
    assert_int_equal(flock(l, LOCK_SH), 0);
    usleep(1200 * 1000); /* older than a table being made */
    hosts_hold();
    assert_int_not_equal(hosts_id("10.0.0.8"), HOSTS_UNKNOWN); /* makes ours, sweeps */
    int lone_gone = access(lone, F_OK) != 0, held_kept = access(held_lock, F_OK) == 0,
        old_dead_gone = access(old_dead, F_OK) != 0, old_live_kept = access(old_live, F_OK) == 0;
    hosts_release();
    close(h);
    close(l);
    unlink(lone);
    unlink(held_lock);
    unlink(old_dead);
    unlink(old_live);
    assert_true(lone_gone);
    assert_true(held_kept);
    assert_true(old_dead_gone);
    assert_true(old_live_kept);
}

/* What a gateway of this build killed between making its table and
 * writing its header leaves: the table unmarked, mode 0644, empty or (size
 * `size`: killed after posix_fallocate) zeros, and its lock file, held by
 * nobody. Such a table was judged by a previous build's rule, by its own
 * lock, which anyone may take: another user pinned it for good (found by
 * a review). Made under pid `pid`; the table's path in path (cap
 * PATH_MAX), its lock file's in lock. */
static void killed_before_its_header(pid_t pid, off_t size, char *path, char *lock)
{
    close(plant(pid, "", 0644, NULL, size, path, PATH_MAX));
    close(plant(pid, ".lock", 0600, NULL, 0, lock, PATH_MAX + 8));
}

/* The empty table of a gateway killed before its header, held locked by
 * another user, is swept all the same. Root only (a second user). */
static void empty_table_pinned_by_another_user_is_swept(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        printf("skipped: needs root (a second user, nobody, to pin the table)\n");
        skip();
    }
    char path[PATH_MAX], lock[PATH_MAX + 8];
    killed_before_its_header(dead_pid(), 0, path, lock);
    pinned_dead_table_is_swept(path, lock);
}

/* Such a table (full size, zeros) under the pid of a new gateway is
 * replaced by its table: the other user's lock made it look like a
 * previous build's live table of another pid namespace, and the new
 * gateway named no host for its life. Root only. */
static void empty_pinned_table_under_our_pid_is_replaced(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        printf("skipped: needs root (a second user, nobody, to pin the table)\n");
        skip();
    }
    int go[2];
    pid_t c = waiting_table_maker(go);
    char path[PATH_MAX], lock[PATH_MAX + 8];
    /* As if c got the pid of one killed after posix_fallocate. */
    killed_before_its_header(c, 64 + 64 * HOSTS_MAX, path, lock);
    pinned_table_under_its_pid_is_replaced(c, go, path, lock);
}

/* A sweeper of our user holds the lock file of a dead process for an
 * instant while it judges its table; a gateway starting under that pid
 * then waits for it and makes its table: it gave up at once and named no
 * host for a second (found by a review: it tried three times at once).
 * Here the test holds the lock file as a sweeper and lets go of it when
 * the gateway opens it a fifth time (fanotify holds each open until the
 * test allows it): no timing. Root only (fanotify). */
static void starting_gateway_waits_for_a_sweeper(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        printf("skipped: needs root (fanotify, to see the gateway open the lock file)\n");
        skip();
    }
    int fan = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC, O_RDONLY | O_CLOEXEC);
    if (fan < 0) {
        printf("skipped: no fanotify permission events here (%s)\n", strerror(errno));
        skip();
    }
    int go[2];
    assert_int_equal(pipe(go), 0);
    pid_t c = fork();
    if (c == 0) {
        test_child();
        char x;
        if (read(go[0], &x, 1) != 1)
            _exit(2);
        hosts_hold();
        _exit(hosts_id("10.0.0.9") == HOSTS_UNKNOWN ? 1 : 0);
    }
    char path[PATH_MAX], lock[PATH_MAX];
    snprintf(path, sizeof(path), "%s/.mbx-hosts.%d", test_dir, (int)c);
    int l = plant(c, ".lock", 0600, NULL, 0, lock, sizeof(lock));
    assert_int_equal(flock(l, LOCK_EX), 0); /* the sweeper */
    assert_int_equal(fanotify_mark(fan, FAN_MARK_ADD, FAN_OPEN_PERM, AT_FDCWD, lock), 0);
    assert_int_equal(write(go[1], "g", 1), 1);
    int opens = 0, st = 0;
    for (int waited = 0; waited < 300; waited++) {
        struct pollfd p = {fan, POLLIN, 0};
        if (poll(&p, 1, 100) == 1) {
            char buf[4096];
            ssize_t n = read(fan, buf, sizeof(buf));
            struct fanotify_event_metadata *md = (void *)buf;
            for (; n > 0 && FAN_EVENT_OK(md, n); md = FAN_EVENT_NEXT(md, n)) {
                if (++opens == 5)
                    assert_int_equal(flock(l, LOCK_UN), 0); /* the sweeper is done */
                struct fanotify_response r = {md->fd, FAN_ALLOW};
                assert_int_equal(write(fan, &r, sizeof(r)), sizeof(r));
                close(md->fd);
            }
        }
        if (waitpid(c, &st, WNOHANG) == c)
            break;
    }
    close(fan);
    close(l);
    unlink(path);
    unlink(lock);
    close(go[0]);
    close(go[1]);
    assert_true(opens >= 1);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0); /* it made its table */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(ids_name_their_hosts, test_dir_setup, test_dir_teardown),
        cmocka_unit_test_setup_teardown(oldest_place_goes_to_a_new_host, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(dead_gateways_tables_are_swept, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(untrusted_tables_name_nothing, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(live_tables_stay_for_another_pid_namespace, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(dead_gateways_table_swept_while_its_child_lives,
                                        test_dir_setup, test_dir_teardown),
        cmocka_unit_test_setup_teardown(held_table_under_our_pid_is_not_replaced, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(held_lock_file_under_our_pid_keeps_us_out, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(dead_table_pinned_by_another_user_is_swept, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(pinned_dead_table_under_our_pid_is_replaced, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(sweep_leaves_a_live_table_that_took_a_dead_ones_name,
                                        test_dir_setup, test_dir_teardown),
        cmocka_unit_test_setup_teardown(previous_builds_tables_and_lone_lock_files, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(empty_table_pinned_by_another_user_is_swept, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(empty_pinned_table_under_our_pid_is_replaced,
                                        test_dir_setup, test_dir_teardown),
        cmocka_unit_test_setup_teardown(starting_gateway_waits_for_a_sweeper, test_dir_setup,
                                        test_dir_teardown),
    };
    return test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
