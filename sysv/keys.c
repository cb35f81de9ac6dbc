/* Keys: a symbolic link sysv-key.KKKKKKKK -> "ID" per key. symlink() makes
 * the name and its content in one step and fails when the name exists, so
 * two processes creating the same key agree on one queue, and a reader
 * never sees a half-written entry. The target is untrusted (anyone who can
 * write the directory can plant a link): it must be a plain id. */
#include <stdio.h>
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

int sysv_key_remove(int32_t key, int32_t id)
{
    char path[4200];
    int32_t now;
    int rc = key_path(path, sizeof(path), key);
    if (rc < 0)
        return rc;
    /* Another queue may have taken the key since (after a removal): leave
     * its link. The window between the look and the unlink is that of two
     * removals racing, which the kernel orders and we do not. */
    if (sysv_key_lookup(key, &now) == 0 && now != id)
        return 0;
    return unlink(path) == 0 || errno == ENOENT ? 0 : -errno;
}
