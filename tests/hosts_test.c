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

/* A table under our pid that someone holds (a live gateway of another pid
 * namespace sharing the directory, pid 1 in each, say) is not replaced
 * when we make ours: we have none (hosts read as unknown). */
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
    snprintf(path, sizeof(path), "%s/.mbx-hosts.%d", test_dir, (int)c);
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
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
    };
    return test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
