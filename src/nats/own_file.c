/* The bridge's own files (own_file.h). */
#include "nats/own_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int own_file_check(int fd)
{
    struct stat sb;
    if (fstat(fd, &sb) != 0)
        return -errno;
    if (!S_ISREG(sb.st_mode))
        return -EUCLEAN;
    if (sb.st_uid != geteuid() || (sb.st_mode & 077) != 0 || sb.st_nlink != 1)
        return -EACCES; /* nlink: one of our files linked here by someone else */
    return 0;
}

int own_file_open(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    int r = own_file_check(fd);
    if (!r && flock(fd, LOCK_EX | LOCK_NB) != 0)
        r = errno == EWOULDBLOCK ? -EBUSY : -errno;
    if (r) {
        close(fd);
        return r;
    }
    return fd;
}
