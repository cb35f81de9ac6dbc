/* State files: one page per queue holding struct sysv_meta (the System V
 * owner and mode, msg_qbytes, the removal mark), read by every process
 * using the queue and written only by its owner's side. The file only
 * becomes reachable through its key link, made after it, so it needs no
 * temporary name. */
#include <stdatomic.h>
#include <sys/stat.h>

#include "creds.h"
#include "internal.h"

mode_t sysv_file_mode(uint32_t mode)
{
    mode_t f = 0600;
    if (mode & 0060)
        f |= 0060;
    if (mode & 0006)
        f |= 0006;
    return f;
}

mode_t sysv_meta_file_mode(uint32_t mode)
{
    return sysv_file_mode(mode) & 0644;
}

int sysv_meta_create(int32_t id, const struct sysv_meta *init)
{
    return sysv_page_create(SYSV_META_PREFIX, id, init, sizeof(*init),
                            sysv_meta_file_mode(init->mode), NULL, NULL);
}

int sysv_meta_map(int32_t id, int writable, struct sysv_meta **out)
{
    void *p;
    int rc = sysv_page_map(SYSV_META_PREFIX, id, writable, &p);
    if (rc < 0)
        return rc;
    struct sysv_meta *m = p;
    if (!sysv_meta_valid(m, id)) {
        sysv_page_unmap(p);
        return -EUCLEAN;
    }
    if (atomic_load((_Atomic uint32_t *)&m->removed)) {
        sysv_page_unmap(p);
        return -ENOENT;
    }
    *out = m;
    return 0;
}

int sysv_files_owner(int32_t id)
{
    char path[4200];
    struct stat st;
    if (sysv_page_path(path, sizeof(path), SYSV_META_PREFIX, id) < 0 || lstat(path, &st) < 0)
        return 0;
    return sysv_creds.euid == 0 || st.st_uid == sysv_creds.euid;
}
