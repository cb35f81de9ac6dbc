/* What an open handle holds. Shared by the files of the public API. */
#ifndef MBX_HANDLE_H
#define MBX_HANDLE_H

#include "shm/mailbox.h"
#include "core/names.h"
#include "platform/platform.h"
#include "shm/segment.h"

#define EXPORT __attribute__((visibility("default")))

struct mbx {
    struct shmfile file;
    struct seg seg;
    int flags;
    int anon;     /* a process's own mailbox "@PID": a memfd without a file name */
    uint32_t uid; /* effective uid when opened, recorded in what it sends */
    struct sync_wait_cfg wait;
    uint32_t closing;         /* set by mbx_close: blocked calls end with -EBADF */
    int64_t owner_checked_ns; /* MBX_OWNED: when a send last checked the owner */
    uint64_t recv_id;         /* MBX_RECV_EXCLUSIVE: this handle's id in its process */
    uint64_t recv_owner;      /* ... and the process that took the right with it */
    /* A read-only mapping of the same file, made by the first
     * mbx_recv_loan: received loans point into it, so a receiver that
     * writes through one faults instead of changing the message. */
    const unsigned char *lend_view;
    char name[NAME_MAX_LEN + 1];
    char *path; /* its file (NULL for "@PID", which has none) */
};

/* The per-call context of a handle. */
struct mb_ctx handle_ctx(struct mbx *m);

/* Opens and maps the file of mailbox `name` ("@PID" included), read-only
 * or not, without making a handle; stores its path in path (NAME_PATH_MAX
 * bytes; "" for "@PID"). Returns 0 or an error of mbx_open. */
int handle_open_name(const char *name, int readonly, struct shmfile *f, char *path);

/* Removes the file behind handle m, if it still has that name (nothing for
 * a process's own mailbox, which has none). Returns 0 or -errno. */
int handle_unlink_file(struct mbx *m);

#endif
