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
static int key_status = -EAGAIN;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

/* Makes the key file at path: written whole under a random name first, then
 * linked in, so that nobody ever reads half a key; a key another process
 * linked in first wins (link fails, and that one is read). */
static int make_key(const char *dir, const char *path)
{
    char tmp[PATH_MAX];
    uint8_t fresh[IDKEY_LEN];
    if (snprintf(tmp, sizeof(tmp), "%s/.mbx-bridge.key.XXXXXX", dir) >= (int)sizeof(tmp))
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

static void load_key(void)
{
    const char *dir = getenv("MBX_DIR");
    char path[PATH_MAX];
    if (!dir || !*dir)
        dir = "/dev/shm";
    if (snprintf(path, sizeof(path), "%s/.mbx-bridge.key", dir) >= (int)sizeof(path)) {
        key_status = -ENAMETOOLONG;
        return;
    }
    key_status = read_key(path);
    if (key_status == -ENOENT) {
        key_status = make_key(dir, path);
        if (!key_status)
            key_status = read_key(path);
    }
}

int idkey_get(const uint8_t **key)
{
    pthread_once(&key_once, load_key);
    if (!key_status)
        *key = key_bytes;
    return key_status;
}
