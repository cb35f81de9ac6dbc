/* Keys: a symbolic link sysv-key.KKKKKKKK -> "ID" per key. symlink() makes
 * the name and its content in one step and fails when the name exists, so
 * two processes creating the same key agree on one queue, and a reader
 * never sees a half-written entry. The target is untrusted (anyone who can
 * write the directory can plant a link): it must be a plain id. A link is
 * removed by one remover at a time, the holder of a lock on its removal
 * file sysv-key-rm.KKKKKKKK.ID.UID, UID the link's owner (remove_claimed),
 * and of the link's lock in the state file of queue ID (lock_link), which
 * a planted removal file does not take away. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

static int key_path(char *buf, size_t cap, int32_t key)
{
    char tail[16];
    snprintf(tail, sizeof(tail), "%08x", (unsigned)key);
    return sysv_path(buf, cap, SYSV_KEY_PREFIX, tail);
}

int sysv_key_lookup(int32_t key, int32_t *id)
{
    char path[4200], target[16];
    int rc = key_path(path, sizeof(path), key);
    if (rc < 0)
        return rc;
    ssize_t n = readlink(path, target, sizeof(target) - 1);
    if (n < 0)
        return errno == ENOENT ? -ENOENT : errno == EINVAL ? -EUCLEAN : -errno;
    target[n] = 0;
    int32_t v = sysv_parse_id(target);
    if (v < 0)
        return -EUCLEAN;
    *id = v;
    return 0;
}

int sysv_key_publish(int32_t key, int32_t id)
{
    char path[4200], target[16];
    int rc = key_path(path, sizeof(path), key);
    if (rc < 0)
        return rc;
    snprintf(target, sizeof(target), "%d", (int)id);
    return symlink(target, path) == 0 ? 0 : -errno;
}

/* The removal file of key's link to id, a link of user uid's:
 * sysv-key-rm.KKKKKKKK.ID.UID. The uid is the link's owner's, whom a
 * sticky folder lets remove it, with root: both removers name the same
 * file, so they exclude each other. */
static int removal_path(char *buf, size_t cap, int32_t key, int32_t id, uid_t uid)
{
    char tail[48];
    snprintf(tail, sizeof(tail), "%08x.%d.%u", (unsigned)key, (int)id, (unsigned)uid);
    return sysv_path(buf, cap, SYSV_KEYRM_PREFIX, tail);
}

/* Whether the file of fd (stat in *st) is a removal file to go by for a
 * link of user uid: a regular file of one name, that user's or root's.
 * Anyone who may write the folder can make a file of that name first (the
 * id is the link's target) and hold a lock on it for good, or give it no
 * permissions: such a file must not stop the link's removal. */
static int trusted(int fd, uid_t uid, struct stat *st)
{
    return fstat(fd, st) == 0 && S_ISREG(st->st_mode) && st->st_nlink == 1 &&
           (st->st_uid == uid || st->st_uid == 0);
}

/* Makes the removal file claim of a link of user uid, exclusively, mode
 * 0600 and uid's: that user's removers must open it, and no one else may
 * (a user who could open it could hold its lock for good once a killed
 * remover left it). Root makes another user's unnamed first (O_TMPFILE),
 * so that it never shows under root's name, which the link's owner could
 * not open. Returns the fd, or -1 with errno (EEXIST: the name is taken). */
static int make_removal_file(const char *claim, uid_t uid)
{
    uid_t me = geteuid();
    if (me != uid && me != 0) {
        errno = EPERM; /* another user's link, which a sticky folder keeps from us */
        return -1;
    }
    if (me == uid)
        return open(claim, O_RDONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    char dir[4200];
    int fd = -1;
    if (sysv_path(dir, sizeof(dir), "", "") == 0)
        fd = open(dir, O_RDWR | O_TMPFILE | O_CLOEXEC, 0600);
    if (fd >= 0) {
        if (fchown(fd, uid, (gid_t)-1) == 0 && linkat(fd, "", AT_FDCWD, claim, AT_EMPTY_PATH) == 0)
            return fd;
        int e = errno;
        close(fd);
        errno = e;
        if (e != EOPNOTSUPP && e != EPERM && e != ENOENT)
            return -1; /* EEXIST among them */
    }
    /* No O_TMPFILE here (or no linkat from it): made, then given. */
    fd = open(claim, O_RDONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0 && fchown(fd, uid, (gid_t)-1) < 0) {
        int e = errno;
        unlink(claim);
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* The lock of key's link to id, a link of user uid's, on the state file
 * of queue id: an OFD write lock of byte `key` of it, which no one can
 * take but the writers of that file (its owner's side and root, who may
 * remove the queue anyway), in a file no one else can put in its place
 * (uid's or root's, one name, in a sticky folder). It is there whenever
 * the link is (removal removes the key first, the state file last), so
 * its removers exclude each other even when another user planted the
 * removal file, which they then cannot remove (they went without any
 * lock: the msgget of a new queue between one remover's look and unlink
 * lost its link to a second remover). Anyone who may read the file
 * (mode 0644 whenever the queue's mode gives group or others a bit) can
 * hold a read lock there for good, which removers never take: a write
 * lock refused for a read lock is no lock (then the removal file's lock
 * is all there is, as for a planted one), never -EBUSY, which left the
 * link for as long as that reader liked (IPC_RMID left it, and msgget
 * of a queue marked removed said EAGAIN). Returns the fd holding the
 * lock, -EBUSY (another remover holds it), or -ENOENT (no such file to
 * trust, e.g. one root's IPC_SET gave to a new owner, no OFD locks, or
 * a reader's lock: the removal file's lock is all there is). */
static int lock_link(int32_t key, int32_t id, uid_t uid)
{
    char path[4200];
    struct stat st;
    if (sysv_page_path(path, sizeof(path), SYSV_META_PREFIX, id) < 0)
        return -ENOENT;
    int fd = open(path, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -ENOENT;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
        (st.st_uid != uid && st.st_uid != 0)) {
        close(fd);
        return -ENOENT;
    }
    const struct flock want = {
        .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = (off_t)(uint32_t)key, .l_len = 1};
    /* A few tries: a lock let go between our refusal and our look is
     * tried again; one that is gone by each look (a reader's, taken and
     * let go over and over) costs this lock, never a wait. */
    for (int tries = 0; tries < 3; tries++) {
        struct flock fl = want;
        if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
            return fd;
        if (errno != EAGAIN && errno != EACCES)
            break;
        fl = want;
        if (fcntl(fd, F_OFD_GETLK, &fl) < 0 || fl.l_type == F_RDLCK)
            break;
        if (fl.l_type == F_WRLCK) {
            close(fd);
            return -EBUSY; /* only a writer of the file: a remover */
        }
    }
    close(fd);
    return -ENOENT;
}

/* Unlinks link, a link of user uid's, when it names id, looking under
 * the link's lock on the queue's state file (lock_link) when there is
 * one. Returns 0, -EBUSY (another remover holds that lock: it will
 * finish) or -errno of unlink. */
static int unlink_if_names(const char *link, int32_t key, int32_t id, uid_t uid)
{
    int lock = lock_link(key, id, uid);
    if (lock == -EBUSY)
        return -EBUSY;
    int32_t named;
    int rc = 0;
    if (sysv_key_lookup(key, &named) == 0 && named == id && unlink(link) < 0 && errno != ENOENT)
        rc = -errno;
    if (lock >= 0)
        close(lock);
    return rc;
}

/* Removes key's link to id, a link of user uid's, as the one remover of
 * that link: the holder of the exclusive flock on its removal file (made
 * here unless `make` is 0: a removal a killed process began). A link is
 * unlinked only by the remover of the id it names, and only after it
 * looked at it under the lock, so between the look and the unlink nobody
 * else may remove it, and the name cannot come to hold another queue's
 * link (a key's link is made only where there is none). Without the lock
 * (a look, then an unlink), two removers of one stale link could both
 * look, one unlink it, a msgget publish its new queue, and the other
 * remove the new queue's link: a whole queue left that its key no longer
 * named (a chaos run found ~50 in 3000 msgget calls). A file of the name
 * that is not to be trusted (another user's: planted) is removed by
 * those who may (root; anyone, in a folder without the sticky bit); the
 * others remove the link without that lock, never the removal (it left
 * the link for good, and msgget of the key said EAGAIN or EACCES), under
 * the link's lock on its queue's state file alone (lock_link, which
 * every remover takes around its look and unlink), so they still
 * exclude each other. Returns 0
 * (removed, or the link names no longer id), -EBUSY (another remover
 * holds the lock: it will finish), or -errno (the link may not be
 * removed). */
static int remove_claimed(int32_t key, int32_t id, uid_t uid, int make)
{
    char link[4200], claim[4200];
    int rc = key_path(link, sizeof(link), key);
    if (rc == 0)
        rc = removal_path(claim, sizeof(claim), key, id, uid);
    if (rc < 0)
        return rc;
    for (int tries = 0; tries < 4; tries++) {
        int fd = make ? make_removal_file(claim, uid) : -1;
        /* No file of ours to lock: the folder, or the link's owner,
         * refuses us (then its unlink says so, most likely). */
        if (fd < 0 && make && errno != EEXIST)
            return unlink_if_names(link, key, id, uid);
        if (fd < 0)
            fd = open(claim, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        struct stat st, now;
        if (fd < 0 || !trusted(fd, uid, &st)) {
            int judged = fd >= 0; /* else one we may not open */
            if (fd >= 0)
                close(fd);
            if (!make)
                return 0; /* the sweep leaves it */
            if (lstat(claim, &now) < 0)
                continue; /* its remover was done meanwhile */
            if (judged ? now.st_dev != st.st_dev || now.st_ino != st.st_ino
                       : S_ISREG(now.st_mode) && now.st_nlink == 1 &&
                             (now.st_uid == uid || now.st_uid == 0)) {
                if (judged)
                    continue;  /* another file took the name meanwhile */
                return -EBUSY; /* root's, made before it was given to uid */
            }
            /* Planted: removed by whoever may; the others go without
             * this lock, under the state file's (lock_link). */
            if (unlink(claim) == 0)
                continue;
            return unlink_if_names(link, key, id, uid);
        }
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
            close(fd);
            return -EBUSY;
        }
        /* Still the file of that name: else its remover was done (it
         * removes the name before it lets go of the lock). */
        if (lstat(claim, &now) < 0 || now.st_dev != st.st_dev || now.st_ino != st.st_ino) {
            close(fd);
            if (!make)
                return 0;
            continue;
        }
        rc = unlink_if_names(link, key, id, uid);
        unlink(claim);
        close(fd);
        return rc;
    }
    return -EBUSY;
}

int sysv_key_remove(int32_t key, int32_t id)
{
    int32_t now;
    char link[4200];
    struct stat st;
    /* Another queue may have taken the key since (after a removal):
     * leave its link, without a removal file. */
    if (sysv_key_lookup(key, &now) != 0 || now != id)
        return 0;
    if (key_path(link, sizeof(link), key) < 0 || lstat(link, &st) < 0)
        return 0;
    return remove_claimed(key, id, st.st_uid, 1);
}

int sysv_key_finish(int32_t key, int32_t id, uid_t uid)
{
    return remove_claimed(key, id, uid, 0);
}
