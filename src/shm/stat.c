/* Looking at local mailboxes from outside: stat and listing. */
#include "shm/shm.h"

#include "core/names.h"
#include "shm/files.h"
#include "shm/lock.h"
#include "shm/owner.h"
#include "shm/procbox.h"
#include "shm/sleepers.h"

#include "shm/stream/stream.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* How many sleep on count word w whose epoch began at *since. A live
 * sleeper counts itself again every slice, which moves the epoch on once
 * it is due: an epoch three times its length old has only the dead in its
 * counts. So a look that cannot age the counts (a stat by name reads a
 * copy) still says 0 for sleepers killed long ago (found by a review). */
static uint32_t waiting(const uint32_t *w, const uint32_t *since)
{
    uint32_t was = __atomic_load_n(since, __ATOMIC_ACQUIRE);
    uint32_t now = (uint32_t)(clock_now_ns() / 1000000);
    if (now - was >= 3 * SLEEPERS_EPOCH_MS)
        return 0;
    return sleepers_count(__atomic_load_n(w, __ATOMIC_RELAXED));
}

/* A snapshot without the lock: each field is read once, atomically, so the
 * numbers may disagree by a message but are never torn. */
static int fill(const struct seg *s, const struct shmfile *f, mbx_stat *st)
{
    const struct seg_hdr *h = s->hdr;
    memset(st, 0, sizeof(*st));
    memcpy(st->name, h->name, sizeof(st->name));
    st->name[sizeof(st->name) - 1] = 0;
    st->max_msg_size = s->max_msg_size;
    st->capacity = s->capacity;
    st->recv_policy = s->recv_policy;
    st->flags = s->flags & (MBX_OWNED | MBX_STREAM);
    int r = shmfile_owner(f, &st->uid, &st->gid, &st->mode);
    if (r)
        return r;
    st->owner_pid = owner_named(s);
    st->senders_waiting = waiting(&h->hot.send_waiters, &h->meta.sleep_epoch_ms[1]);
    st->receivers_waiting = waiting(&h->hot.recv_waiters, &h->meta.sleep_epoch_ms[0]);
    s->kind->stat(s, st);
    return 0;
}

int shm_stat(struct mbx *m, mbx_stat *st)
{
    struct shm_box *b = shm_box_of(m);
    if (seg_removed(&b->seg))
        return -EIDRM;
    /* An owned mailbox whose owner died is gone, as a send would find. */
    if ((b->seg.flags & MBX_OWNED) && owner_check(b) == -EIDRM)
        return -EIDRM;
    /* A sender killed holding the lock after queueing its message but
     * before counting it (heap mailboxes) leaves the count to the repair:
     * settled first, sent_total counts every message the mailbox holds or
     * delivered (a JetStream import restarted after a kill -9 judges by it
     * whether its last delivery happened). */
    seg_settle(&b->seg);
    /* Sleepers killed asleep stop counting within two epochs of a look
     * (sleepers.h). A stat is a look: only sleepers moved the epoch on,
     * so the dead counted for as long as nobody slept again (found by a
     * review). One load each while nobody sleeps. */
    struct seg_hdr *h = b->seg.hdr;
    if (__atomic_load_n(&h->hot.recv_waiters, __ATOMIC_RELAXED))
        sleepers_age(&h->hot.recv_waiters, &h->meta.sleep_epoch_ms[0]);
    if (__atomic_load_n(&h->hot.send_waiters, __ATOMIC_RELAXED))
        sleepers_age(&h->hot.send_waiters, &h->meta.sleep_epoch_ms[1]);
    return fill(&b->seg, &b->file, st);
}

static uint32_t kind_number(const struct shm_kind *k)
{
    return k == &shm_kind_ring     ? MBX_KIND_RING
           : k == &shm_kind_stream ? MBX_KIND_STREAM
                                   : MBX_KIND_HEAP;
}

static void fill_ext(const struct seg *s, mbx_stat_ext *st)
{
    st->kind = kind_number(s->kind);
    st->layout_version = s->ring_pool ? SEG_VERSION_POOL : SEG_VERSION;
    const struct seg_tail *t = (const struct seg_tail *)(s->base + SEG_TAIL_OFF);
    st->udp_dropped_full = __atomic_load_n(&t->udp_dropped_full, __ATOMIC_RELAXED);
    st->udp_dropped_bad = __atomic_load_n(&t->udp_dropped_bad, __ATOMIC_RELAXED);
}

int shm_stat_ext(struct mbx *m, mbx_stat_ext *st)
{
    struct shm_box *b = shm_box_of(m);
    if (seg_removed(&b->seg))
        return -EIDRM;
    fill_ext(&b->seg, st);
    return 0;
}

/* Reads len bytes of f at off into dst. Returns 0, or -EUCLEAN when the
 * file is shorter now. */
static int read_at(const struct shmfile *f, unsigned char *dst, uint64_t off, uint64_t len)
{
    while (len) {
        ssize_t n = pread(f->fd, dst, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EUCLEAN;
        dst += n, off += (uint64_t)n, len -= (uint64_t)n;
    }
    return 0;
}

/* Attaches s to a copy of what looking at mailbox file f reads (the
 * header and receipts, a ring's slot headers, a stream's control), in
 * private memory of the file's size whose other pages read as zeros;
 * *copy is to be given to munmap with f->size. Not the shared mapping: a
 * file whose owner (another user, no peer of ours) truncated it meanwhile
 * made those reads fault, and SIGBUS killed `mbx ls` (found by a
 * review). Returns 0 or what seg_attach says (-EUCLEAN for a file that
 * shrank). */
static int attach_copy(const struct shmfile *f, struct seg *s, unsigned char **copy)
{
    unsigned char *c = mmap(NULL, f->size, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (c == MAP_FAILED)
        return -ENOMEM;
    uint64_t head = 2 * SEG_PAGE < f->size ? 2 * SEG_PAGE : f->size;
    int r = read_at(f, c, 0, head);
    if (!r)
        r = seg_attach(s, c, f->size);
    uint64_t need = head;
    if (!r && s->ring)
        need = (uint64_t)(s->ring_payloads - c);
    else if (!r && s->stream)
        need = (uint64_t)(s->stream - c) + STREAM_CTL_BYTES;
    if (!r && need > head)
        r = need <= f->size ? read_at(f, c + head, head, need - head) : -EUCLEAN;
    if (r) {
        munmap(c, f->size);
        return r;
    }
    *copy = c;
    return 0;
}

int shm_stat_ext_name(const char *name, mbx_stat_ext *st)
{
    char path[NAME_PATH_MAX];
    struct shmfile f;
    int r = name_check(name);
    if (r || (r = shm_open_file(name, 1, &f, path)))
        return r;
    struct seg s;
    unsigned char *copy = NULL;
    r = attach_copy(&f, &s, &copy);
    if (!r && owner_gone(&s))
        r = -ENOENT; /* as shm_stat_name says (which also reaps it) */
    if (!r)
        fill_ext(&s, st);
    if (copy)
        munmap(copy, f.size);
    shmfile_close(&f);
    return r;
}

void shm_count_drop(struct mbx *m, int full)
{
    struct shm_box *b = shm_box_of(m);
    struct seg_tail *t = (struct seg_tail *)(b->seg.base + SEG_TAIL_OFF);
    __atomic_fetch_add(full ? &t->udp_dropped_full : &t->udp_dropped_bad, 1, __ATOMIC_RELAXED);
}

int shm_stat_name(const char *name, mbx_stat *st)
{
    char path[NAME_PATH_MAX];
    struct shmfile f;
    int r = name_check(name);
    if (r || (r = shm_open_file(name, 1, &f, path)))
        return r;
    struct seg s;
    unsigned char *copy = NULL;
    r = attach_copy(&f, &s, &copy);
    /* An owned mailbox whose owner is gone is gone, as its next open
     * says: never listed with a dead owner; removed here when we may. */
    int reap = !r && owner_gone(&s);
    if (!r)
        r = reap ? -ENOENT : fill(&s, &f, st);
    if (copy)
        munmap(copy, f.size);
    /* Reaping reads and writes the shared mapping: only a file of our own
     * (root's `mbx ls` would otherwise touch a file another user may
     * shrink, and die of SIGBUS). Another user's is left to its owner. */
    if (reap && f.uid != (uint32_t)geteuid())
        reap = 0;
    shmfile_close(&f);
    if (reap)
        owner_reap(name);
    return r;
}

int shm_foreach(int (*fn)(const char *name, void *arg), void *arg)
{
    DIR *d = opendir(name_dir());
    if (!d)
        return -errno;
    int r = 0;
    struct dirent *e;
    while (r == 0 && (e = readdir(d)) != NULL) {
        const char *name;
        if (name_from_file(e->d_name, &name))
            r = fn(name, arg);
    }
    closedir(d);
    /* Processes' own mailboxes ("@PID") have no file in the directory and
     * are not listed: mbx.h promises the mailboxes of $MBX_DIR, and a
     * listing of a private directory must not change with whatever else
     * this user runs. */
    return r;
}
