/* The platform layer (src/platform) on its own: files, storage, the boot,
 * identities. */
#include "test_util.h"

#include "platform/platform.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static int entries(void)
{
    int n = 0;
    DIR *d = opendir(test_dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (d)
        closedir(d);
    return n;
}

/* A new file has no name, visible or hidden, until it is published whole;
 * a taken name says -EEXIST; the open refuses what is not a regular file. */
static void files(void **state)
{
    (void)state;
    struct shmfile f, g;
    char path[600];
    snprintf(path, sizeof(path), "%s/a", test_dir);
    assert_int_equal(shmfile_create(test_dir, 8192, 4096, 0640, &f), 0);
    assert_int_equal(entries(), 0);
    assert_int_equal(shmfile_publish(&f, path), 0);
    assert_int_equal(entries(), 1);
    uint32_t uid, gid, mode;
    assert_int_equal(shmfile_owner(&f, &uid, &gid, &mode), 0);
    assert_int_equal(mode, 0640);
    assert_int_equal(uid, geteuid());
    assert_int_equal(shmfile_create(test_dir, 8192, 0, 0600, &g), 0);
    assert_int_equal(shmfile_publish(&g, path), -EEXIST); /* g is closed */
    assert_int_equal(shmfile_open(path, 1, &g), 0);
    assert_int_equal(g.size, 8192);
    shmfile_close(&g);
    assert_int_equal(shmfile_unlinked(&f), 0);
    assert_int_equal(shmfile_unlink_same(path, &f), 0);
    assert_int_equal(shmfile_unlinked(&f), 1);
    shmfile_close(&f);

    char fifo[600], link[600];
    snprintf(fifo, sizeof(fifo), "%s/fifo", test_dir);
    snprintf(link, sizeof(link), "%s/link", test_dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(shmfile_open(fifo, 0, &g), -EUCLEAN);
    assert_int_equal(symlink(fifo, link), 0);
    assert_int_equal(shmfile_open(link, 0, &g), -EUCLEAN);
    assert_int_equal(shmfile_open(path, 0, &g), -ENOENT);
    unlink(fifo);
    unlink(link);
}

static int accept_all(const struct shmfile *x, void *arg)
{
    (void)x, (void)arg;
    return 1;
}

static void anonymous_files_are_found_by_label(void **state)
{
    (void)state;
    struct shmfile f, g;
    assert_int_equal(shmfile_create_anon("mbx-platform-test", 4096, 0600, &f), 0);
    f.base[0] = 42;
    assert_int_equal(entries(), 0);
    assert_int_equal(shmfile_open_anon(getpid(), "mbx-platform-test", 1, accept_all, NULL, &g), 0);
    assert_int_equal(g.base[0], 42);
    shmfile_close(&g);
    assert_int_equal(shmfile_open_anon(getpid(), "no-such-label", 1, accept_all, NULL, &g),
                     -ENOENT);
    shmfile_close(&f);
}

static void storage_and_boot(void **state)
{
    (void)state;
    char path[600];
    snprintf(path, sizeof(path), "%s/s", test_dir);
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 1 << 20), 0);
    assert_int_equal(plat_reserve(fd, 0, 1 << 20), 0);
    assert_int_equal(plat_reserve(-1, 0, 1 << 20), 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    assert_true(st.st_blocks * 512 >= (1 << 20));
    close(fd);
    unlink(path);
    uint64_t a[2], b[2];
    assert_int_equal(plat_boot_id(a), 1);
    assert_int_equal(plat_boot_id(b), 1);
    assert_memory_equal(a, b, sizeof(a));
    assert_true(a[0] || a[1]);
}

static ident_t other;

static void *thread_ident(void *arg)
{
    (void)arg;
    other = ident_thread();
    return NULL;
}

static void identities(void **state)
{
    (void)state;
    assert_int_equal(ident_self_pid(), getpid());
    assert_true(ident_alive(ident_self()));
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, thread_ident, NULL), 0);
    pthread_join(t, NULL);
    assert_int_not_equal(ident_id(other), ident_id(ident_thread()));
    assert_int_equal(ident_id(ident_thread()), (int32_t)syscall(SYS_gettid));
    assert_false(ident_thread_alive(other)); /* it ended */
    pid_t p = fork();
    if (p == 0)
        _exit(ident_self_pid() == getpid() && ident_self_pid() != getppid() ? 0 : 1);
    int status;
    assert_int_equal(waitpid(p, &status, 0), p);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    p = fork();
    if (p == 0) {
        test_await_kill();
    }
    kill(p, SIGSTOP);
    assert_int_equal(waitpid(p, &status, WUNTRACED), p);
    assert_int_equal(proc_stopped(p), 1);
    assert_int_equal(proc_stopped(getpid()), 0);
    kill(p, SIGKILL);
    kill(p, SIGCONT);
    waitpid(p, NULL, 0);
}

/* thread_gather_mode in a thread of its own: its result and the policy
 * the thread ends up with. pin: run on one CPU only first. */
struct gather_try {
    int pin, result, policy;
};

static void *gather_in_thread(void *arg)
{
    struct gather_try *g = arg;
    if (g->pin) {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(sched_getcpu(), &one);
        assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);
    }
    g->result = thread_gather_mode();
    g->policy = sched_getscheduler(0);
    return NULL;
}

static struct gather_try gather_try(int pin)
{
    struct gather_try g = {pin, 1, -1};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, gather_in_thread, &g), 0);
    pthread_join(t, NULL);
    return g;
}

/* A thread that may run on one CPU only stays as it is (beside a pinned
 * producer that never blocks, a batch thread would wait for a tick every
 * time); one that may run on two or more becomes SCHED_BATCH. */
static void gather_mode_only_with_cpus_to_spare(void **state)
{
    (void)state;
    struct gather_try g = gather_try(1);
    assert_int_equal(g.result, -EXDEV);
    assert_int_equal(g.policy, SCHED_OTHER);
    cpu_set_t cpus;
    assert_int_equal(sched_getaffinity(0, sizeof(cpus), &cpus), 0);
    if (CPU_COUNT(&cpus) < 2 || sched_getscheduler(0) != SCHED_OTHER) {
        print_message("one CPU, or not the normal policy: the unpinned case is skipped\n");
        return;
    }
    g = gather_try(0);
    if (g.result == -EPERM || g.result == -EACCES) {
        print_message("SCHED_BATCH refused here (%d): the unpinned case is skipped\n", g.result);
        return;
    }
    assert_int_equal(g.result, 0);
    assert_int_equal(g.policy, SCHED_BATCH);
}

static unsigned mode_of(const char *path)
{
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    return st.st_mode & 07777;
}

/* A poller's socket gets its mode through a descriptor of the socket
 * itself: swapped for a symbolic link or a hard link to another file of
 * ours (in a directory others may write, between bind and chmod), the
 * file is refused and keeps its mode (chmod by name followed the link). */
static void socket_mode_set_on_the_socket_only(void **state)
{
    (void)state;
    char victim[400], sym[400], hard[400], sock[400];
    snprintf(victim, sizeof(victim), "%s/victim", test_dir);
    snprintf(sym, sizeof(sym), "%s/sock-sym", test_dir);
    snprintf(hard, sizeof(hard), "%s/sock-hard", test_dir);
    snprintf(sock, sizeof(sock), "%s/sock-real", test_dir);
    int fd = open(victim, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(fchmodat(AT_FDCWD, victim, 0600, 0), 0);
    assert_int_equal(symlink(victim, sym), 0);
    assert_int_equal(link(victim, hard), 0);
    assert_int_equal(note_set_mode(sym, 0666, (uint32_t)-1), -EPERM);
    assert_int_equal(note_set_mode(hard, 0666, (uint32_t)-1), -EPERM);
    assert_int_equal(mode_of(victim), 0600);
    int s = note_bind(sock, 0620, (uint32_t)-1);
    assert_true(s >= 0);
    assert_int_equal(mode_of(sock), 0620);
    assert_int_equal(note_set_mode(sock, 0600, (uint32_t)-1), 0);
    assert_int_equal(mode_of(sock), 0600);
    close(s);
    unlink(sock), unlink(hard), unlink(sym), unlink(victim);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(files),
        cmocka_unit_test(anonymous_files_are_found_by_label),
        cmocka_unit_test(storage_and_boot),
        cmocka_unit_test(identities),
        cmocka_unit_test(gather_mode_only_with_cpus_to_spare),
        cmocka_unit_test(socket_mode_set_on_the_socket_only),
    };
    return test_result(cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown));
}
