/* Removing a mailbox by name while its name is taken again: mbx_unlink
 * (and a dead owner's reaping) looked at the file under the name, then
 * unlinked the name. A mailbox made again under it between the two (an
 * owner started again) lost its name, and nobody could reach it (found by
 * a review). The race is made certain here: this program stands in for
 * unlink and rename (the C library's are called through syscall), and
 * the first of them to touch the victim's name puts another mailbox file
 * under it just before, as a process racing us would. */
#include "test_util.h"

#include "mbx.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static char victim_path[600], spare_path[600];
static int armed;

/* Puts the spare mailbox's file under the victim's name, once. */
static void race(const char *path)
{
    if (!armed || strcmp(path, victim_path) != 0)
        return;
    armed = 0;
    syscall(SYS_unlinkat, AT_FDCWD, victim_path, 0);
    syscall(SYS_linkat, AT_FDCWD, spare_path, AT_FDCWD, victim_path, 0);
}

/* Set in a child: it dies as it would unlink a name moved aside. */
static int die_at_aside;

int unlink(const char *path)
{
    if (die_at_aside && strstr(path, "/.mbx-new."))
        raise(SIGKILL);
    race(path);
    return (int)syscall(SYS_unlinkat, AT_FDCWD, path, 0);
}

int rename(const char *from, const char *to)
{
    race(from);
    return (int)syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, 0);
}

int renameat2(int fromdir, const char *from, int todir, const char *to, unsigned flags)
{
    race(from);
    return (int)syscall(SYS_renameat2, fromdir, from, todir, to, flags);
}

static void name_taken_again_keeps_the_new_one(void **state)
{
    (void)state;
    mbx_attr a;
    mbx_attr_init(&a);
    mbx *victim, *spare;
    assert_int_equal(mbx_open("victim", MBX_SEND | MBX_RECV | MBX_CREATE, &a, &victim), 0);
    assert_int_equal(mbx_open("spare", MBX_SEND | MBX_RECV | MBX_CREATE, &a, &spare), 0);
    snprintf(victim_path, sizeof(victim_path), "%s/mbx.victim", test_dir);
    snprintf(spare_path, sizeof(spare_path), "%s/mbx.spare", test_dir);
    struct stat sp;
    assert_int_equal(stat(spare_path, &sp), 0);
    armed = 1;
    /* The removal finds another file under the name: it is not ours to
     * remove (-ENOENT, as when the name was replaced before the look). */
    assert_int_equal(mbx_unlink("victim"), -ENOENT);
    assert_int_equal(armed, 0);
    struct stat now;
    assert_int_equal(stat(victim_path, &now), 0);
    assert_true(now.st_ino == sp.st_ino && now.st_dev == sp.st_dev);
    /* And the new mailbox under it works. */
    mbx *again;
    assert_int_equal(mbx_open("victim", MBX_SEND, NULL, &again), 0);
    assert_int_equal(mbx_send(again, "x", 1, 0, MBX_NONBLOCK), 0);
    char b[4];
    assert_int_equal(mbx_recv(spare, b, sizeof(b), NULL, MBX_NONBLOCK), 1);
    mbx_close(again);
    /* Without a race, removal removes. */
    assert_int_equal(mbx_unlink("victim"), 0);
    assert_int_equal(stat(victim_path, &now), -1);
    mbx_close(victim);
    mbx_close(spare);
    assert_int_equal(mbx_unlink("spare"), 0);
    assert_int_equal(test_dir_count(), 0);
}

/* How many hidden names the test's folder holds. */
static int hidden_names(void)
{
    DIR *d = opendir(test_dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strncmp(e->d_name, ".mbx-new.", 9) == 0;
    closedir(d);
    return n;
}

/* A remover killed between moving the name aside and unlinking it left
 * the file under its hidden name for good (the sweep ran only at creations
 * on file systems without O_TMPFILE; found by a review). The next removal
 * in the folder sweeps it. */
static void remover_killed_half_way_leaves_nothing(void **state)
{
    (void)state;
    mbx_attr a;
    mbx_attr_init(&a);
    mbx *doomed, *other;
    assert_int_equal(mbx_open("doomed", MBX_SEND | MBX_RECV | MBX_CREATE, &a, &doomed), 0);
    assert_int_equal(mbx_open("other", MBX_SEND | MBX_RECV | MBX_CREATE, &a, &other), 0);
    mbx_close(doomed);
    mbx_close(other);
    pid_t c = fork();
    if (c == 0) {
        die_at_aside = 1;
        mbx_unlink("doomed");
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(c, &st, 0), c);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    assert_int_equal(hidden_names(), 1);
    mbx *x;
    assert_int_equal(mbx_open("doomed", MBX_SEND, NULL, &x), -ENOENT);
    usleep(1100000); /* sweeps are at most once a second per process */
    assert_int_equal(mbx_unlink("other"), 0);
    assert_int_equal(hidden_names(), 0);
    assert_int_equal(test_dir_count(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(name_taken_again_keeps_the_new_one),
        cmocka_unit_test(remover_killed_half_way_leaves_nothing),
    };
    return cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown);
}
