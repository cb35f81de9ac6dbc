/* Built with -O2 -D_FORTIFY_SOURCE=2 (Debian's default hardening): glibc's
 * <bits/mqueue2.h> turns a two-argument mq_open whose flags are not a
 * compile-time constant into a call of __mq_open_2, which the shim must
 * answer too (else the program opens the kernel's queue of that name).
 * Run linked with the shim (or with it preloaded): opens with the fortified
 * form, and through __mq_open_2 itself, a queue the shim created; and
 * __mq_open_2 with O_CREAT aborts, as glibc's does. Exits 0 when all
 * hold, 1 (saying what) when not. */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#if !defined(_FORTIFY_SOURCE) || _FORTIFY_SOURCE < 1 || !defined(__OPTIMIZE__)
#error "mq_fortify must be built with -O2 -D_FORTIFY_SOURCE=2"
#endif

mqd_t __mq_open_2(const char *name, int oflag);

static char dir[64];

static void remove_dir(void)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            char p[384];
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
                unlink(p);
            }
        }
        closedir(d);
    }
    rmdir(dir);
}

static int fail(const char *what)
{
    fprintf(stderr, "FAIL: %s (errno %d, %s)\n", what, errno, strerror(errno));
    return 1;
}

/* Opens name for reading with flags the compiler cannot see, receives the
 * message the creator sent. */
static int read_one(mqd_t r, const char *what)
{
    char buf[64];
    if (r == (mqd_t)-1)
        return fail(what);
    ssize_t n = mq_receive(r, buf, sizeof(buf), NULL);
    if (n != 5 || memcmp(buf, "hello", 5) != 0)
        return fail("mq_receive on the queue it opened");
    mq_close(r);
    return 0;
}

int main(int argc, char **argv)
{
    (void)argv;
    if (!dlsym(RTLD_DEFAULT, "mbx_mq_shim")) {
        fprintf(stderr, "mq_fortify: run it with libmbx-mq\n");
        return 1;
    }
    const char *base = getenv("MBX_TEST_BASE");
    snprintf(dir, sizeof(dir), "%s/mq-fortify-XXXXXX", base && *base ? base : "/dev/shm");
    if (!mkdtemp(dir))
        return fail("mkdtemp");
    setenv("MBX_DIR", dir, 1);
    int rc = 0;
    char name[64];
    snprintf(name, sizeof(name), "/fortify.%d", (int)getpid());
    struct mq_attr a = {.mq_maxmsg = 4, .mq_msgsize = 64};
    mqd_t w = mq_open(name, O_CREAT | O_EXCL | O_WRONLY, 0600, &a);
    if (w == (mqd_t)-1) {
        rc = fail("mq_open(O_CREAT, 4 arguments)");
        goto out;
    }
    int flags = argc > 5 ? O_RDWR : O_RDONLY; /* not a constant */
    if (mq_send(w, "hello", 5, 0) < 0 ||
        (rc = read_one(mq_open(name, flags), "mq_open(name, flags)")))
        goto out;
    if (mq_send(w, "hello", 5, 0) < 0 ||
        (rc = read_one(__mq_open_2(name, O_RDONLY), "__mq_open_2(name, O_RDONLY)")))
        goto out;
    /* O_CREAT without mode and attributes: glibc's aborts. */
    pid_t c = fork();
    if (c == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 2); /* its message */
        __mq_open_2(name, O_CREAT | O_RDWR);
        _exit(0);
    }
    int st = 0;
    waitpid(c, &st, 0);
    if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGABRT) {
        fprintf(stderr, "FAIL: __mq_open_2(O_CREAT) did not abort (status %#x)\n", st);
        rc = 1;
    }
out:
    if (w != (mqd_t)-1)
        mq_close(w);
    mq_unlink(name);
    remove_dir();
    if (!rc)
        printf("ok\n");
    return rc;
}
