/* The key of the bridge's JetStream message ids (idkey.h). */
#include "nats/idkey.h"

#include "nats/own_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

static uint8_t key_bytes[IDKEY_LEN];
static int key_status = -EAGAIN; /* 0 once key_bytes holds the key */
static pthread_mutex_t key_mu = PTHREAD_MUTEX_INITIALIZER;

/* Makes the key file at path: written whole under a random name first, then
 * linked in, so that nobody ever reads half a key; a key another process
 * linked in first wins (link fails, and that one is read). */
static int make_key(const char *dir, const char *path)
{
    char tmp[PATH_MAX];
    uint8_t fresh[IDKEY_LEN];
    if (snprintf(tmp, sizeof(tmp), "%s/.mbx-bridge.keytmp.XXXXXX", dir) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    if (getrandom(fresh, sizeof(fresh), 0) != (ssize_t)sizeof(fresh))
        return -EAGAIN;
    int fd = mkostemp(tmp, O_CLOEXEC); /* mode 0600, a name nobody planted */
    if (fd < 0)
        return -errno;
    int r = write(fd, fresh, sizeof(fresh)) == (ssize_t)sizeof(fresh) && fsync(fd) == 0 ? 0 : -EIO;
    close(fd);
    if (!r && link(tmp, path) != 0 && errno != EEXIST)
        r = -errno;
    unlink(tmp);
    return r;
}

/* Reads the key at path into key_bytes, if it is ours alone. */
static int read_key(const char *path)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat sb;
    int r = own_file_check(fd);
    if (!r && (fstat(fd, &sb) != 0 || sb.st_size != IDKEY_LEN))
        r = -EUCLEAN;
    else if (!r && read(fd, key_bytes, IDKEY_LEN) != IDKEY_LEN)
        r = -EIO;
    close(fd);
    return r;
}

/* Reads (making it first if need be) this user's key file in the
 * mailbox folder: one per user, ".mbx-bridge.key.UID" (in a folder shared
 * by users, one name for all let the first user's file refuse everyone
 * else). Returns 0 or -errno. */
static int load_key(void)
{
    const char *dir = getenv("MBX_DIR");
    char path[PATH_MAX];
    if (!dir || !*dir)
        dir = "/dev/shm";
    if (snprintf(path, sizeof(path), "%s/.mbx-bridge.key.%lu", dir, (unsigned long)geteuid()) >=
        (int)sizeof(path))
        return -ENAMETOOLONG;
    int r = read_key(path);
    if (r == -ENOENT) {
        r = make_key(dir, path);
        if (!r)
            r = read_key(path);
    }
    return r;
}

int idkey_get(const uint8_t **key)
{
    pthread_mutex_lock(&key_mu);
    if (key_status)
        key_status = load_key(); /* again after a failure: it may have passed */
    int r = key_status;
    pthread_mutex_unlock(&key_mu);
    if (!r)
        *key = key_bytes;
    return r;
}
