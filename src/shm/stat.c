/* Looking at mailboxes from outside: stat and listing. */
#include "mbx.h"

#include "shm/handle.h"
#include "shm/ring/ring.h"
#include "shm/sleepers.h"
#include "shm/stream/stream.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>

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
    st->owner_pid = __atomic_load_n(&h->owner_pid, __ATOMIC_RELAXED);
    st->count = __atomic_load_n(&h->hot.count, __ATOMIC_RELAXED);
    st->bytes = __atomic_load_n(&h->meta.bytes, __ATOMIC_RELAXED);
    st->senders_waiting = sleepers_count(__atomic_load_n(&h->hot.send_waiters, __ATOMIC_RELAXED));
    st->receivers_waiting = sleepers_count(__atomic_load_n(&h->hot.recv_waiters, __ATOMIC_RELAXED));
    st->sent_total = __atomic_load_n(&h->meta.seq_next, __ATOMIC_RELAXED) - 1;
    st->received_total = __atomic_load_n(&h->meta.received_total, __ATOMIC_RELAXED);
    st->repairs = __atomic_load_n(&h->meta.repairs, __ATOMIC_RELAXED);
    if (s->ring)
        ring_stat(s, &st->count, &st->bytes, &st->sent_total, &st->received_total, &st->repairs);
    if (s->stream)
        stream_stat(s, &st->count, &st->bytes, &st->sent_total, &st->received_total, &st->repairs);
    return 0;
}

EXPORT int mbx_stat_get(mbx *m, mbx_stat *st)
{
    if (!m || !st)
        return -EINVAL;
    if (__atomic_load_n(&m->seg.hdr->hot.removed, __ATOMIC_ACQUIRE))
        return -EIDRM;
    return fill(&m->seg, &m->file, st);
}

EXPORT int mbx_stat_name(const char *name, mbx_stat *st)
{
    if (!st)
        return -EINVAL;
    char path[NAME_PATH_MAX];
    struct shmfile f;
    int r = handle_open_name(name, 1, &f, path);
    if (r)
        return r;
    struct seg s;
    r = seg_attach(&s, f.base, f.size);
    if (!r)
        r = fill(&s, &f, st);
    shmfile_close(&f);
    return r;
}

EXPORT int mbx_foreach(int (*fn)(const char *name, void *arg), void *arg)
{
    if (!fn)
        return -EINVAL;
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
    return r;
}
