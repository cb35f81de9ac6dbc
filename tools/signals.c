#include "cli.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <time.h>

volatile sig_atomic_t cli_interrupted;

/* The signal mask from before cli_catch_signals: the one ppoll waits in. */
static sigset_t waiting_mask;
static int caught;

static void on_signal(int sig)
{
    (void)sig;
    cli_interrupted = 1;
}

void cli_catch_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART: a receive blocked in the library must come back with
     * -EINTR so that the command can stop cleanly. */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    sigprocmask(SIG_BLOCK, &stop, &waiting_mask);
    sigdelset(&waiting_mask, SIGINT);
    sigdelset(&waiting_mask, SIGTERM);
    caught = 1;
}

int cli_wait_readable(int fd, int64_t deadline)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    for (;;) {
        if (cli_interrupted)
            return -EINTR;
        struct timespec now, left, *tp = NULL;
        if (deadline >= 0) {
            clock_gettime(CLOCK_MONOTONIC, &now);
            int64_t ns = deadline - ((int64_t)now.tv_sec * 1000000000 + now.tv_nsec);
            if (ns <= 0)
                return 0;
            left.tv_sec = ns / 1000000000;
            left.tv_nsec = ns % 1000000000;
            tp = &left;
        }
        int n = ppoll(&p, 1, tp, caught ? &waiting_mask : NULL);
        if (n > 0)
            return 1;
        if (n < 0 && errno != EINTR)
            return -errno;
    }
}
