/* A queue's life: its traffic file, mailbox and state file made under a
 * fresh random id, then its key published; removal in the opposite order
 * (after the removal mark), so that whoever
 * finds a key finds the whole queue, and a removed queue's id stops
 * working (the state file says so) before its blocked callers are woken. */
#include <dirent.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "creds.h"
#include "internal.h"

/* The queue's mailbox: a heap of SYSV_CAPACITY messages of up to
 * SYSV_MSGMAX bytes (storage is taken as messages come), any number of
 * receivers. A heap, not a ring, because msgrcv takes by type: a message
 * no one asks for (a reply to a client that died) must cost its bytes and
 * nothing more, and a ring frees the slot of one taken ahead of older ones
 * only once those are gone, so one such message stopped the queue 256
 * sends later. $MBX_QUEUE=ring asks for the ring: a quicker round trip,
 * for programs that receive everything they send. */
static int make_box(int32_t id, uint32_t mode, mbx **m)
{
    char name[32];
    sysv_box_name(name, sizeof(name), id);
    mbx_options o;
    mbx_options_init(&o);
    o.attr.max_msg_size = SYSV_MSGMAX;
    o.attr.capacity = SYSV_CAPACITY;
    o.attr.mode = sysv_file_mode(mode);
    const char *kind = getenv("MBX_QUEUE");
    o.kind = kind && strcmp(kind, "ring") == 0 ? MBX_KIND_RING : MBX_KIND_HEAP;
    return mbx_open_opts(name, MBX_SEND | MBX_RECV | MBX_CREATE | MBX_EXCL, &o, m);
}

static void drop_box(int32_t id, mbx *m)
{
    char name[32];
    sysv_box_name(name, sizeof(name), id);
    mbx_close(m);
    mbx_unlink(name);
}

/* Makes the traffic file, the mailbox and the state file under a fresh
 * id. The traffic file comes first, made under a creation's lock kept in
 * *held (sysv_creating_open) until the caller is done: files of this id
 * without a state file are a dead creator's once that lock is free
 * (sysv_queue_cleanup), and the traffic file, removed last, keeps the id
 * from other creators until then. Returns 0, or -errno. */
static int make_files(int32_t key, uint32_t mode, int32_t *idp, mbx **mp, int *held, int *slot)
{
    sysv_creds_refresh();
    for (int tries = 0; tries < 64; tries++) {
        int32_t id = sysv_random_id();
        if (id < 0)
            return id;
        int rc = sysv_traffic_create(id, sysv_file_mode(mode), held, slot);
        if (rc == -EEXIST)
            continue; /* the id is taken */
        if (rc < 0)
            return rc;
        mbx *m = NULL;
        rc = make_box(id, mode, &m);
        if (rc == 0) {
            struct sysv_meta init = {
                .magic = SYSV_META_MAGIC,
                .version = SYSV_META_VERSION,
                .id = id,
                .key = key,
                .cuid = sysv_creds.euid,
                .cgid = sysv_creds.egid,
                .uid = sysv_creds.euid,
                .gid = sysv_creds.egid,
                .mode = mode & 0777,
                .qbytes = SYSV_MSGMNB,
                .ctime = sysv_now(),
            };
            rc = sysv_meta_create(id, &init);
            if (rc < 0)
                drop_box(id, m);
        }
        if (rc < 0) {
            sysv_page_unlink(SYSV_TRAFFIC_PREFIX, id);
            sysv_creating_close(*held, *slot);
            *held = -1;
            if (rc == -EEXIST)
                continue; /* left by a creation that died half way, or planted */
            return rc;
        }
        *idp = id;
        *mp = m;
        return 0;
    }
    return -ENOSPC;
}

int sysv_queue_create(int32_t key, uint32_t mode, int32_t *idp)
{
    int32_t id;
    mbx *m;
    int held = -1, slot = -1;
    /* A msgget that makes a queue of a key removes what killed ones left
     * (nothing else names those files). Not for IPC_PRIVATE, which a
     * program may make by the thousand: each sweep reads the directory. */
    if (key != 0)
        sysv_sweep_unfinished();
    int rc = make_files(key, mode, &id, &m, &held, &slot);
    if (rc < 0)
        return rc;
    /* Mapped before the key is published: from then on another process
     * may find the queue and remove it before this msgget returns, which
     * is the kernel's history too (made, then removed), so msgget returns
     * the id (it said ENOENT, which the kernel never says to IPC_CREAT:
     * its state file said removed). */
    struct sysv_meta *meta = NULL;
    struct sysv_traffic *traffic = NULL;
    rc = sysv_meta_map(id, 0, &meta);
    if (rc == 0)
        rc = sysv_traffic_map(id, &traffic);
    if (rc == 0 && key != 0)
        rc = sysv_key_publish(key, id);
    if (rc < 0) {
        /* -EEXIST: another process published the key first; it wins. */
        sysv_page_unmap(meta);
        sysv_page_unmap(traffic);
        sysv_page_unlink(SYSV_META_PREFIX, id);
        drop_box(id, m);
        sysv_page_unlink(SYSV_TRAFFIC_PREFIX, id);
        sysv_creating_close(held, slot);
        return rc;
    }
    sysv_creating_close(held, slot);
    rc = sysv_table_add(id, m, meta, traffic);
    if (rc < 0)
        return rc; /* the queue exists; this process could not keep it open */
    *idp = id;
    return 0;
}

/* Removes the files of queue id, marked removed: the key, the traffic
 * file, the mailbox (whose removal wakes the blocked callers: -EIDRM),
 * and the state file last, so that a process killed half way leaves the
 * marked state file by which the files' owner's IPC_RMID of the id
 * finds and removes the rest (sysv_queue_cleanup). Returns 0 or the first
 * -errno. */
static int remove_files(int32_t id, int32_t key)
{
    char name[32];
    sysv_box_name(name, sizeof(name), id);
    if (key != 0)
        sysv_key_remove(key, id);
    int rc = sysv_page_unlink(SYSV_TRAFFIC_PREFIX, id);
    int r1 = mbx_unlink(name);
    if (rc == 0 && r1 != -ENOENT)
        rc = r1;
    int r2 = sysv_page_unlink(SYSV_META_PREFIX, id);
    return rc ? rc : r2;
}

int sysv_queue_remove(struct sysv_q *q)
{
    char path[4200], tail[16];
    struct stat st;
    snprintf(tail, sizeof(tail), "%d", (int)q->id);
    int rc = sysv_path(path, sizeof(path), SYSV_META_PREFIX, tail);
    if (rc < 0)
        return rc;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? -EINVAL : -errno;
    /* The files' owner (or root) removes them all. The queue's creator or
     * owner who is not (root gave the files to a new owner, or an
     * unprivileged creator named one) may not remove another user's files
     * from a sticky directory such as /dev/shm: the mark alone removes
     * the queue for every call, and the files stay until their owner's or
     * root's IPC_RMID of the id (sysv_queue_cleanup). */
    int files_owner = sysv_creds.euid == 0 || st.st_uid == sysv_creds.euid;
    /* Marked first, so that calls that wake with -EIDRM, and any call
     * made from now on, find the id gone. The mark goes through a
     * writable mapping, which the state file's permissions give only to
     * its owner's side (the files' owner, and through ACL entries the
     * System V owner and creator): a refused removal changes nothing. */
    struct sysv_meta *m;
    rc = sysv_meta_map(q->id, 1, &m);
    if (rc < 0)
        return rc == -EACCES ? -EPERM : rc == -ENOENT ? -EIDRM : rc;
    atomic_store((_Atomic uint32_t *)&m->removed, 1);
    sysv_page_unmap(m);
    rc = remove_files(q->id, q->meta->key);
    sysv_forget(q);
    /* What another user's files refused (-EPERM, -EACCES) is left for
     * their owner: the queue is gone all the same. */
    return files_owner ? rc : 0;
}

/* Whether the caller (or root) owns the regular one-page file of fd. */
static int own_page(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == SYSV_META_SIZE &&
           (sysv_creds.euid == 0 || st.st_uid == sysv_creds.euid);
}

/* How old a traffic file that is not whole must be to be a dead
 * creator's: a creator locks it between its open and its first write, so
 * a live one leaves it so unlocked for an instant only. */
#define UNFINISHED_SHORT_AGE 10

/* The files of a msgget killed after it made queue id's traffic file,
 * before its state file: nothing names the id (msgget had not returned
 * it, no key link was made). When the traffic file is the caller's (or
 * root is), its creator's lock on it is free, the state file is still
 * not there under that lock, and the file says it is queue id's (or was
 * never written and is older than UNFINISHED_SHORT_AGE), the mailbox is
 * removed and then the traffic file, which keeps other creators off the
 * id until then. A creator still making the queue holds the lock (it
 * removed a slow creator's files, and msgget returned a queue without
 * them). Returns 0, -EINVAL (no such files of the caller's, or their
 * creator is alive), or -errno of unlink. */
static int remove_unfinished(int32_t id)
{
    char path[4200], meta[4200];
    if (sysv_page_path(path, sizeof(path), SYSV_TRAFFIC_PREFIX, id) < 0 ||
        sysv_page_path(meta, sizeof(meta), SYSV_META_PREFIX, id) < 0)
        return -EINVAL;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -EINVAL;
    struct stat st, now;
    struct sysv_traffic t;
    /* Locked, then looked at again: a creator that made its state file
     * meanwhile did so under its lock, before ours. */
    int ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
             (sysv_creds.euid == 0 || st.st_uid == sysv_creds.euid) &&
             flock(fd, LOCK_EX | LOCK_NB) == 0 && lstat(meta, &now) < 0 && errno == ENOENT &&
             lstat(path, &now) == 0 && now.st_dev == st.st_dev && now.st_ino == st.st_ino &&
             fstat(fd, &st) == 0;
    if (ok && st.st_size == SYSV_META_SIZE)
        ok = pread(fd, &t, sizeof(t), 0) == (ssize_t)sizeof(t) && t.magic == SYSV_TRAFFIC_MAGIC &&
             t.version == SYSV_META_VERSION && t.id == id;
    else if (ok)
        ok = st.st_size < SYSV_META_SIZE && sysv_now() - st.st_ctim.tv_sec > UNFINISHED_SHORT_AGE;
    int rc = -EINVAL;
    if (ok) {
        char name[32];
        sysv_box_name(name, sizeof(name), id);
        int r1 = mbx_unlink(name);
        rc = sysv_page_unlink(SYSV_TRAFFIC_PREFIX, id);
        if (rc == 0 && r1 != -ENOENT)
            rc = r1;
    }
    close(fd);
    return rc;
}

static int by_id(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return x < y ? -1 : x > y;
}

/* Ids read from the directory, grown as needed. */
struct ids {
    int32_t *v;
    size_t n, cap;
};

static void ids_add(struct ids *l, int32_t id)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        int32_t *v = realloc(l->v, cap * sizeof(*v));
        if (!v)
            return; /* a sweep that misses some: the next one sees them */
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = id;
}

/* How many state files not named by a key's link one sweep looks at
 * (each costs an open): private queues are among them every time. */
#define SWEEP_LOOKS 32
/* How many removal files of key links one sweep finishes (each costs an
 * open). */
#define SWEEP_CLAIMS 16

/* Queue id's files when the queue is unreachable: marked removed (an
 * IPC_RMID killed half way, or one whose remover could not delete them),
 * or keyed and its key's link names another queue or none (the key
 * removal race left such queues, and a msgget killed between its state
 * file and its key's link does). In the kernel a key names its queue
 * until IPC_RMID, so such a queue is this library's leftover: it is
 * marked removed (a process that has its id gets EINVAL, EIDRM) and its
 * files removed, when they are the caller's (or root is) and the state
 * file is this format's. Judged under its creation's lock, on the
 * traffic file: a msgget holds it until its key's link is made, so a
 * queue whose link is still to come is left, and once it is free a
 * link that does not name the queue never will (a queue's link is
 * published once, by its creator). */
static void remove_unreachable(int32_t id)
{
    char path[4200];
    struct stat st, now;
    if (sysv_page_path(path, sizeof(path), SYSV_TRAFFIC_PREFIX, id) < 0)
        return;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 && errno != ENOENT)
        return;
    if (fd >= 0 && (fstat(fd, &st) < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0 ||
                    lstat(path, &now) < 0 || now.st_dev != st.st_dev || now.st_ino != st.st_ino)) {
        close(fd); /* its creator is alive, or it changed meanwhile */
        return;
    }
    /* (No traffic file: a removal took it, which marked the state file.) */
    if (sysv_page_path(path, sizeof(path), SYSV_META_PREFIX, id) == 0) {
        int mfd = open(path, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        void *p = MAP_FAILED;
        if (mfd >= 0 && own_page(mfd))
            p = mmap(NULL, SYSV_META_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
        if (mfd >= 0)
            close(mfd);
        struct sysv_meta *m = p;
        if (p != MAP_FAILED && sysv_meta_valid(m, id)) {
            int32_t named;
            int gone = atomic_load((_Atomic uint32_t *)&m->removed) != 0;
            if (!gone && m->key != 0 && (sysv_key_lookup(m->key, &named) != 0 || named != id)) {
                atomic_store((_Atomic uint32_t *)&m->removed, 1);
                gone = 1;
            }
            if (gone)
                remove_files(id, m->key);
        }
        if (p != MAP_FAILED)
            munmap(p, SYSV_META_SIZE);
    }
    if (fd >= 0)
        close(fd);
}

/* Parses the decimal uid of a removal file's name tail: digits only, no
 * leading zero but "0", below (uid_t)-1. Returns 0 and stores it, or -1. */
static int parse_uid(const char *s, uint32_t *uid)
{
    uint64_t v = 0;
    size_t n = strlen(s);
    if (n == 0 || n > 10 || (s[0] == '0' && n > 1))
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    if (v >= UINT32_MAX)
        return -1;
    *uid = (uint32_t)v;
    return 0;
}

void sysv_sweep_unfinished(void)
{
    char dirpath[4200];
    if (sysv_path(dirpath, sizeof(dirpath), "", "") < 0)
        return;
    DIR *d = opendir(dirpath);
    if (!d)
        return;
    /* Traffic files without a state file of their id, by their names:
     * one read of the directory, each candidate then judged under its
     * lock (remove_unfinished). */
    /* Also the ids key links name (their queues are reachable), and the
     * removal files of key links (a remover killed there left one). */
    struct ids traffic = {0}, metas = {0}, named = {0}, claims = {0};
    size_t tl = strlen(SYSV_TRAFFIC_PREFIX), ml = strlen(SYSV_META_PREFIX);
    size_t kl = strlen(SYSV_KEY_PREFIX), cl = strlen(SYSV_KEYRM_PREFIX);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int32_t id, key;
        char target[16];
        if (strncmp(e->d_name, SYSV_TRAFFIC_PREFIX, tl) == 0 &&
            (id = sysv_parse_id(e->d_name + tl)) > 0)
            ids_add(&traffic, id);
        else if (strncmp(e->d_name, SYSV_META_PREFIX, ml) == 0 &&
                 (id = sysv_parse_id(e->d_name + ml)) > 0)
            ids_add(&metas, id);
        else if (strncmp(e->d_name, SYSV_KEY_PREFIX, kl) == 0) {
            ssize_t n = readlinkat(dirfd(d), e->d_name, target, sizeof(target) - 1);
            if (n > 0 && (target[n] = 0, id = sysv_parse_id(target)) > 0)
                ids_add(&named, id);
        } else if (strncmp(e->d_name, SYSV_KEYRM_PREFIX, cl) == 0 && e->d_name[cl + 8] == '.') {
            /* KKKKKKKK.ID.UID: the caller's own only (all, for root):
             * those of other users a sticky folder does not let it
             * remove, and junk there must not take the place of real
             * ones (the first 16 were finished, junk or not). */
            char tail[40];
            if (strlen(e->d_name + cl) >= sizeof(tail))
                continue; /* (cut, it could read as another name) */
            snprintf(tail, sizeof(tail), "%s", e->d_name + cl);
            char *dot = strchr(tail + 9, '.');
            uint32_t uid;
            if (!dot)
                continue;
            *dot = 0;
            tail[8] = 0;
            if (sysv_parse_key(tail, &key) == 0 && (id = sysv_parse_id(tail + 9)) > 0 &&
                parse_uid(dot + 1, &uid) == 0 &&
                (sysv_creds.euid == 0 || (uid_t)uid == sysv_creds.euid)) {
                size_t was = claims.n;
                ids_add(&claims, key);
                ids_add(&claims, id);
                ids_add(&claims, (int32_t)uid);
                if (claims.n != was + 3)
                    claims.n = was; /* in threes only */
            }
        }
    }
    closedir(d);
    if (metas.n)
        qsort(metas.v, metas.n, sizeof(int32_t), by_id);
    if (named.n)
        qsort(named.v, named.n, sizeof(int32_t), by_id);
    int tried = 0;
    for (size_t i = 0; i < traffic.n && tried < 64; i++)
        if (!metas.n || !bsearch(&traffic.v[i], metas.v, metas.n, sizeof(int32_t), by_id)) {
            tried++;
            remove_unfinished(traffic.v[i]);
        }
    /* From a random place, so that private queues (never named by a
     * link) do not hide the queues after them for good. */
    int32_t r = metas.n ? sysv_random_id() : 0;
    size_t start = r > 0 ? (size_t)r % metas.n : 0;
    tried = 0;
    for (size_t i = 0; i < metas.n && tried < SWEEP_LOOKS; i++) {
        int32_t id = metas.v[(start + i) % metas.n];
        if (!named.n || !bsearch(&id, named.v, named.n, sizeof(int32_t), by_id)) {
            tried++;
            remove_unreachable(id);
        }
    }
    /* From a random place too: files the caller may not remove (planted
     * ones of its name that it does not trust) are among them each time. */
    size_t nclaims = claims.n / 3;
    r = nclaims ? sysv_random_id() : 0;
    start = r > 0 ? (size_t)r % nclaims : 0;
    for (size_t i = 0; i < nclaims && i < SWEEP_CLAIMS; i++) {
        int32_t *c = &claims.v[3 * ((start + i) % nclaims)];
        sysv_key_finish(c[0], c[1], (uid_t)(uint32_t)c[2]);
    }
    free(traffic.v);
    free(metas.v);
    free(named.v);
    free(claims.v);
}

int sysv_queue_cleanup(int32_t id)
{
    char path[4200], tail[16];
    snprintf(tail, sizeof(tail), "%d", (int)id);
    if (id <= 0 || sysv_path(path, sizeof(path), SYSV_META_PREFIX, tail) < 0)
        return -EINVAL;
    if (!atomic_load(&sysv_creds_valid))
        sysv_creds_refresh();
    int fd = open(path, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? remove_unfinished(id) : -EINVAL;
    void *p = MAP_FAILED;
    if (own_page(fd))
        p = mmap(NULL, SYSV_META_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return -EINVAL;
    struct sysv_meta *m = p;
    int rc = -EINVAL;
    /* Format 1 too (its first line is format 2's): the only way to remove
     * an older library's queue, which no call of this one can use. */
    if (m->magic == SYSV_META_MAGIC && (m->version == SYSV_META_VERSION || m->version == 1) &&
        m->id == id) {
        atomic_store((_Atomic uint32_t *)&m->removed, 1);
        rc = remove_files(id, m->key);
    }
    munmap(p, SYSV_META_SIZE);
    return rc;
}
