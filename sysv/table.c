/* The queues this process has open, by id: a queue's mailbox, state file
 * and traffic file are opened on the first call that names its id and kept, so a message
 * costs no open. A removed queue leaves the table; its entry is freed
 * when the last call using it returns (calls blocked in it get -EIDRM). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "internal.h"

#define BUCKETS 64

static struct sysv_q *buckets[BUCKETS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* A fork while another thread holds the lock must not leave the child's
 * copy locked for ever. */
static void before_fork(void)
{
    pthread_mutex_lock(&lock);
}

static void after_fork(void)
{
    pthread_mutex_unlock(&lock);
}

static void install(void)
{
    pthread_atfork(before_fork, after_fork, after_fork);
}

static struct sysv_q **bucket(int32_t id)
{
    return &buckets[(uint32_t)id * 2654435761u >> 26];
}

static struct sysv_q *find_locked(int32_t id)
{
    for (struct sysv_q *q = *bucket(id); q; q = q->next)
        if (q->id == id)
            return q;
    return NULL;
}

static void unlink_locked(struct sysv_q *q)
{
    for (struct sysv_q **p = bucket(q->id); *p; p = &(*p)->next)
        if (*p == q) {
            *p = q->next;
            return;
        }
}

/* Closes what an entry holds, and frees it. */
static void drop(struct sysv_q *q)
{
    mbx_close(q->m);
    sysv_page_unmap(q->meta);
    sysv_page_unmap(q->traffic);
    free(q);
}

void sysv_put(struct sysv_q *q)
{
    if (atomic_fetch_sub((_Atomic int *)&q->refs, 1) == 1)
        drop(q);
}

void sysv_forget(struct sysv_q *q)
{
    pthread_mutex_lock(&lock);
    int listed = find_locked(q->id) == q;
    if (listed)
        unlink_locked(q);
    pthread_mutex_unlock(&lock);
    if (listed)
        sysv_put(q); /* the table's reference */
}

/* Inserts q (refs already counting the table and the caller) unless the
 * id got an entry meanwhile; then returns that one, referenced, and frees
 * q. */
static struct sysv_q *insert(struct sysv_q *q)
{
    pthread_mutex_lock(&lock);
    struct sysv_q *old = find_locked(q->id);
    if (old) {
        atomic_fetch_add((_Atomic int *)&old->refs, 1);
    } else {
        q->next = *bucket(q->id);
        *bucket(q->id) = q;
    }
    pthread_mutex_unlock(&lock);
    if (old) {
        drop(q);
        return old;
    }
    return q;
}

/* A new entry holding m, meta and traffic with refs references, or NULL
 * (-ENOMEM; then they are closed). */
static struct sysv_q *entry(int32_t id, mbx *m, const struct sysv_meta *meta,
                            struct sysv_traffic *traffic, int refs)
{
    struct sysv_q *q = calloc(1, sizeof(*q));
    if (!q) {
        mbx_close(m);
        sysv_page_unmap(meta);
        sysv_page_unmap(traffic);
        return NULL;
    }
    *q = (struct sysv_q){.id = id, .m = m, .meta = meta, .traffic = traffic, .refs = refs};
    return q;
}

int sysv_table_add(int32_t id, mbx *m, const struct sysv_meta *meta, struct sysv_traffic *traffic)
{
    pthread_once(&once, install);
    struct sysv_q *q = entry(id, m, meta, traffic, 1);
    if (!q)
        return -ENOMEM;
    struct sysv_q *got = insert(q);
    if (got != q)
        sysv_put(got); /* an entry for a fresh id cannot exist; keep the table's */
    return 0;
}

int sysv_is_removed(const struct sysv_q *q)
{
    return atomic_load_explicit((_Atomic uint32_t *)&q->meta->removed, memory_order_acquire) != 0;
}

int sysv_get(int32_t id, struct sysv_q **out)
{
    if (id <= 0)
        return -EINVAL;
    pthread_once(&once, install);
    pthread_mutex_lock(&lock);
    struct sysv_q *q = find_locked(id);
    if (q)
        atomic_fetch_add((_Atomic int *)&q->refs, 1);
    pthread_mutex_unlock(&lock);
    if (q) {
        if (!sysv_is_removed(q)) {
            *out = q;
            return 0;
        }
        /* Removed: forget it, and see whether the id names a new queue. */
        sysv_forget(q);
        sysv_put(q);
    }
    struct sysv_meta *meta;
    int rc = sysv_meta_map(id, 0, &meta);
    if (rc < 0)
        return rc == -EACCES || rc == -ENOMEM ? rc : -EINVAL;
    struct sysv_traffic *traffic;
    rc = sysv_traffic_map(id, &traffic);
    if (rc < 0) {
        sysv_page_unmap(meta);
        return rc == -EACCES || rc == -ENOMEM ? rc : -EINVAL;
    }
    char name[32];
    sysv_box_name(name, sizeof(name), id);
    mbx *m;
    rc = mbx_open(name, MBX_SEND | MBX_RECV | MBX_SHARED, NULL, &m);
    if (rc < 0) {
        sysv_page_unmap(meta);
        sysv_page_unmap(traffic);
        return rc == -EACCES || rc == -ENOMEM ? rc : -EINVAL;
    }
    q = entry(id, m, meta, traffic, 2);
    if (!q)
        return -ENOMEM;
    *out = insert(q);
    return 0;
}
