/* The delivery record of a JetStream import (jsstate.h): a memory-mapped
 * file, so every store is in the page cache the moment it is made and a
 * kill -9 loses none of it. Stores are ordered: a delivered sequence is
 * written to the unacked table, then to the ring, before the intent is
 * cleared; a table entry's consumer before its sequence. The file is the
 * bridge's own (own_file_open) but what is in it is read with bounds
 * checks all the same. */
#include "nats/jsstate.h"

#include "nats/own_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* "MBSTATE2": a file of the first layout (no unacked table, no stream
 * life) is started afresh. */
#define JSSTATE_MAGIC 0x324554415453424dull

struct unacked {
    uint64_t consumer;
    uint64_t seq; /* 0: a free place */
};

struct jsfile {
    uint64_t magic;
    uint64_t intent_seq;      /* 0: no delivery under way */
    uint64_t intent_sent;     /* the mailbox's sent_total before it */
    uint64_t intent_consumer; /* whose it is */
    uint64_t next;            /* seen[next % JSSTATE_SEEN] is written next */
    int64_t created;          /* the life of the stream the sequences are of */
    uint64_t seen[JSSTATE_SEEN];
    struct unacked unacked[JSSTATE_UNACKED];
    /* The import's request thread sends into the mailbox too (mbx_call,
     * mbx_send_confirmed): counted before each send (calls_started) and
     * after it returned (calls_done), so that a restart tells its sends
     * from the delivery's (jsstate_open). At the end: a file of the
     * layout before (no such counts) grows by them, zero. */
    uint64_t calls_started;
    uint64_t calls_done;
    uint64_t intent_calls_done; /* calls_done before the delivery under way */
};

struct jsstate {
    struct jsfile *f;
    pthread_mutex_t mu; /* the unacked table: every band's thread acks */
    unsigned used;      /* unacked[used..] are all free */
};

static void record(struct jsfile *f, uint64_t seq)
{
    __atomic_store_n(&f->seen[f->next % JSSTATE_SEEN], seq, __ATOMIC_RELEASE);
    __atomic_store_n(&f->next, f->next + 1, __ATOMIC_RELEASE);
}

/* Lowers st->used past the free places at the end. Under st->mu. */
static void shrink(struct jsstate *st)
{
    unsigned n = st->used;
    while (n && !st->f->unacked[n - 1].seq)
        n--;
    __atomic_store_n(&st->used, n, __ATOMIC_RELEASE); /* jsstate_seen reads it unlocked */
}

/* Keeps seq as delivered and not acked. When the table is full, the
 * lowest sequence is forgotten (jsstate_room says when that is near). */
static void keep_unacked(struct jsstate *st, uint64_t seq, uint64_t consumer)
{
    struct unacked *u = st->f->unacked;
    pthread_mutex_lock(&st->mu);
    unsigned at = JSSTATE_UNACKED, low = 0;
    for (unsigned i = 0; i < JSSTATE_UNACKED && at == JSSTATE_UNACKED; i++)
        if (!u[i].seq)
            at = i;
    if (at == JSSTATE_UNACKED) {
        for (unsigned i = 1; i < JSSTATE_UNACKED; i++)
            if (u[i].seq < u[low].seq)
                low = i;
        at = low;
    }
    /* The consumer first: a kill -9 between the two leaves a free place. */
    __atomic_store_n(&u[at].seq, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&u[at].consumer, consumer, __ATOMIC_RELEASE);
    __atomic_store_n(&u[at].seq, seq, __ATOMIC_RELEASE);
    if (at >= st->used)
        __atomic_store_n(&st->used, at + 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&st->mu);
}

/* Clears the record when it is in a layout this code does not know. */
static void fresh(struct jsfile *f)
{
    if (f->magic != JSSTATE_MAGIC) {
        memset(f, 0, sizeof(*f));
        f->magic = JSSTATE_MAGIC;
    }
}

/* Maps the state file at path (made the right size). Returns 0 or
 * -errno. */
static int map_file(const char *path, struct jsfile **out)
{
    int fd = own_file_open(path);
    if (fd < 0)
        return fd;
    struct stat sb;
    int r = 0;
    if (fstat(fd, &sb))
        r = -errno;
    else if (sb.st_size != (off_t)sizeof(struct jsfile) && ftruncate(fd, sizeof(struct jsfile)))
        r = -errno;
    if (!r) {
        *out = mmap(NULL, sizeof(**out), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (*out == MAP_FAILED)
            r = -errno;
    }
    close(fd);
    return r;
}

int jsstate_open(const char *stream, uint64_t sent_now, struct jsstate **out)
{
    const char *dir = getenv("MBX_DIR");
    char path[PATH_MAX];
    if (!dir || !*dir)
        dir = "/dev/shm";
    if (snprintf(path, sizeof(path), "%s/.mbx-bridge.%s.state", dir, stream) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    struct jsfile *f = NULL;
    int r = map_file(path, &f);
    if (r)
        return r;
    struct jsstate *st = malloc(sizeof(*st));
    if (!st) {
        munmap(f, sizeof(*f));
        return -ENOMEM;
    }
    fresh(f);
    st->f = f;
    pthread_mutex_init(&st->mu, NULL);
    st->used = JSSTATE_UNACKED;
    shrink(st);
    /* A delivery the last run did not see through: done iff the mailbox
     * counted more sends since than the request thread can have made
     * (the bridge is its only sender): every call done before the
     * delivery began sent before it; any other may have sent after. Its
     * ack was not confirmed. A call counted that had not sent yet makes
     * a delivery that happened look undone: delivered twice, never lost
     * (a review lost one when a request came in between). */
    if (f->intent_seq) {
        uint64_t calls = f->calls_started - f->intent_calls_done;
        if (sent_now > f->intent_sent && sent_now - f->intent_sent > calls) {
            keep_unacked(st, f->intent_seq, f->intent_consumer);
            record(f, f->intent_seq);
        }
        __atomic_store_n(&f->intent_seq, 0, __ATOMIC_RELEASE);
    }
    *out = st;
    return 0;
}

void jsstate_bind(struct jsstate *st, int64_t created)
{
    struct jsfile *f = st->f;
    if (!created || f->created == created)
        return;
    /* Zero first, the life last: a kill -9 in between zeroes again. Word
     * by word, atomically: a running import binds while its other threads
     * read (jsstate_seen). */
    pthread_mutex_lock(&st->mu);
    __atomic_store_n(&f->intent_seq, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&st->used, 0, __ATOMIC_RELEASE);
    for (size_t i = 0; i < JSSTATE_SEEN; i++)
        __atomic_store_n(&f->seen[i], 0, __ATOMIC_RELAXED);
    for (size_t i = 0; i < JSSTATE_UNACKED; i++) {
        __atomic_store_n(&f->unacked[i].seq, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&f->unacked[i].consumer, 0, __ATOMIC_RELAXED);
    }
    __atomic_store_n(&f->next, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&f->created, created, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&st->mu);
}

int jsstate_seen(const struct jsstate *st, uint64_t seq)
{
    for (size_t i = 0; i < JSSTATE_SEEN; i++)
        if (__atomic_load_n(&st->f->seen[i], __ATOMIC_ACQUIRE) == seq)
            return 1;
    /* Delivered long ago and not acked: past the ring, still here. */
    unsigned used = __atomic_load_n(&st->used, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < used && i < JSSTATE_UNACKED; i++)
        if (__atomic_load_n(&st->f->unacked[i].seq, __ATOMIC_ACQUIRE) == seq)
            return 1;
    return 0;
}

uint64_t jsstate_calls_done(const struct jsstate *st)
{
    return __atomic_load_n(&st->f->calls_done, __ATOMIC_SEQ_CST);
}

void jsstate_call_starts(struct jsstate *st)
{
    __atomic_fetch_add(&st->f->calls_started, 1, __ATOMIC_SEQ_CST);
}

void jsstate_call_done(struct jsstate *st)
{
    __atomic_fetch_add(&st->f->calls_done, 1, __ATOMIC_SEQ_CST);
}

void jsstate_begin(struct jsstate *st, uint64_t seq, unsigned consumer, uint64_t sent_before,
                   uint64_t calls_done)
{
    __atomic_store_n(&st->f->intent_calls_done, calls_done, __ATOMIC_RELEASE);
    __atomic_store_n(&st->f->intent_sent, sent_before, __ATOMIC_RELEASE);
    __atomic_store_n(&st->f->intent_consumer, consumer, __ATOMIC_RELEASE);
    __atomic_store_n(&st->f->intent_seq, seq, __ATOMIC_RELEASE);
}

void jsstate_end(struct jsstate *st, int delivered)
{
    if (delivered) {
        keep_unacked(st, st->f->intent_seq, st->f->intent_consumer);
        record(st->f, st->f->intent_seq);
    }
    __atomic_store_n(&st->f->intent_seq, 0, __ATOMIC_RELEASE);
}

void jsstate_acked(struct jsstate *st, uint64_t seq)
{
    if (!seq)
        return;
    pthread_mutex_lock(&st->mu);
    for (unsigned i = 0; i < st->used; i++)
        if (st->f->unacked[i].seq == seq)
            __atomic_store_n(&st->f->unacked[i].seq, 0, __ATOMIC_RELEASE);
    shrink(st);
    pthread_mutex_unlock(&st->mu);
}

unsigned jsstate_room(struct jsstate *st)
{
    unsigned n = 0;
    pthread_mutex_lock(&st->mu);
    for (unsigned i = 0; i < st->used; i++)
        n += st->f->unacked[i].seq != 0;
    pthread_mutex_unlock(&st->mu);
    return JSSTATE_UNACKED - n;
}

void jsstate_prune(struct jsstate *st, unsigned consumer, uint64_t floor)
{
    pthread_mutex_lock(&st->mu);
    for (unsigned i = 0; i < st->used; i++) {
        struct unacked *u = &st->f->unacked[i];
        if (u->seq && u->seq <= floor && u->consumer == consumer)
            __atomic_store_n(&u->seq, 0, __ATOMIC_RELEASE);
    }
    shrink(st);
    pthread_mutex_unlock(&st->mu);
}

void jsstate_close(struct jsstate *st)
{
    if (!st)
        return;
    munmap(st->f, sizeof(*st->f));
    pthread_mutex_destroy(&st->mu);
    free(st);
}
