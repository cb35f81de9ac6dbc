/* mbx ls's System V section: the queues libmbx-sysv keeps in $MBX_DIR,
 * listed like `ipcs -q` (key, id, owner, perms, used bytes, messages).
 * The state files (sysv/sysv_format.h) are written by other processes, and
 * maybe other users: each is read with pread, not mapped, and checked
 * before use; a file that is not a valid state file is left out, and so is
 * one this user may not read. */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mbx.h"
#include "sysv_format.h"
#include "sysv_ls.h"

/* Reads and checks the state file of queue id in dir. Returns 0 or -1. */
static int read_meta(const char *dir, int32_t id, struct sysv_meta *m)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/" SYSV_META_PREFIX "%d", dir, (int)id);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    int ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == SYSV_META_SIZE &&
             pread(fd, m, sizeof(*m), 0) == (ssize_t)sizeof(*m);
    close(fd);
    return ok && sysv_meta_valid(m, id) && !m->removed ? 0 : -1;
}

static void print_queue(FILE *f, int32_t id, const struct sysv_meta *m, int *header)
{
    char name[32];
    snprintf(name, sizeof(name), SYSV_BOX_PREFIX "%d", (int)id);
    mbx_stat st;
    if (mbx_stat_name(name, &st) < 0)
        return; /* removed meanwhile, or not ours to look at */
    if (!*header) {
        fprintf(f, "\nSystem V queues (libmbx-sysv):\n%-10s %-10s %-10s %-6s %-12s %s\n", "key",
                "msqid", "owner", "perms", "used-bytes", "messages");
        *header = 1;
    }
    const struct passwd *pw = getpwuid(m->uid);
    char owner[16];
    if (pw)
        snprintf(owner, sizeof(owner), "%.10s", pw->pw_name);
    else
        snprintf(owner, sizeof(owner), "%u", (unsigned)m->uid);
    fprintf(f, "0x%08x %-10d %-10s %-6o %-12" PRIu64 " %" PRIu32 "\n", (unsigned)m->key, (int)id,
            owner, (unsigned)m->mode, st.bytes, st.count);
}

void sysv_ls_print(FILE *f, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    int header = 0;
    size_t plen = strlen(SYSV_META_PREFIX);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, SYSV_META_PREFIX, plen) != 0)
            continue;
        int32_t id = sysv_parse_id(e->d_name + plen);
        struct sysv_meta m;
        if (id > 0 && read_meta(dir, id, &m) == 0)
            print_queue(f, id, &m, &header);
    }
    closedir(d);
}
