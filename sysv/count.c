/* Every queue of the mailbox directory, for MSG_INFO: its state files,
 * those marked removed left out, and what their mailboxes hold. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int sysv_count_queues(int *queues, int *messages, int *bytes)
{
    const char *dir = getenv("MBX_DIR");
    DIR *d = opendir(dir && *dir ? dir : "/dev/shm");
    if (!d)
        return -errno;
    uint64_t nq = 0, nm = 0, nb = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t plen = strlen(SYSV_META_PREFIX);
        if (strncmp(e->d_name, SYSV_META_PREFIX, plen) != 0)
            continue;
        int32_t id = sysv_parse_id(e->d_name + plen);
        if (id < 0)
            continue;
        /* A queue marked removed is gone, though its files may stay (its
         * remover could not delete another user's: sysv_queue_remove). */
        struct sysv_meta *meta;
        int rc = sysv_meta_map(id, 0, &meta);
        if (rc == -ENOENT)
            continue;
        sysv_page_unmap(rc == 0 ? meta : NULL);
        char name[32];
        sysv_box_name(name, sizeof(name), id);
        mbx_stat st;
        if (mbx_stat_name(name, &st) < 0)
            continue;
        nq++;
        nm += st.count;
        nb += st.bytes;
    }
    closedir(d);
    *queues = (int)(nq > INT32_MAX ? INT32_MAX : nq);
    *messages = (int)(nm > INT32_MAX ? INT32_MAX : nm);
    *bytes = (int)(nb > INT32_MAX ? INT32_MAX : nb);
    return 0;
}
