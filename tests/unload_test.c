/* libmbx.so loaded with dlopen and unloaded with dlclose: the threads the
 * library starts by itself (the monitors' watcher, the delayed wake-ups'
 * sender) end before its code goes away, and their descriptors are
 * closed. Before, both outlived the unload: the watcher waited in
 * epoll_wait for ever, and returned into unmapped code (SIGSEGV) when a
 * monitored process died afterwards; the sender returned into it within
 * its idle second.
 *
 * The library is the one given as argv[1] (CMake passes the shared
 * library it built); only mbx.h's types are used, the functions are
 * looked up. The mailbox header's layout (shm/segment.h) is used to take
 * every poller entry of a mailbox, which starts the delayed wake-ups. */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

#include "mbx.h"
#include "shm/segment.h"
#include "test_util.h"

static const char *lib_path;

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* The process's threads with this name (comm), e.g. "mbx-monitor". */
static int threads_named(const char *name)
{
    DIR *d = opendir("/proc/self/task");
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char path[300], comm[32] = "";
        snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        if (fgets(comm, sizeof(comm), f) && strncmp(comm, name, strlen(name)) == 0)
            n++;
        fclose(f);
    }
    closedir(d);
    return n;
}

static void *must_load(void)
{
    void *h = dlopen(lib_path, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        fail_msg("dlopen %s: %s", lib_path, dlerror());
    return h;
}

static void *sym(void *h, const char *name)
{
    void *f = dlsym(h, name);
    if (!f)
        fail_msg("dlsym %s: %s", name, dlerror());
    return f;
}

/* Unloads and checks that the library really went: otherwise nothing
 * after it would show anything. */
static void unload(void *h)
{
    assert_int_equal(dlclose(h), 0);
    void *still = dlopen(lib_path, RTLD_NOW | RTLD_NOLOAD);
    if (still) {
        dlclose(still);
        fail_msg("%s stayed loaded after dlclose", lib_path);
    }
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A process monitored, then the monitor cancelled: the watcher stays (it
 * serves the next monitor) until the library is unloaded, and then ends,
 * its descriptors closed. Before, it stayed in epoll_wait for ever, in
 * code no longer mapped. */
static void monitor_watcher_ends_at_unload(void **state)
{
    (void)state;
    int gate[2];
    assert_int_equal(pipe(gate), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        char c;
        close(gate[1]);
        (void)!read(gate[0], &c, 1); /* until the parent closes its end */
        _exit(0);
    }
    close(gate[0]);
    int fds_before = count_entries("/proc/self/fd");
    void *h = must_load();
    int (*monitor)(pid_t, mbx *, uint64_t, mbx_monitor **) = sym(h, "mbx_monitor_process");
    int (*fired)(mbx_monitor *, mbx_notice *) = sym(h, "mbx_monitor_fired");
    int (*cancel)(mbx_monitor *) = sym(h, "mbx_monitor_cancel");
    mbx_monitor *mon = NULL;
    assert_int_equal(monitor(child, NULL, 7, &mon), 0);
    assert_int_equal(fired(mon, NULL), 0);
    /* The watcher names itself once it runs. */
    for (int i = 0; i < 100 && threads_named("mbx-monitor") == 0; i++)
        nap_ms(10);
    assert_int_equal(threads_named("mbx-monitor"), 1);
    assert_int_equal(cancel(mon), 0);
    unload(h);
    assert_int_equal(threads_named("mbx-monitor"), 0);
    assert_int_equal(count_entries("/proc/self/fd"), fds_before);
    close(gate[1]);
    int st;
    assert_int_equal(waitpid(child, &st, 0), child);
}

/* A mailbox of library h whose every poller entry "process 1" holds
 * (written through the file itself), with a receive descriptor: it is made
 * readable every 50 ms by the delayed wake-ups' thread, which the first
 * look starts. */
struct squat {
    void *h;
    const char *name;
    mbx *m;
    struct seg_hdr *hdr;
};

static void squat_open(struct squat *q)
{
    int (*open_)(const char *, int, const mbx_attr *, mbx **) = sym(q->h, "mbx_open");
    void (*attr_init)(mbx_attr *) = sym(q->h, "mbx_attr_init");
    int (*fd_of)(mbx *, int) = sym(q->h, "mbx_fd");
    ssize_t (*recv)(mbx *, void *, size_t, mbx_msginfo *, int64_t) = sym(q->h, "mbx_recv");
    mbx_attr a;
    attr_init(&a);
    a.capacity = 8;
    a.max_msg_size = 64;
    assert_int_equal(open_(q->name, MBX_SEND | MBX_RECV | MBX_CREATE, &a, &q->m), 0);
    assert_true(fd_of(q->m, MBX_RECV) >= 0);
    char path[600];
    snprintf(path, sizeof(path), "%s/mbx.%s", getenv("MBX_DIR"), q->name);
    int f = open(path, O_RDWR | O_CLOEXEC);
    assert_true(f >= 0);
    q->hdr = mmap(NULL, sizeof(*q->hdr), PROT_READ | PROT_WRITE, MAP_SHARED, f, 0);
    assert_true(q->hdr != MAP_FAILED);
    close(f);
    for (unsigned i = 0; i < SEG_POLLERS; i++)
        __atomic_store_n(&q->hdr->pollers[i].who, ident_make(1, 0), __ATOMIC_SEQ_CST);
    uint64_t v;
    assert_int_equal(recv(q->m, &v, sizeof(v), NULL, MBX_NONBLOCK), -EAGAIN);
    for (int i = 0; i < 100 && threads_named("mbx-poll-later") == 0; i++)
        nap_ms(10);
    assert_int_equal(threads_named("mbx-poll-later"), 1);
}

static void squat_close(struct squat *q)
{
    int (*close_)(mbx *) = sym(q->h, "mbx_close");
    int (*unlink_)(const char *) = sym(q->h, "mbx_unlink");
    for (unsigned i = 0; i < SEG_POLLERS; i++)
        __atomic_store_n(&q->hdr->pollers[i].who, 0, __ATOMIC_SEQ_CST);
    munmap(q->hdr, sizeof(*q->hdr));
    assert_int_equal(close_(q->m), 0);
    assert_int_equal(unlink_(q->name), 0);
}

/* The delayed wake-ups' thread (squat_open) ends at the unload. */
static void delayed_wakeups_end_at_unload(void **state)
{
    (void)state;
    struct squat q = {.h = must_load(), .name = "squatted"};
    squat_open(&q);
    squat_close(&q);
    unload(q.h);
    assert_int_equal(threads_named("mbx-poll-later"), 0);
    nap_ms(1200); /* past the idle second it used to stay */
}

/* A child forked while both threads run, ending with exit(): its
 * destructors must not wait for the parent's threads, which it does not
 * have (a join of a copied thread id waits for ever). */
static void forked_child_exits(void **state)
{
    (void)state;
    struct squat q = {.h = must_load(), .name = "squat2"};
    int (*monitor)(pid_t, mbx *, uint64_t, mbx_monitor **) = sym(q.h, "mbx_monitor_process");
    int (*cancel)(mbx_monitor *) = sym(q.h, "mbx_monitor_cancel");
    mbx_monitor *mon = NULL;
    assert_int_equal(monitor(getpid(), NULL, 1, &mon), 0);
    squat_open(&q);
    for (int i = 0; i < 100 && threads_named("mbx-monitor") == 0; i++)
        nap_ms(10);
    assert_int_equal(threads_named("mbx-monitor"), 1);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0)
        exit(0); /* the library's destructors run here */
    int st = 0;
    pid_t r = 0;
    for (int i = 0; i < 1000 && (r = waitpid(child, &st, WNOHANG)) == 0; i++)
        nap_ms(10);
    if (r == 0) {
        kill(child, SIGKILL);
        waitpid(child, &st, 0);
        fail_msg("the forked child did not end within 10 s of exit()");
    }
    /* Ended by exit, not by a signal (a crash). Its status may be
     * LeakSanitizer's: the child leaves its parent's handle and lists
     * unfreed. */
    assert_true(WIFEXITED(st));
    squat_close(&q);
    assert_int_equal(cancel(mon), 0);
    unload(q.h);
}

struct worker {
    void *lib;
    int gate[2]; /* the worker ends when the main thread closes gate[1] */
    int sent;
};

/* A thread of the program that used a mailbox, and lives on past the
 * unload. */
static void *worker_main(void *arg)
{
    struct worker *w = arg;
    int (*open_)(const char *, int, const mbx_attr *, mbx **) = sym(w->lib, "mbx_open");
    int (*send)(mbx *, const void *, size_t, unsigned, int64_t) = sym(w->lib, "mbx_send");
    int (*close_)(mbx *) = sym(w->lib, "mbx_close");
    int (*unlink_)(const char *) = sym(w->lib, "mbx_unlink");
    mbx *m = NULL;
    int sent = 0;
    if (open_("worker", MBX_SEND | MBX_CREATE, NULL, &m) == 0) {
        sent = send(m, "x", 1, 0, MBX_NONBLOCK) == 0;
        close_(m);
        unlink_("worker");
    }
    /* Told only once out of the library's code: the unload comes next. */
    __atomic_store_n(&w->sent, sent, __ATOMIC_RELEASE);
    char c;
    (void)!read(w->gate[0], &c, 1);
    return NULL; /* the thread's exit runs its thread-specific destructors */
}

/* A thread that made calls ends after the unload: what the library left
 * to run at a thread's end (a thread-specific key's destructor, which
 * takes the thread off the list of callers) must not be called in
 * unmapped code (SIGSEGV before). */
static void thread_ends_after_unload(void **state)
{
    (void)state;
    struct worker w = {.lib = must_load()};
    assert_int_equal(pipe(w.gate), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, worker_main, &w), 0);
    for (int i = 0; i < 500 && !__atomic_load_n(&w.sent, __ATOMIC_ACQUIRE); i++)
        nap_ms(10);
    assert_true(w.sent);
    unload(w.lib);
    close(w.gate[1]);
    assert_int_equal(pthread_join(t, NULL), 0);
    close(w.gate[0]);
}

/* Waits up to 10 s for child to end; kills it when it does not. Returns
 * 1 when it ended by itself. */
static int ends_within_10s(pid_t child)
{
    int st;
    for (int i = 0; i < 1000; i++) {
        if (waitpid(child, &st, WNOHANG) == child)
            return 1;
        nap_ms(10);
    }
    kill(child, SIGKILL);
    waitpid(child, &st, 0);
    return 0;
}

/* A child made by a raw fork (no atfork handlers, as clone() users make
 * them) ends with exit(): it keeps the parent's cached identity, and its
 * destructors took the parent's watcher for its own and waited in a join
 * for ever (a review). */
static void raw_forked_child_exits(void **state)
{
    (void)state;
    void *h = must_load();
    int (*monitor)(pid_t, mbx *, uint64_t, mbx_monitor **) = sym(h, "mbx_monitor_process");
    int (*cancel)(mbx_monitor *) = sym(h, "mbx_monitor_cancel");
    mbx_monitor *mon = NULL;
    assert_int_equal(monitor(getpid(), NULL, 1, &mon), 0);
    for (int i = 0; i < 100 && threads_named("mbx-monitor") == 0; i++)
        nap_ms(10);
    pid_t child = (pid_t)syscall(SYS_fork);
    assert_true(child >= 0);
    if (child == 0)
        exit(0);
    assert_true(ends_within_10s(child));
    assert_int_equal(cancel(mon), 0);
    unload(h);
}

static volatile sig_atomic_t exiting;

static void exit_now(int sig)
{
    (void)sig;
    exiting = 1;
    exit(0); /* not async-signal-safe, but common: it must not hang on us */
}

/* exit() from a signal handler that interrupted a call holding the
 * monitors' lock: the destructors waited for that lock for ever (a
 * review: 13 hangs in 20 runs). Twenty children, each interrupted at a
 * random point of a loop of such calls. */
static void exit_from_a_signal_handler(void **state)
{
    (void)state;
    void *h = must_load();
    int (*monitor)(pid_t, mbx *, uint64_t, mbx_monitor **) = sym(h, "mbx_monitor_process");
    int (*fired)(mbx_monitor *, mbx_notice *) = sym(h, "mbx_monitor_fired");
    int (*cancel)(mbx_monitor *) = sym(h, "mbx_monitor_cancel");
    for (int round = 0; round < 20; round++) {
        pid_t child = fork();
        assert_true(child >= 0);
        if (child == 0) {
            mbx_monitor *mon = NULL;
            if (monitor(getppid(), NULL, 1, &mon) != 0)
                _exit(3);
            struct sigaction sa = {.sa_handler = exit_now};
            sigaction(SIGALRM, &sa, NULL);
            struct itimerval it = {.it_value = {0, 20000 + 7919 * round}};
            setitimer(ITIMER_REAL, &it, NULL);
            while (!exiting)
                (void)fired(mon, NULL);
            _exit(4);
        }
        assert_true(ends_within_10s(child));
    }
    (void)cancel;
    unload(h);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: unload_test PATH-OF-libmbx.so\n");
        return 2;
    }
    lib_path = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(monitor_watcher_ends_at_unload),
        cmocka_unit_test(delayed_wakeups_end_at_unload),
        cmocka_unit_test(forked_child_exits),
        cmocka_unit_test(thread_ends_after_unload),
        cmocka_unit_test(raw_forked_child_exits),
        cmocka_unit_test(exit_from_a_signal_handler),
    };
    if (getenv("UNLOAD_ONLY")) /* UNLOAD_ONLY=raw_forked_child_exits: that test alone */
        cmocka_set_test_filter(getenv("UNLOAD_ONLY"));
    return test_result(cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown));
}
