/* The benchmark's report on a hung child (bench/hang_report.c): a child
 * with two threads, one stuck in a function of ours, is described thread by
 * thread, with gdb's backtrace naming that function where gdb may attach,
 * and is left running; a process that is gone gives -1. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "hang_report.h"

static __attribute__((noinline)) void stuck_in_bench_hang_test(void)
{
    for (;;)
        pause();
}

static void *helper(void *arg)
{
    (void)arg;
    stuck_in_bench_hang_test();
    return NULL;
}

/* A child whose helper thread, named "stuck-helper", waits forever; it
 * writes a byte to fd once both threads exist. */
static pid_t stuck_child(void)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Dies with the test: a failed assertion must not leave it
         * holding ctest's output pipe until the timeout. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(p[0]);
        pthread_t t;
        if (pthread_create(&t, NULL, helper, NULL))
            _exit(1);
        pthread_setname_np(t, "stuck-helper");
        if (write(p[1], "x", 1) != 1)
            _exit(1);
        stuck_in_bench_hang_test();
    }
    close(p[1]);
    char c;
    assert_int_equal(read(p[0], &c, 1), 1);
    close(p[0]);
    return pid;
}

/* Whether gdb could attach to a sibling here: installed, and either root
 * or Yama's ptrace scope 0 (scope 1 lets only ancestors attach). */
static int gdb_can_attach(void)
{
    if (access("/usr/bin/gdb", X_OK) != 0)
        return 0;
    if (geteuid() == 0)
        return 1;
    FILE *f = fopen("/proc/sys/kernel/yama/ptrace_scope", "r");
    int scope = 0;
    if (f) {
        if (fscanf(f, "%d", &scope) != 1)
            scope = 1;
        fclose(f);
    }
    return scope == 0;
}

/* The state letter of one thread, read here independently of the code
 * under test; '?' when it cannot be read. */
static char thread_state(pid_t pid, const char *tid)
{
    char path[300], stat[512];
    snprintf(path, sizeof(path), "/proc/%d/task/%s/stat", (int)pid, tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return '?';
    char *ok = fgets(stat, sizeof(stat), f);
    fclose(f);
    const char *p = ok ? strrchr(stat, ')') : NULL;
    return p && p[1] == ' ' && p[2] ? p[2] : '?';
}

/* Whether pid has exactly two threads and both sleep (in pause()). */
static int both_threads_asleep(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return 0;
    int threads = 0, asleep = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        threads++;
        asleep += thread_state(pid, e->d_name) == 'S';
    }
    closedir(d);
    return threads == 2 && asleep == 2;
}

static void describes_each_thread_and_leaves_it_running(void **state)
{
    (void)state;
    pid_t pid = stuck_child();
    /* Wait until the helper is asleep in pause(), not still starting: the
     * report then has one fixed answer to check. */
    int tries = 0;
    while (!both_threads_asleep(pid) && tries++ < 1000)
        usleep(10000);
    assert_true(both_threads_asleep(pid));
    FILE *out = tmpfile();
    assert_non_null(out);
    int n = hang_report(out, pid);
    fflush(out);
    long len = ftell(out);
    char *text = calloc(1, (size_t)len + 1);
    assert_non_null(text);
    rewind(out);
    assert_int_equal(fread(text, 1, (size_t)len, out), (size_t)len);
    char head[64];
    snprintf(head, sizeof(head), "hung process %d:\n", (int)pid);
    assert_non_null(strstr(text, head));
    assert_non_null(strstr(text, "(stuck-helper): state S"));
    assert_non_null(strstr(text, "(bench_hang_repo): state S"));
    if (gdb_can_attach())
        assert_non_null(strstr(text, "stuck_in_bench_hang_test"));
    else
        print_message("gdb cannot attach here: backtraces not checked\n");
    free(text);
    fclose(out);
    assert_int_equal(n, 2);
    /* gdb detached: the child still runs, both threads back asleep; it
     * was not killed. */
    tries = 0;
    while (!both_threads_asleep(pid) && tries++ < 1000)
        usleep(10000);
    assert_true(both_threads_asleep(pid));
    assert_int_equal(kill(pid, SIGKILL), 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

static void a_process_gone_gives_minus_one(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    FILE *out = tmpfile();
    assert_non_null(out);
    assert_int_equal(hang_report(out, pid), -1);
    assert_int_equal(ftell(out), 0);
    fclose(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(describes_each_thread_and_leaves_it_running),
        cmocka_unit_test(a_process_gone_gives_minus_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
