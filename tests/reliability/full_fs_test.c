/* A file system that fills up under a mailbox: as root the test mounts a
 * 2 MiB tmpfs of its own; creation of a mailbox that does not fit, and
 * sends past the space left, give -ENOSPC — no SIGBUS, nothing damaged.
 *
 * The tmpfs is root's alone: mode 0700 (a tmpfs root is 1777 by default,
 * where any user could plant a `filler` symlink and have root fallocate
 * the file system it points into full), in a mount namespace of the test's
 * own when it can have one (nobody else sees the mount, and it goes with
 * the process however the test ends), and the filler is created new,
 * never opened through a link. */
#include "test_util.h"

#include "mbx.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

static char dir[64];
static int mounted;
static char why_not[128]; /* why no tmpfs was mounted */

/* Mounts the test's tmpfs on dir. Returns 0 or -errno. */
static int mount_private(void)
{
    /* A namespace of its own, its mounts not propagated to the host's:
     * the tmpfs is unmounted by the kernel when the test exits, even
     * killed. Without one (unshare refused) the mount is the host's, and
     * teardown unmounts it. */
    if (unshare(CLONE_NEWNS) == 0 && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        return -errno;
    if (mount("mbx-test", dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=2m,mode=0700") != 0)
        return -errno;
    return 0;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/mbx-fullfs-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    int r;
    if (geteuid() != 0)
        snprintf(why_not, sizeof(why_not), "needs root to mount a 2 MiB tmpfs");
    else if ((r = mount_private()) != 0)
        snprintf(why_not, sizeof(why_not), "mounting a 2 MiB tmpfs failed: %s", strerror(-r));
    else
        mounted = 1;
    setenv("MBX_DIR", dir, 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    /* A failed case may leave a mailbox mapped (EBUSY): detached then, so
     * the tmpfs goes when the last mapping does and the directory can go. */
    if (mounted && umount(dir) != 0 && umount2(dir, MNT_DETACH) != 0)
        fprintf(stderr, "full_fs_test: could not unmount %s: %s\n", dir, strerror(errno));
    if (rmdir(dir) != 0)
        fprintf(stderr, "full_fs_test: could not remove %s: %s\n", dir, strerror(errno));
    return 0;
}

/* Creates the file that takes up the space: a new file, never one that was
 * there (or a link planted to another file system). Returns fd or -1. */
static int open_filler(const char *path)
{
    return open(path, O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, 0600);
}

/* The mount is root's alone, and a filler name that exists (a link here)
 * is refused, not followed. */
static void others_cannot_plant(void **state)
{
    (void)state;
    if (!mounted)
        test_skip("%s", why_not);
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_int_equal(st.st_uid, 0);
    /* A link to a file of the tmpfs itself: nothing outside is at risk. */
    char target[128], filler[128];
    snprintf(target, sizeof(target), "%s/target", dir);
    snprintf(filler, sizeof(filler), "%s/filler", dir);
    int fd = open(target, O_CREAT | O_EXCL | O_WRONLY, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(symlink(target, filler), 0);
    errno = 0;
    assert_int_equal(open_filler(filler), -1);
    assert_int_equal(errno, EEXIST);
    assert_int_equal(stat(target, &st), 0);
    assert_int_equal(st.st_size, 0);
    unlink(filler);
    unlink(target);
}

static void ring_too_big_to_create(void **state)
{
    (void)state;
    if (!mounted)
        test_skip("%s", why_not);
    /* Leave 32 KiB free: less than a 1024-slot ring needs at creation
     * (its header pages, receipts and 1024 slot headers, 64 KiB). */
    char filler[128];
    snprintf(filler, sizeof(filler), "%s/filler", dir);
    int fd = open_filler(filler);
    assert_true(fd >= 0);
    struct statvfs v;
    assert_int_equal(fstatvfs(fd, &v), 0);
    off_t room = (off_t)(v.f_bavail * v.f_frsize) - 32 * 1024;
    assert_true(room > 0);
    assert_int_equal(posix_fallocate(fd, 0, room), 0);
    close(fd);
    mbx_attr a;
    mbx_attr_init(&a);
    a.capacity = 1024;
    a.max_msg_size = 64 * 1024;
    mbx *m;
    assert_int_equal(mbx_open("big", MBX_SEND | MBX_CREATE, &a, &m), -ENOSPC);
    assert_int_equal(mbx_stat_name("big", &(mbx_stat){0}), -ENOENT);
    unlink(filler);
}

/* Fills the file system with 64 KiB messages until a send says -ENOSPC;
 * everything that fit is then received whole, and the mailbox goes on. */
static void fill(uint32_t capacity, const char *name)
{
    mbx_attr a;
    mbx_attr_init(&a);
    a.capacity = capacity;
    a.max_msg_size = 64 * 1024;
    a.memory_limit = 64ull << 20; /* the limit is far; the disk is near */
    mbx *m;
    assert_int_equal(mbx_open(name, MBX_SEND | MBX_RECV | MBX_CREATE, &a, &m), 0);
    static char buf[64 * 1024];
    int n = 0, r;
    while ((r = mbx_send(m, buf, sizeof(buf), 0, 0)) == 0)
        n++;
    assert_int_equal(r, -ENOSPC);
    assert_true(n > 0 && n < 32);
    /* What fit is all there, and the mailbox works on once drained. */
    for (int i = 0; i < n; i++)
        assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, 0), (ssize_t)sizeof(buf));
    assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, 0), -EAGAIN);
    /* The heap reuses the drained blocks at once; a ring's next positions
     * are slots never used, which fail until it comes round to used ones. */
    for (uint32_t i = 0; (r = mbx_send(m, buf, sizeof(buf), 0, 0)) == -ENOSPC && i < 64; i++)
        ;
    assert_int_equal(r, 0);
    assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, 0), (ssize_t)sizeof(buf));
    mbx_close(m);
    assert_int_equal(mbx_unlink(name), 0);
}

static void heap_fills_the_file_system(void **state)
{
    (void)state;
    if (!mounted)
        test_skip("%s", why_not);
    fill(MBX_UNBOUNDED, "heap");
}

/* A ring's slots get storage as they are first used: the same. */
static void ring_fills_the_file_system(void **state)
{
    (void)state;
    if (!mounted)
        test_skip("%s", why_not);
    fill(64, "ring");
}

/* A tcp:// gateway whose folder is full: the table of its clients' hosts
 * cannot be made, and a client's message is still delivered, its host
 * unknown (the table's pages, written without storage, killed the gateway
 * with SIGBUS). */
static void gateway_on_a_full_file_system(void **state)
{
    (void)state;
    if (!mounted)
        test_skip("%s", why_not);
    char secret[128], filler[128], name[128];
    snprintf(secret, sizeof(secret), "%s/secret", dir);
    int fd = open(secret, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "0123456789abcdef0123456789abcdef\n", 33), 33);
    close(fd);
    setenv("MBX_SECRET_FILE", secret, 1);
    setenv("MBX_TCP_BYPASS", "0", 1);
    mbx_attr a;
    mbx_attr_init(&a);
    a.capacity = 1; /* one slot, used once before the disk fills */
    a.max_msg_size = 64;
    mbx *m;
    assert_int_equal(mbx_open("jobs", MBX_SEND | MBX_RECV | MBX_CREATE, &a, &m), 0);
    char buf[64];
    assert_int_equal(mbx_send(m, "warm", 4, 0, 0), 0);
    assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, 0), 4);
    snprintf(filler, sizeof(filler), "%s/filler", dir);
    fd = open_filler(filler);
    assert_true(fd >= 0);
    struct statvfs v;
    assert_int_equal(fstatvfs(fd, &v), 0);
    assert_int_equal(posix_fallocate(fd, 0, (off_t)(v.f_bavail * v.f_frsize)), 0);
    close(fd);
    static const char *const allow[] = {"jobs", NULL};
    mbx_gateway_options o;
    mbx_gateway_options_init(&o);
    o.allow = allow;
    mbx_gateway *g;
    assert_int_equal(mbx_gateway_start("127.0.0.1:0", &o, &g), 0);
    snprintf(name, sizeof(name), "tcp://127.0.0.1:%d/jobs", mbx_gateway_port(g));
    mbx *r;
    assert_int_equal(mbx_open(name, MBX_SEND, NULL, &r), 0);
    assert_int_equal(mbx_send(r, "far", 3, 0, 5000000000ll), 0);
    assert_int_equal(mbx_sync(r), 0);
    mbx_msginfo info;
    char host[64];
    assert_int_equal(mbx_recv(m, buf, sizeof(buf), &info, 5000000000ll), 3);
    assert_int_not_equal(info.sender_host, 0); /* remote, its host unknown */
    assert_int_equal(mbx_msginfo_host(&info, host, sizeof(host)), -ENOENT);
    mbx_close(r);
    assert_int_equal(mbx_gateway_stop(g), 0);
    mbx_close(m);
    unlink(filler);
    unlink(secret);
    assert_int_equal(mbx_unlink("jobs"), 0);
    unsetenv("MBX_TCP_BYPASS");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(others_cannot_plant),
        cmocka_unit_test(ring_too_big_to_create),
        cmocka_unit_test(heap_fills_the_file_system),
        cmocka_unit_test(ring_fills_the_file_system),
        cmocka_unit_test(gateway_on_a_full_file_system),
    };
    return test_result(cmocka_run_group_tests(tests, setup, teardown));
}
