/* Permissions: mbx applies a mailbox's mode exactly and needs read and
 * write access from every opener, while mq_open masks the mode with the
 * umask and checks read access for receivers, write access for senders.
 * So the mailbox gets read and write for each class the POSIX mode lets in
 * at all (and always for its owner, so that the creator's own later opens
 * reach the check below), and the POSIX mode, kept in the side file, is
 * checked here as the kernel would. */
#include "mq_internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Returns the process's umask, read without changing it when /proc tells
 * (umask(2) sets while it reads, racing other threads). */
mode_t mq_umask(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    if (f) {
        char line[256];
        while (fgets(line, sizeof(line), f)) {
            unsigned m;
            if (sscanf(line, "Umask: %o", &m) == 1) {
                fclose(f);
                return (mode_t)(m & 0777);
            }
        }
        fclose(f);
    }
    mode_t m = umask(022);
    umask(m);
    return m;
}

/* Returns the mailbox file's mode for POSIX mode m (see above). */
uint32_t mq_mbx_mode(uint32_t m)
{
    uint32_t out = 0600;
    if (m & 0060)
        out |= 0060;
    if (m & 0006)
        out |= 0006;
    return out;
}

static int in_group(gid_t g)
{
    if (getegid() == g)
        return 1;
    gid_t list[256];
    int n = getgroups(256, list);
    for (int i = 0; i < n; i++)
        if (list[i] == g)
            return 1;
    return 0;
}

/* Returns 1 when this process may open the queue for accmode under the
 * POSIX mode in the side file and the side file's owner and group (root:
 * always), else 0. */
int mq_access_ok(int side_fd, const struct mq_side *side, int accmode)
{
    if (geteuid() == 0)
        return 1;
    struct stat st;
    if (fstat(side_fd, &st) < 0)
        return 0;
    uint32_t mode = side->mode & 0777;
    uint32_t bits = geteuid() == st.st_uid ? (mode >> 6) & 7
                    : in_group(st.st_gid)  ? (mode >> 3) & 7
                                           : mode & 7;
    int need_r = accmode == O_RDONLY || accmode == O_RDWR;
    int need_w = accmode == O_WRONLY || accmode == O_RDWR;
    return (!need_r || (bits & 4)) && (!need_w || (bits & 2));
}
