/* Header fields of the message-passing model (#3): who owns a mailbox, who
 * holds its exclusive receive right, and who took the calls its process is
 * waiting on. They live in struct seg_hdr; every field is guarded by the
 * mailbox lock and is untrusted when read.
 */
#ifndef MBX_SEG_MODEL_H
#define MBX_SEG_MODEL_H

#include <stdint.h>

/* A process that cannot be confused with a later one reusing its pid: pid
 * plus start time (clock ticks since boot, field 22 of /proc/PID/stat).
 * pid 0: nobody. */
struct seg_proc {
    int32_t pid;
    uint32_t pad;
    uint64_t start;
};

/* One call the mailbox's owner process waits on: its token, and the process
 * that took the request (pid 0 until one did; low 32 bits of its start). */
struct seg_call {
    uint64_t token;
    int32_t taker_pid;
    uint32_t taker_start;
};

#define SEG_CALLS 12u

struct seg_model {
    struct seg_proc owner;         /* MBX_OWNED: the owning process */
    struct seg_proc pending_owner; /* mbx_transfer target until it opens */
    struct seg_proc receiver;      /* MBX_RECV_EXCLUSIVE: the holder's process */
    uint64_t receiver_handle;      /* ... and its handle, unique in that process */
    struct seg_call calls[SEG_CALLS];
    uint64_t spare;
};
_Static_assert(sizeof(struct seg_model) == 256, "model fields fill their reserved room");

#endif
