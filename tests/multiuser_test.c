/* Several users on one machine (issue 11): what one user can and cannot do
 * to another's mailboxes. Needs root, to make the users (useradd) and to
 * run children as them; exits with 77 (ctest: skipped) otherwise. */
#include "test_util.h"

#include "mbx.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define SKIP_CODE 77

static uid_t uid_a, uid_b;
static gid_t gid_a, gid_b;

/* The uid of test user `name`, made with useradd when missing. */
static int test_user(const char *name, uid_t *uid, gid_t *gid)
{
    struct passwd *pw = getpwnam(name);
    if (!pw) {
        char cmd[256];
        snprintf(cmd, sizeof(cmd),
                 "useradd --system --no-create-home --shell /usr/sbin/nologin %s >/dev/null 2>&1",
                 name);
        if (system(cmd) != 0)
            return -1;
        pw = getpwnam(name);
    }
    if (!pw)
        return -1;
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    return 0;
}

/* In a child: becomes user (uid, gid) for good. */
static void become(uid_t uid, gid_t gid)
{
    if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0)
        _exit(90);
}

/* Runs fn as user (uid, gid) in a child and returns its exit status
 * (fn's return value), or -1 when it did not exit normally. */
static int as_user(uid_t uid, gid_t gid, int (*fn)(void *), void *arg)
{
    pid_t p = fork();
    if (p == 0) {
        become(uid, gid);
        _exit(fn(arg));
    }
    int st;
    if (waitpid(p, &st, 0) != p || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

/* ---- item 1: names another user took first ---- */

static int b_creates_jobs(void *arg)
{
    (void)arg;
    mbx_attr a;
    mbx_attr_init(&a);
    a.mode = 0666;
    mbx *m;
    if (mbx_open("jobs", MBX_SEND | MBX_RECV | MBX_CREATE | MBX_EXCL, &a, &m) != 0)
        return 1;
    mbx_close(m);
    return 0;
}

static int a_opens_jobs(void *arg)
{
    (void)arg;
    mbx_attr a;
    mbx_attr_init(&a);
    mbx *m;
    /* The README's way to open or create: refused, B's file is not ours. */
    if (mbx_open("jobs", MBX_SEND | MBX_RECV | MBX_CREATE, &a, &m) != -EACCES)
        return 1;
    if (mbx_open("jobs", MBX_SEND, NULL, &m) != -EACCES)
        return 2;
    /* Asked for explicitly, it is used. */
    if (mbx_open("jobs", MBX_SEND | MBX_SHARED, NULL, &m) != 0)
        return 3;
    int r = mbx_send(m, "hi", 2, 0, 0);
    mbx_close(m);
    return r == 0 ? 0 : 4;
}

static void squatted_name_is_refused(void **state)
{
    (void)state;
    assert_int_equal(as_user(uid_b, gid_b, b_creates_jobs, NULL), 0);
    assert_int_equal(as_user(uid_a, gid_a, a_opens_jobs, NULL), 0);
    /* A hard link to B's mailbox under a name A uses is the same file. */
    char from[600], to[600];
    snprintf(from, sizeof(from), "%s/mbx.jobs", test_dir);
    snprintf(to, sizeof(to), "%s/mbx.orders", test_dir);
    assert_int_equal(link(from, to), 0);
    mbx *m;
    pid_t p = fork();
    if (p == 0) {
        become(uid_a, gid_a);
        _exit(mbx_open("orders", MBX_SEND | MBX_RECV | MBX_CREATE, NULL, &m) == -EACCES ? 0 : 1);
    }
    int st;
    assert_int_equal(waitpid(p, &st, 0), p);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    unlink(to);
    assert_int_equal(mbx_unlink("jobs"), 0);
}

/* ---- items 1 and 6: planted "@PID" files ---- */

static int a_uses_its_own_mailbox(void *arg)
{
    int *pipefd = arg;
    char c;
    /* Wait until B has planted files under every name near our pid. */
    if (read(pipefd[0], &c, 1) != 1)
        return 9;
    mbx *self, *again;
    if (mbx_self(&self) != 0)
        return 1;
    char name[32];
    snprintf(name, sizeof(name), "@%d", (int)getpid());
    if (mbx_open(name, MBX_SEND, NULL, &again) != 0)
        return 2;
    if (mbx_send(again, "to me", 5, 0, 0) != 0)
        return 3;
    char buf[16];
    mbx_msginfo info;
    if (mbx_recv(self, buf, sizeof(buf), &info, 1000000000ll) != 5 || info.sender_pid != getpid())
        return 4;
    mbx_close(again);
    return 0;
}

static void planted_pid_files_change_nothing(void **state)
{
    (void)state;
    int go[2];
    assert_int_equal(pipe(go), 0);
    pid_t a = fork();
    if (a == 0) {
        close(go[1]);
        become(uid_a, gid_a);
        _exit(a_uses_its_own_mailbox(go));
    }
    close(go[0]);
    /* B plants a mailbox of its own under A's name, and links to it. */
    pid_t b = fork();
    if (b == 0) {
        become(uid_b, gid_b);
        char name[32];
        snprintf(name, sizeof(name), "@%d", (int)a);
        mbx_attr at;
        mbx_attr_init(&at);
        at.mode = 0666;
        mbx *m;
        int r = mbx_open("bait", MBX_SEND | MBX_RECV | MBX_CREATE, &at, &m);
        char from[600], to[600];
        snprintf(from, sizeof(from), "%s/mbx.bait", test_dir);
        for (int d = -5; d <= 5; d++) {
            snprintf(to, sizeof(to), "%s/mbx.@%d", test_dir, (int)a + d);
            if (link(from, to) != 0)
                r = 1;
        }
        _exit(r == 0 ? 0 : 1);
    }
    int st;
    assert_int_equal(waitpid(b, &st, 0), b);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_int_equal(write(go[1], "g", 1), 1);
    assert_int_equal(waitpid(a, &st, 0), a);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    /* Nothing reached B's file. */
    mbx_stat s;
    assert_int_equal(mbx_stat_name("bait", &s), 0);
    assert_int_equal(s.sent_total, 0);
    close(go[1]);
}

/* B cannot open A's own mailbox, let alone read it. */
static int b_opens(void *arg)
{
    mbx *m;
    int r = mbx_open((const char *)arg, MBX_SEND | MBX_SHARED, NULL, &m);
    return r == -EACCES || r == -ENOENT ? 0 : 1;
}

static void other_users_pid_mailbox_is_closed(void **state)
{
    (void)state;
    int go[2], done[2];
    assert_int_equal(pipe(go), 0);
    assert_int_equal(pipe(done), 0);
    pid_t a = fork();
    if (a == 0) {
        /* Only the test process holds done's write end: if it fails before
         * writing, A reads its end and goes instead of hanging ctest. */
        close(go[0]), close(done[1]);
        become(uid_a, gid_a);
        test_child(); /* after become: a change of user clears it */
        mbx *self;
        char c = mbx_self(&self) == 0 ? 'y' : 'n';
        if (write(go[1], &c, 1) != 1 || read(done[0], &c, 1) != 1)
            _exit(2);
        _exit(0);
    }
    char c;
    assert_int_equal(read(go[0], &c, 1), 1);
    assert_int_equal(c, 'y');
    char name[32];
    snprintf(name, sizeof(name), "@%d", (int)a);
    assert_int_equal(as_user(uid_b, gid_b, b_opens, name), 0);
    assert_int_equal(write(done[1], "x", 1), 1);
    int st;
    assert_int_equal(waitpid(a, &st, 0), a);
    close(go[0]), close(go[1]), close(done[0]), close(done[1]);
}

/* ---- item 11: a removal the directory refuses changes nothing ---- */

static int a_creates_kept(void *arg)
{
    (void)arg;
    mbx_attr at;
    mbx_attr_init(&at);
    at.mode = 0666;
    mbx *m;
    if (mbx_open("kept", MBX_SEND | MBX_RECV | MBX_CREATE, &at, &m) != 0)
        return 1;
    mbx_close(m);
    return 0;
}

static int b_removes_kept(void *arg)
{
    (void)arg;
    int r = mbx_unlink("kept");
    return r == -EPERM || r == -EACCES ? 0 : 1;
}

static int a_uses_kept(void *arg)
{
    (void)arg;
    mbx *m;
    if (mbx_open("kept", MBX_SEND | MBX_RECV, NULL, &m) != 0)
        return 1;
    char b[4];
    int r = mbx_send(m, "x", 1, 0, 0) == 0 && mbx_recv(m, b, sizeof(b), NULL, 0) == 1 ? 0 : 2;
    mbx_close(m);
    return r;
}

static void refused_unlink_leaves_the_mailbox_working(void **state)
{
    (void)state;
    assert_int_equal(as_user(uid_a, gid_a, a_creates_kept, NULL), 0);
    /* The directory is sticky: B may not remove A's file. Before, B's
     * attempt marked the mailbox removed anyway. */
    assert_int_equal(as_user(uid_b, gid_b, b_removes_kept, NULL), 0);
    assert_int_equal(as_user(uid_a, gid_a, a_uses_kept, NULL), 0);
    assert_int_equal(mbx_unlink("kept"), 0);
}

/* ---- item 5: another PID namespace ---- */

static void other_pid_namespace_is_refused(void **state)
{
    (void)state;
    mbx *m;
    assert_int_equal(mbx_open("nsbox", MBX_SEND | MBX_RECV | MBX_CREATE, NULL, &m), 0);
    pid_t p = fork();
    if (p == 0) {
        if (unshare(CLONE_NEWPID) != 0)
            _exit(SKIP_CODE);
        pid_t q = fork(); /* the first process of the new namespace */
        if (q == 0) {
            mbx *x;
            _exit(mbx_open("nsbox", MBX_SEND, NULL, &x) == -EXDEV ? 0 : 1);
        }
        int st;
        _exit(waitpid(q, &st, 0) == q && WIFEXITED(st) ? WEXITSTATUS(st) : 2);
    }
    int st;
    assert_int_equal(waitpid(p, &st, 0), p);
    assert_true(WIFEXITED(st));
    if (WEXITSTATUS(st) == SKIP_CODE)
        skip();
    assert_int_equal(WEXITSTATUS(st), 0);
    mbx_close(m);
    mbx_unlink("nsbox");
}

/* ---- a look at another user's mailbox reaps nothing ---- */

static int b_dies_owning(void *arg)
{
    (void)arg;
    mbx *m;
    if (mbx_open("deadowned", MBX_RECV | MBX_CREATE | MBX_OWNED, NULL, &m) != 0)
        return 1;
    raise(SIGKILL); /* no exit handler removes it */
    return 2;
}

/* B's owned mailbox whose owner was killed: root's mbx_stat_name (as in
 * `mbx ls`) says it is gone, and leaves the file to B. It used to remove
 * it, reading and writing the shared mapping of a file B may shrink
 * meanwhile, which kills the looker with SIGBUS (found by a review). */
static void look_reaps_no_other_users_file(void **state)
{
    (void)state;
    assert_int_equal(as_user(uid_b, gid_b, b_dies_owning, NULL), -1);
    mbx_stat st;
    assert_int_equal(mbx_stat_name("deadowned", &st), -ENOENT);
    char path[600];
    snprintf(path, sizeof(path), "%s/mbx.deadowned", test_dir);
    struct stat fs;
    assert_int_equal(stat(path, &fs), 0);
    assert_int_equal(fs.st_uid, uid_b);
    assert_int_equal(unlink(path), 0);
}

static int setup(void **state)
{
    if (test_dir_setup(state))
        return -1;
    /* Shared like /dev/shm: anyone may create, only owners remove. */
    return chmod(test_dir, 01777);
}

int main(void)
{
    if (geteuid() != 0) {
        printf("multiuser_test: skipped, needs root to make users and act as them\n");
        return SKIP_CODE;
    }
    if (test_user("mbxtest-a", &uid_a, &gid_a) || test_user("mbxtest-b", &uid_b, &gid_b)) {
        printf("multiuser_test: skipped, cannot make the users mbxtest-a and mbxtest-b "
               "(useradd)\n");
        return SKIP_CODE;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(squatted_name_is_refused),
        cmocka_unit_test(planted_pid_files_change_nothing),
        cmocka_unit_test(other_users_pid_mailbox_is_closed),
        cmocka_unit_test(refused_unlink_leaves_the_mailbox_working),
        cmocka_unit_test(other_pid_namespace_is_refused),
        cmocka_unit_test(look_reaps_no_other_users_file),
    };
    return cmocka_run_group_tests(tests, setup, test_dir_teardown);
}
