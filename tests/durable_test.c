/* Durable mailboxes: in a disk directory a mailbox is a plain file. Messages
 * queued and synced survive every process that used it, killed or not, and
 * are all there when a new process opens it. */
#include "test_util.h"

#include "mbx.h"

#include <errno.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define SENDERS 3
#define EACH    200

static void everything_killed_then_reopened(void **state)
{
    (void)state;
    char dir[] = "/tmp/mbx-durable-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *saved = strdup(getenv("MBX_DIR"));
    setenv("MBX_DIR", dir, 1);
    mbx_attr a;
    mbx_attr_init(&a);
    a.capacity = 1000;
    mbx *m;
    assert_int_equal(mbx_open("jobs", MBX_SEND | MBX_CREATE, &a, &m), 0);
    /* How many each sender had acknowledged and synced. */
    uint32_t *acked = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    pid_t kids[SENDERS];
    for (int s = 0; s < SENDERS; s++) {
        if ((kids[s] = fork()) == 0) {
            mbx *q;
            if (mbx_open("jobs", MBX_SEND, NULL, &q) != 0)
                _exit(1);
            for (uint32_t i = 0;; i++) {
                uint32_t msg[2] = {(uint32_t)s, i};
                if (i < EACH) {
                    if (mbx_send(q, msg, sizeof(msg), 0, MBX_FOREVER) != 0)
                        _exit(2);
                    if (i + 1 == EACH) {
                        if (mbx_sync(q) != 0)
                            _exit(3);
                        acked[s] = EACH;
                    }
                } else if (i < EACH + 50) {
                    /* Some more, unsynced, until killed, maybe mid-way. */
                    mbx_send(q, msg, sizeof(msg), 0, MBX_NONBLOCK);
                } else {
                    test_await_kill();
                }
            }
        }
    }
    /* Let them work, then kill every one of them at once. */
    for (int waited = 0; waited < 30000; waited++) {
        int all = 1;
        for (int s = 0; s < SENDERS; s++)
            all &= acked[s] == EACH;
        if (all)
            break;
        usleep(1000);
    }
    for (int s = 0; s < SENDERS; s++) {
        if (acked[s] != EACH)
            fail_msg("sender %d acknowledged only %u", s, acked[s]);
        kill(kids[s], SIGKILL);
    }
    for (int s = 0; s < SENDERS; s++) {
        int st;
        assert_int_equal(waitpid(kids[s], &st, 0), kids[s]);
        assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    }
    assert_int_equal(mbx_close(m), 0);

    /* A new process: every synced message is there, whole, in order. */
    pid_t p = fork();
    if (p == 0) {
        mbx *q;
        if (mbx_open("jobs", MBX_RECV, NULL, &q) != 0)
            _exit(1);
        uint32_t next[SENDERS] = {0}, msg[2];
        ssize_t n;
        while ((n = mbx_recv(q, msg, sizeof(msg), NULL, MBX_NONBLOCK)) == sizeof(msg)) {
            /* In order, and none missing among the synced ones; an unsynced
             * send may have failed (MBX_NONBLOCK finding the lock held
             * past its grace on a busy machine), so those may have gaps. */
            if (msg[0] >= SENDERS || msg[1] < next[msg[0]] ||
                (msg[1] != next[msg[0]] && next[msg[0]] < EACH)) {
                fprintf(stderr, "sender %u: message %u where %u was next\n", msg[0], msg[1],
                        msg[0] < SENDERS ? next[msg[0]] : 0);
                _exit(3);
            }
            next[msg[0]] = msg[1] + 1;
        }
        if (n != -EAGAIN)
            _exit(4);
        for (int s = 0; s < SENDERS; s++)
            if (next[s] < EACH) {
                fprintf(stderr, "sender %d: %u of %d synced messages found\n", s, next[s], EACH);
                _exit(5);
            }
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(p, &st, 0), p);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_int_equal(mbx_unlink("jobs"), 0);
    assert_int_equal(rmdir(dir), 0);
    setenv("MBX_DIR", saved, 1);
    free(saved);
    munmap(acked, 4096);
}

/* A mailbox named with its folder, /DIR/NAME, on another file system than
 * $MBX_DIR (the test's, in /dev/shm; the folder in /tmp): made there. It
 * was made in $MBX_DIR and then linked into the folder, which cannot cross
 * file systems (-EXDEV; found by a review). */
static void folder_on_another_file_system(void **state)
{
    (void)state;
    char dir[] = "/tmp/mbx-folder-XXXXXX", name[64];
    assert_non_null(mkdtemp(dir));
    struct stat a, b;
    assert_int_equal(stat(dir, &a), 0);
    assert_int_equal(stat(getenv("MBX_DIR"), &b), 0);
    if (a.st_dev == b.st_dev) {
        rmdir(dir);
        printf("skipped: /tmp and $MBX_DIR are one file system here\n");
        skip();
    }
    snprintf(name, sizeof(name), "%s/jobs", dir);
    mbx *m;
    assert_int_equal(mbx_open(name, MBX_SEND | MBX_RECV | MBX_CREATE, NULL, &m), 0);
    assert_int_equal(mbx_send(m, "x", 1, 0, 0), 0);
    char buf[4];
    assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, 0), 1);
    mbx_close(m);
    assert_int_equal(mbx_unlink(name), 0);
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(everything_killed_then_reopened),
        cmocka_unit_test(folder_on_another_file_system),
    };
    return test_result(cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown));
}
