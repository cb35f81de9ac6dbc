/* Keys: a symbolic link sysv-key.KKKKKKKK -> "ID" per key. symlink() makes
 * the name and its content in one step and fails when the name exists, so
 * two processes creating the same key agree on one queue, and a reader
 * never sees a half-written entry. The target is untrusted (anyone who can
 * write the directory can plant a link): it must be a plain id. A link is
 * removed by one remover at a time, the holder of a lock on its removal
 * file sysv-key-rm.KKKKKKKK.ID (remove_claimed). */
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

/* The removal file of key's link to id: sysv-key-rm.KKKKKKKK.ID. */
static int removal_path(char *buf, size_t cap, int32_t key, int32_t id)
{
    char tail[32];
    snprintf(tail, sizeof(tail), "%08x.%d", (unsigned)key, (int)id);
    return sysv_path(buf, cap, SYSV_KEYRM_PREFIX, tail);
}

/* Removes key's link to id as the one remover of that link: the holder
 * of the exclusive flock on its removal file (made here unless `make` is
 * 0: a removal a killed process began). A link is unlinked only by the
 * remover of the id it names, and only after it looked at it under the
 * lock, so between the look and the unlink nobody else may remove it,
 * and the name cannot come to hold another queue's link (a key's link is
 * made only where there is none). Without the lock (a look, then an
 * unlink), two removers of one stale link could both look, one unlink it,
 * a msgget publish its new queue, and the other remove the new queue's
 * link: a whole queue left that its key no longer named (a chaos run
 * found ~50 in 3000 msgget calls). Returns 0 (removed, or the link names
 * no longer id), -EBUSY (another remover holds the lock: it will finish),
 * or -errno (the link or the removal file may not be touched). */
static int remove_claimed(int32_t key, int32_t id, int make)
{
    char link[4200], claim[4200];
    int rc = key_path(link, sizeof(link), key);
    if (rc == 0)
        rc = removal_path(claim, sizeof(claim), key, id);
    if (rc < 0)
        return rc;
    for (int tries = 0; tries < 3; tries++) {
        /* Readable by all (0644): another user's remover of the same
         * link waits on its lock, as the same user's does. */
        int fd =
            make ? open(claim, O_RDONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644) : -1;
        if (fd < 0 && (!make || errno == EEXIST))
            fd = open(claim, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT && make)
            continue; /* its remover was done between the two opens */
        if (fd < 0)
            return errno == ENOENT ? 0 : -errno;
        struct stat st, now;
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
            close(fd);
            return -EBUSY;
        }
        /* Still the file of that name: else its remover was done (it
         * removes the name before it lets go of the lock). */
        if (fstat(fd, &st) < 0 || lstat(claim, &now) < 0 || now.st_dev != st.st_dev ||
            now.st_ino != st.st_ino) {
            close(fd);
            if (!make)
                return 0;
            continue;
        }
        int32_t named;
        rc = 0;
        if (sysv_key_lookup(key, &named) == 0 && named == id && unlink(link) < 0 && errno != ENOENT)
            rc = -errno;
        unlink(claim);
        close(fd);
        return rc;
    }
    return -EBUSY;
}

int sysv_key_remove(int32_t key, int32_t id)
{
    int32_t now;
    /* Another queue may have taken the key since (after a removal):
     * leave its link, without a removal file. */
    if (sysv_key_lookup(key, &now) != 0 || now != id)
        return 0;
    return remove_claimed(key, id, 1);
}

int sysv_key_finish(int32_t key, int32_t id)
{
    return remove_claimed(key, id, 0);
}
