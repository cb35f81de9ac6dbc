#include <errno.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "board.h"
#include "proc.h"

struct board {
    _Atomic int posted;
    _Atomic int done;
    char addr[256];
};

struct board *board_new(void)
{
    return shared_alloc(sizeof(struct board));
}

void board_free(struct board *b)
{
    if (b)
        shared_free(b, sizeof(*b));
}

void board_post(struct board *b, const char *addr)
{
    snprintf(b->addr, sizeof(b->addr), "%s", addr);
    atomic_store(&b->posted, 1);
}

/* Naps of 20 us: the wait is at attach, outside every measurement, but
 * short naps keep it from stretching a cell's set-up. */
static bool wait_set(const _Atomic int *flag, int64_t timeout_ns)
{
    struct timespec nap = {0, 20000};
    int64_t end = now_ns() + timeout_ns;
    while (!atomic_load(flag)) {
        if (now_ns() > end)
            return false;
        nanosleep(&nap, NULL);
    }
    return true;
}

int board_wait(struct board *b, char *addr, size_t len, int64_t timeout_ns)
{
    if (!wait_set(&b->posted, timeout_ns))
        return -ETIMEDOUT;
    snprintf(addr, len, "%s", b->addr);
    return 0;
}

void board_done(struct board *b)
{
    atomic_store(&b->done, 1);
}

void board_wait_done(struct board *b, int64_t timeout_ns)
{
    wait_set(&b->done, timeout_ns);
}
