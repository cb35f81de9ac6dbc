/* The delivery record of a JetStream import (jsstate.h): a memory-mapped
 * file, so every store is in the page cache the moment it is made and a
 * kill -9 loses none of it. Stores are ordered: the sequence is written to
 * the ring before the intent is cleared. */
#include "nats/jsstate.h"

#include "nats/own_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define JSSTATE_MAGIC 0x314554415453424dull /* "MBSTATE1" */

struct jsfile {
    uint64_t magic;
    uint64_t intent_seq;  /* 0: no delivery under way */
    uint64_t intent_sent; /* the mailbox's sent_total before it */
    uint64_t next;        /* seen[next % JSSTATE_SEEN] is written next */
    uint64_t seen[JSSTATE_SEEN];
};

struct jsstate {
    struct jsfile *f;
};

static void record(struct jsfile *f, uint64_t seq)
{
    __atomic_store_n(&f->seen[f->next % JSSTATE_SEEN], seq, __ATOMIC_RELEASE);
    __atomic_store_n(&f->next, f->next + 1, __ATOMIC_RELEASE);
}

int jsstate_open(const char *stream, uint64_t sent_now, struct jsstate **out)
{
    const char *dir = getenv("MBX_DIR");
    char path[PATH_MAX];
    if (!dir || !*dir)
        dir = "/dev/shm";
    if (snprintf(path, sizeof(path), "%s/.mbx-bridge.%s.state", dir, stream) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    int fd = own_file_open(path);
    if (fd < 0)
        return fd;
    struct stat sb;
    int r = 0;
    if (fstat(fd, &sb))
        r = -errno;
    else if (sb.st_size != (off_t)sizeof(struct jsfile) && ftruncate(fd, sizeof(struct jsfile)))
        r = -errno;
    struct jsfile *f = MAP_FAILED;
    if (!r) {
        f = mmap(NULL, sizeof(*f), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (f == MAP_FAILED)
            r = -errno;
    }
    close(fd);
    struct jsstate *st = r ? NULL : malloc(sizeof(*st));
    if (!st) {
        if (f != MAP_FAILED)
            munmap(f, sizeof(*f));
        return r ? r : -ENOMEM;
    }
    if (f->magic != JSSTATE_MAGIC) {
        memset(f, 0, sizeof(*f));
        f->magic = JSSTATE_MAGIC;
    }
    /* A delivery the last run did not see through: done iff the mailbox
     * counted a send since (the bridge is its only sender). */
    if (f->intent_seq) {
        if (sent_now > f->intent_sent)
            record(f, f->intent_seq);
        __atomic_store_n(&f->intent_seq, 0, __ATOMIC_RELEASE);
    }
    st->f = f;
    *out = st;
    return 0;
}

int jsstate_seen(const struct jsstate *st, uint64_t seq)
{
    for (size_t i = 0; i < JSSTATE_SEEN; i++)
        if (__atomic_load_n(&st->f->seen[i], __ATOMIC_ACQUIRE) == seq)
            return 1;
    return 0;
}

void jsstate_begin(struct jsstate *st, uint64_t seq, uint64_t sent_before)
{
    __atomic_store_n(&st->f->intent_sent, sent_before, __ATOMIC_RELEASE);
    __atomic_store_n(&st->f->intent_seq, seq, __ATOMIC_RELEASE);
}

void jsstate_end(struct jsstate *st, int delivered)
{
    if (delivered)
        record(st->f, st->f->intent_seq);
    __atomic_store_n(&st->f->intent_seq, 0, __ATOMIC_RELEASE);
}

void jsstate_close(struct jsstate *st)
{
    if (!st)
        return;
    munmap(st->f, sizeof(*st->f));
    free(st);
}
