/* Which boot this is (durable mailboxes outlive it), and which folder a
 * path names (a gateway on this machine tells its clients where it keeps
 * mailboxes; they check they see the same folder). */
#include "platform/platform.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int plat_boot_id(uint64_t out[2])
{
    uint8_t id[16];
    char text[64];
    int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    int k = 0;
    for (ssize_t i = 0; i < n && k < 32; i++) {
        char c = text[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0)
            continue;
        id[k / 2] = (uint8_t)(k % 2 ? (id[k / 2] << 4) | v : v);
        k++;
    }
    memcpy(out, id, sizeof(id));
    return k == 32;
}

int plat_dir_id(const char *path, uint64_t id[2])
{
    struct stat st;
    if (stat(path, &st))
        return -errno;
    if (!S_ISDIR(st.st_mode))
        return -ENOTDIR;
    id[0] = (uint64_t)st.st_dev;
    id[1] = (uint64_t)st.st_ino;
    return 0;
}
