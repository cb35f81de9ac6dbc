/* Fuzz target: a hostile peer's bytes in a mailbox segment.
 *
 * Each input builds a fresh, valid mailbox of one of several kinds (ring,
 * heap, stream, ...) in a private MBX_DIR, with a few messages queued,
 * overwrites chosen parts of its file with the input's bytes (the file keeps
 * its size), then hands the result to seg_attach and mbx_open and, when that
 * succeeds, to a bounded script of non-blocking calls. Every call must return
 * a value its documentation allows; anything else aborts.
 *
 * Input: byte 0 picks the kind, byte 1 the script; then patches, each
 *   [region][offset, 2 bytes little-endian][length][length bytes]
 * where region is the header, the ring (or stream), active[], the queue
 * heads, the arena or the call receipts, and the offset is taken modulo
 * the region's size. Everything is fair game, the lock included (it holds
 * no pointer: a scribbled one is a lock held by someone, or by a dead
 * thread, which the next taker repairs). The script also makes a call and
 * answers a request whose reply token came out of the patched bytes.
 */
#include "fuzz_target.h"

#include "shm/shm.h"
#include "mbx.h"
#include "shm/segment.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define NAME    "fz"
#define BUF_CAP 2048

struct kind {
    int heap; /* MBX_QUEUE=heap at creation */
    int flags;
    uint32_t capacity, max_msg, policy;
    uint64_t memory_limit;
};

static const struct kind kinds[] = {
    {0, 0, 8, 256, MBX_RECV_ANY, 0},
    {1, 0, 16, 512, MBX_RECV_ANY, 0},
    {1, 0, 16, 512, MBX_RECV_ROUND_ROBIN, 0},
    {0, MBX_STREAM, 4, 1024, MBX_RECV_ANY, 0},
    {1, 0, MBX_RENDEZVOUS, 512, MBX_RECV_ANY, 0},
    {1, 0, MBX_UNBOUNDED, 512, MBX_RECV_ANY, 8192},
    {0, 0, 4, 64, MBX_RECV_EXCLUSIVE, 0},
    {1, MBX_OWNED, 8, 300, MBX_RECV_EXCLUSIVE, 0},
};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

static char dir[64];
static char path[128];

static void cleanup(void)
{
    unlink(path);
    rmdir(dir);
}

/* A private MBX_DIR under $TMPDIR (default /tmp), removed at exit. */
static void setup_once(void)
{
    if (dir[0])
        return;
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/mbx-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        abort();
    }
    snprintf(path, sizeof(path), "%s/mbx." NAME, dir);
    setenv("MBX_DIR", dir, 1);
    setenv("MBX_SPIN_NS", "0", 1); /* non-blocking calls return at once */
    atexit(cleanup);
}

static void fail(const char *what, long r)
{
    fprintf(stderr, "fuzz_segment: %s returned %ld (%s)\n", what, r,
            r < 0 ? mbx_strerror((int)r) : "unexpected value");
    abort();
}

/* Returns 1 when r is 0 or one of the negative errno values in ok (0-ended). */
static int allowed(long r, const int *ok)
{
    if (r == 0)
        return 1;
    for (; *ok; ok++)
        if (r == -*ok)
            return 1;
    return 0;
}

static void check(const char *what, long r, const int *ok)
{
    if (r > 0 || !allowed(r, ok))
        fail(what, r);
}

/* A received message: its size within what was asked for, and the info
 * consistent with it. */
static void check_received(const char *what, ssize_t n, size_t cap, const mbx_msginfo *info,
                           const int *ok)
{
    if (n < 0) {
        if (!allowed(n, ok))
            fail(what, n);
        return;
    }
    if ((size_t)n > cap || info->size != (size_t)n || info->priority >= MBX_PRIO_MAX)
        fail(what, n);
}

static const int open_ok[] = {EUCLEAN, EPROTO, ENOENT, EBUSY, EACCES, EXDEV, ETIMEDOUT, 0};
static const int send_ok[] = {EAGAIN, EMSGSIZE, ENOSPC, EIDRM, EUCLEAN, EBUSY, 0};
static const int recv_ok[] = {EAGAIN, EMSGSIZE, EIDRM, EUCLEAN, EBUSY, EACCES, 0};
static const int stream_recv_ok[] = {EAGAIN, EMSGSIZE, EIDRM, EUCLEAN, EBUSY, EACCES, EINVAL, 0};
static const int loan_ok[] = {EAGAIN, EMSGSIZE, ENOSPC, EIDRM, EUCLEAN, EACCES, EINVAL, 0};
static const int stat_ok[] = {EIDRM, 0};
static const int stat_name_ok[] = {EUCLEAN, EPROTO, ENOENT, 0};
static const int attach_ok[] = {EUCLEAN, EPROTO, 0};
static const int call_ok[] = {EAGAIN, EMSGSIZE, ENOSPC, EIDRM, EUCLEAN, EBUSY, ETIMEDOUT, EPIPE, 0};
static const int reply_ok[] = {ESRCH, EINVAL, EACCES, EAGAIN, EMSGSIZE, EUCLEAN, EIDRM, 0};

/* Creates the mailbox and fills it; returns the creating handle, kept
 * open until the input is done: an owned mailbox goes with its owner's
 * last handle. */
static mbx *create(const struct kind *k)
{
    mbx_attr a;
    mbx_attr_init(&a);
    a.capacity = k->capacity;
    a.max_msg_size = k->max_msg;
    a.recv_policy = k->policy;
    if (k->memory_limit)
        a.memory_limit = k->memory_limit;
    if (k->heap)
        setenv("MBX_QUEUE", "heap", 1);
    mbx *m;
    int r = mbx_open(NAME, MBX_SEND | MBX_RECV | MBX_CREATE | MBX_EXCL | k->flags, &a, &m);
    unsetenv("MBX_QUEUE");
    if (r)
        fail("mbx_open (create)", r);
    /* Something queued, at several priorities, and one message taken, so
     * that heads, FIFOs, free blocks and slot laps all hold live values. */
    char buf[BUF_CAP];
    memset(buf, 'x', sizeof(buf));
    static const size_t lens[] = {0, 17, 64, 200, 63};
    static const unsigned prios[] = {0, 3, 0, 1, 3};
    for (unsigned i = 0; i < 5 && k->capacity != MBX_RENDEZVOUS; i++) {
        size_t len = lens[i] <= k->max_msg ? lens[i] : k->max_msg;
        r = mbx_send(m, buf, len, prios[i], MBX_NONBLOCK);
        if (r != 0 && r != -EAGAIN)
            fail("mbx_send (setup)", r);
    }
    ssize_t n = mbx_recv(m, buf, sizeof(buf), NULL, MBX_NONBLOCK);
    if (n < 0 && n != -EAGAIN)
        fail("mbx_recv (setup)", n);
    return m;
}

/* Overwrites parts of the mailbox file with the patches in data, then runs
 * the validator on the result. */
static void patch(const uint8_t *data, size_t size)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0)
        fail("open (patch)", -errno);
    uint64_t fsize = (uint64_t)st.st_size;
    unsigned char *base = mmap(NULL, fsize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (base == MAP_FAILED)
        fail("mmap (patch)", -errno);
    const struct seg_hdr *h = (const struct seg_hdr *)base;
    uint64_t lo[6] = {0, h->ring_off, h->active_off, h->heads_off, h->arena_off, 4096};
    uint64_t hi[6] = {4096, h->active_off, h->heads_off, h->arena_off, fsize, 8192};
    while (size >= 4) {
        unsigned region = data[0] % 6;
        if (hi[region] <= lo[region])
            region = 0; /* a heap mailbox has no ring */
        uint64_t span = hi[region] - lo[region];
        uint64_t off = lo[region] + (uint64_t)(data[1] | data[2] << 8) % span;
        size_t len = data[3];
        data += 4;
        size -= 4;
        if (len > size)
            len = size;
        if (len > hi[region] - off)
            len = (size_t)(hi[region] - off);
        memcpy(base + off, data, len);
        data += len;
        size -= len;
    }
    struct seg s;
    check("seg_attach", seg_attach(&s, base, fsize), attach_ok);
    munmap(base, fsize);
}

/* A loan must lie inside the mailbox's mapping (a received one inside the
 * handle's read-only view of it); reading all of it would fault or trip
 * AddressSanitizer otherwise. */
static void check_loan(mbx *m, const void *p, size_t len, const unsigned char *start)
{
    const unsigned char *b = p;
    if (b < start || len > shm_box_of(m)->file.size ||
        (size_t)(b - start) > shm_box_of(m)->file.size - len)
        fail("loan outside the mapping", (long)len);
    unsigned sum = 0;
    for (size_t i = 0; i < len; i++)
        sum += b[i];
    (void)sum;
}

static void script(mbx *m, int flags, unsigned ops, int stream)
{
    char buf[BUF_CAP];
    mbx_msginfo info;
    mbx_stat st;
    unsigned rounds = 1 + (ops & 7);
    memset(buf, 'y', sizeof(buf));
    for (unsigned r = 0; r < rounds; r++) {
        size_t len = (size_t)(ops >> 3) * 37 % 600 + r * 11;
        size_t cap = r % 3 == 2 ? 16 : sizeof(buf);
        if (flags & MBX_SEND)
            check("mbx_send", mbx_send(m, buf, len, r % 4, MBX_NONBLOCK), send_ok);
        if (flags & MBX_RECV) {
            ssize_t n = mbx_recv(m, buf, cap, &info, MBX_NONBLOCK);
            check_received("mbx_recv", n, cap, &info, recv_ok);
            if (n >= 0 && info.reply_token)
                check("mbx_reply", mbx_reply(&info, "r", 1), reply_ok);
            n = mbx_recv_from(m, getpid(), buf, sizeof(buf), &info, MBX_NONBLOCK);
            check_received("mbx_recv_from", n, sizeof(buf), &info,
                           stream ? stream_recv_ok : recv_ok);
            const void *p = NULL;
            n = mbx_recv_loan(m, &p, &info, MBX_NONBLOCK);
            check_received("mbx_recv_loan", n, SIZE_MAX, &info, loan_ok);
            if (n >= 0) {
                check_loan(m, p, (size_t)n, shm_box_of(m)->lend_view);
                check("mbx_release", mbx_release(m, p), (const int[]){0});
            }
        }
        if (flags & MBX_SEND) {
            void *p = NULL;
            int e = mbx_loan(m, len, &p);
            check("mbx_loan", e, loan_ok);
            if (e == 0) {
                check_loan(m, p, len, shm_box_of(m)->file.base);
                memset(p, 'z', len);
                check("mbx_send_loan", mbx_send_loan(m, p, len, r % 2, MBX_NONBLOCK), loan_ok);
            }
        }
        if ((flags & MBX_SEND) && !stream && r == 0) {
            ssize_t n = mbx_call(m, buf, 5, 0, buf, sizeof(buf), MBX_NONBLOCK);
            if (n > 0 && (size_t)n > sizeof(buf))
                fail("mbx_call", n);
            if (n < 0)
                check("mbx_call", n, call_ok);
        }
        check("mbx_stat_get", mbx_stat_get(m, &st), stat_ok);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    setup_once();
    const struct kind *k = &kinds[data[0] % NKINDS];
    unsigned ops = data[1];
    unlink(path);
    mbx *creator = create(k);
    patch(data + 2, size - 2);

    mbx_stat st;
    check("mbx_stat_name", mbx_stat_name(NAME, &st), stat_name_ok);
    /* A receive right held elsewhere still leaves sending. */
    mbx *m;
    int flags = MBX_SEND | MBX_RECV;
    int r = mbx_open(NAME, flags, NULL, &m);
    if (r == -EBUSY || r == -EACCES) {
        flags = MBX_SEND;
        r = mbx_open(NAME, flags, NULL, &m);
    }
    check("mbx_open", r, open_ok);
    if (r == 0) {
        script(m, flags, ops, (k->flags & MBX_STREAM) != 0);
        check("mbx_close", mbx_close(m), (const int[]){0});
    }
    check("mbx_close (creator)", mbx_close(creator), (const int[]){0});
    unlink(path);
    return 0;
}
