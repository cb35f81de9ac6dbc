/* Mailboxes in a folder whose file system has no O_TMPFILE (NFS, FAT, some
 * FUSE ones): a new mailbox's file is made under a hidden name, then
 * linked under its own. This program stands in for open and answers
 * O_TMPFILE with EOPNOTSUPP, as such a file system does (the C library's
 * open is called through syscall for everything else). */
#include "test_util.h"

#include "mbx.h"
#include "platform/platform.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int tmpfile_refused;

static int open_without_tmpfile(const char *path, int flags, va_list ap)
{
    mode_t mode = 0;
    if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE)
        mode = (mode_t)va_arg(ap, int);
    if ((flags & O_TMPFILE) == O_TMPFILE) {
        tmpfile_refused++;
        errno = EOPNOTSUPP;
        return -1;
    }
    return (int)syscall(SYS_openat, AT_FDCWD, path, flags, mode);
}

int open(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    int r = open_without_tmpfile(path, flags, ap);
    va_end(ap);
    return r;
}

int open64(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    int r = open_without_tmpfile(path, flags, ap);
    va_end(ap);
    return r;
}

/* How many names in the test's folder begin with prefix. */
static int names_with(const char *prefix)
{
    DIR *d = opendir(test_dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

static void plant(const char *name)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/%s", test_dir, name);
    int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_CREAT | O_EXCL | O_WRONLY, 0600);
    assert_true(fd >= 0);
    close(fd);
}

/* Made through a hidden name, used, removed: nothing hidden is left. */
static void mailbox_made_without_tmpfile(void **state)
{
    (void)state;
    int before = tmpfile_refused;
    mbx *m;
    assert_int_equal(mbx_open("plain", MBX_SEND | MBX_RECV | MBX_CREATE, NULL, &m), 0);
    assert_true(tmpfile_refused > before);
    assert_int_equal(mbx_send(m, "x", 1, 0, MBX_NONBLOCK), 0);
    char b[4];
    assert_int_equal(mbx_recv(m, b, sizeof(b), NULL, MBX_NONBLOCK), 1);
    mbx_close(m);
    assert_int_equal(mbx_unlink("plain"), 0);
    assert_int_equal(names_with(".mbx-new."), 0);
}

/* The hidden names were ".mbx-new.PID.START.N", N counting from 0: another
 * user of a shared folder could plant them first, and every create said
 * -EEXIST (found by a review). They now end in 64 random bits. */
static void planted_hidden_names_stop_nothing(void **state)
{
    (void)state;
    ident_t me = ident_self();
    char name[128];
    for (unsigned i = 0; i < 16; i++) {
        snprintf(name, sizeof(name), ".mbx-new.%d.%u.%u", (int)ident_id(me), ident_start(me), i);
        plant(name);
    }
    mbx *m;
    assert_int_equal(mbx_open("planted", MBX_SEND | MBX_RECV | MBX_CREATE, NULL, &m), 0);
    mbx_close(m);
    assert_int_equal(mbx_unlink("planted"), 0);
    assert_int_equal(names_with(".mbx-new."), 16);
    for (unsigned i = 0; i < 16; i++) {
        char path[700];
        snprintf(path, sizeof(path), "%s/.mbx-new.%d.%u.%u", test_dir, (int)ident_id(me),
                 ident_start(me), i);
        assert_int_equal(unlink(path), 0);
    }
}

/* The sweep removes the hidden files of dead creators of this PID
 * namespace only: a pid of another one says nothing here, and its live
 * creator's file was removed while it made it (found by a review). */
static void sweep_spares_other_namespaces(void **state)
{
    (void)state;
    pid_t gone = fork();
    if (gone == 0)
        _exit(0);
    assert_int_equal(waitpid(gone, NULL, 0), gone);
    char ours[160], theirs[160];
    snprintf(ours, sizeof(ours), ".mbx-new.%d.1.%llx.00000000000000aa", (int)gone,
             (unsigned long long)ident_pidns());
    snprintf(theirs, sizeof(theirs), ".mbx-new.%d.1.%llx.00000000000000bb", (int)gone,
             (unsigned long long)ident_pidns() ^ 1);
    plant(ours);
    plant(theirs);
    mbx *m;
    assert_int_equal(mbx_open("swept", MBX_SEND | MBX_RECV | MBX_CREATE, NULL, &m), 0);
    mbx_close(m);
    assert_int_equal(mbx_unlink("swept"), 0);
    char path[700];
    snprintf(path, sizeof(path), "%s/%s", test_dir, ours);
    assert_int_equal(access(path, F_OK), -1);
    snprintf(path, sizeof(path), "%s/%s", test_dir, theirs);
    assert_int_equal(access(path, F_OK), 0);
    assert_int_equal(unlink(path), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mailbox_made_without_tmpfile),
        cmocka_unit_test(planted_hidden_names_stop_nothing),
        cmocka_unit_test(sweep_spares_other_namespaces),
    };
    return cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown);
}
