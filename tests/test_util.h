/* Shared by the tests: a private MBX_DIR per test program, removed at exit. */
#ifndef MBX_TEST_UTIL_H
#define MBX_TEST_UTIL_H

#include <dirent.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cmocka.h>

/* The state letter of process p's main thread ('S' asleep, 'R', 'Z', ...)
 * from /proc/p/stat, or 0 when it cannot be read. A child that only
 * blocks in one call sleeps ('S') once it waits there. */
static inline char test_proc_state(pid_t p)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)p);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *paren = strrchr(buf, ')'); /* the command may hold spaces and ')' */
    return paren && paren[1] == ' ' ? paren[2] : 0;
}

static char test_dir[256];

static inline void test_dir_remove(void)
{
    DIR *d = opendir(test_dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            char p[600];
            snprintf(p, sizeof(p), "%s/%s", test_dir, e->d_name);
            unlink(p);
        }
    }
    closedir(d);
    rmdir(test_dir);
}

/* Where test directories go: $MBX_TEST_BASE (the mutation check gives each
 * run its own, so that a test killed at its timeout leaves nothing
 * behind), else /dev/shm. */
static inline const char *test_base(void)
{
    const char *b = getenv("MBX_TEST_BASE");
    return b && *b ? b : "/dev/shm";
}

/* Creates the directory under test_base() and points MBX_DIR at it. */
static inline int test_dir_setup(void **state)
{
    (void)state;
    snprintf(test_dir, sizeof(test_dir), "%s/mbx-test-XXXXXX", test_base());
    if (!mkdtemp(test_dir))
        return -1;
    setenv("MBX_DIR", test_dir, 1);
    return 0;
}

static inline int test_dir_teardown(void **state)
{
    (void)state;
    test_dir_remove();
    return 0;
}

/* Number of entries in the test directory (mailbox files and leftovers). */
static inline int test_dir_count(void)
{
    int n = 0;
    DIR *d = opendir(test_dir);
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Skips. A test that cannot run here (it needs root, or something this
 * machine lacks) calls test_skip(why): cmocka marks it skipped and says
 * why, and main returns test_result(failures), which is TEST_SKIPPED when
 * anything skipped and nothing failed: ctest (SKIP_RETURN_CODE) reports the
 * program as skipped, never as passed. Tests that need root run as a ctest
 * of their own (test_root_only, label "root"), which CI checks ran. */
#define TEST_SKIPPED 77

static int test_skips;

#define test_skip(...)                                                                             \
    do {                                                                                           \
        fprintf(stderr, "SKIPPED: ");                                                              \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fprintf(stderr, "\n");                                                                     \
        test_skips++;                                                                              \
        skip();                                                                                    \
    } while (0)

static inline int test_result(int failures)
{
    return failures ? failures : test_skips ? TEST_SKIPPED : 0;
}

/* Whether the program was asked (argument "root") for its tests that need
 * root; they skip unless the effective uid is 0. */
static inline int test_root_only(int argc, char **argv)
{
    return argc > 1 && strcmp(argv[1], "root") == 0;
}

/* First in a forked child that may outlive a failing test (one that waits,
 * or is stopped): it dies with the test process, so nothing is left behind
 * and ctest does not wait out its timeout on the child's output. */
static inline void test_child(void)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1)
        _exit(99);
}

/* In a forked child that waits to be killed: waits, dying with the test
 * process if that ends first. */
static inline void test_await_kill(void)
{
    test_child();
    for (;;)
        pause();
}

/* ThreadSanitizer cannot follow a child that starts a thread after a fork
 * of a process with threads (it dies, "not supported"). */
static inline int under_tsan(void)
{
#if defined(__SANITIZE_THREAD__)
    return 1;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
    return 1;
#endif
#endif
    return 0;
}

/* Reads the byte a child writes to a pipe once it is ready: 1, or 0 when
 * none came within 10 s (the child failed before it got there; waiting on
 * would hang the test). */
static inline int test_read_ready(int fd)
{
    struct pollfd p = {fd, POLLIN, 0};
    char c;
    return poll(&p, 1, 10000) == 1 && read(fd, &c, 1) == 1;
}

/* A cheap checksum over a message, to tell whole messages from torn ones. */
static inline uint32_t test_sum(const unsigned char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

#endif
