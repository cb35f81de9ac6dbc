/* The bridge's own files (own_file.h). */
#include "nats/own_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int own_file_open(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    struct stat sb;
    int r = 0;
    if (fstat(fd, &sb) != 0)
        r = -errno;
    else if (!S_ISREG(sb.st_mode))
        r = -EUCLEAN;
    else if (sb.st_uid != geteuid() || (sb.st_mode & 077) != 0 || sb.st_nlink != 1)
        r = -EACCES; /* nlink: one of our files linked here by someone else */
    else if (flock(fd, LOCK_EX | LOCK_NB) != 0)
        r = errno == EWOULDBLOCK ? -EBUSY : -errno;
    if (r) {
        close(fd);
        return r;
    }
    return fd;
}
