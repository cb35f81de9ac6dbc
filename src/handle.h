/* What an open handle holds. Shared by the files of the public API. */
#ifndef MBX_HANDLE_H
#define MBX_HANDLE_H

#include "mailbox.h"
#include "names.h"
#include "platform/linux/shmfile.h"
#include "segment.h"

#define EXPORT __attribute__((visibility("default")))

struct mbx {
    struct shmfile file;
    struct seg seg;
    int flags;
    uint32_t uid; /* effective uid when opened, recorded in what it sends */
    struct sync_wait_cfg wait;
    int64_t owner_checked_ns; /* MBX_OWNED: when a send last checked the owner */
    uint64_t recv_id;         /* MBX_RECV_EXCLUSIVE: this handle's id in its process */
    /* A read-only mapping of the same file, made by the first
     * mbx_recv_loan: received loans point into it, so a receiver that
     * writes through one faults instead of changing the message. */
    const unsigned char *lend_view;
    char name[NAME_MAX_LEN + 1];
};

/* Checks a mailbox name, writes its file's path into path (NAME_PATH_MAX
 * bytes) and opens and maps the file. Returns 0 or an error of name_check,
 * name_path or shmfile_open (-ENOENT, -EACCES, ...). */
int handle_open_name(const char *name, int readonly, char *path, struct shmfile *f);

/* The per-call context of a handle. */
struct mb_ctx handle_ctx(struct mbx *m);

#endif
