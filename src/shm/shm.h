/* The shared-memory transport (local names): its handle, and the context
 * one call on it carries down to the mailbox's kind. */
#ifndef MBX_SHM_H
#define MBX_SHM_H

#include "core/handle.h"
#include "platform/platform.h"
#include "shm/kind.h"
#include "shm/segment.h"
#include "shm/select.h"
#include "shm/wait.h"

#include <sys/types.h>

/* A handle on a local mailbox. */
struct shm_box {
    struct mbx base; /* what the core sees; first */
    struct shmfile file;
    struct seg seg;
    int anon;                 /* a process's own mailbox "@PID": a memfd without a file name */
    uint32_t uid;             /* effective uid when opened, recorded in what it sends */
    int64_t poll_ns;          /* MBX_OWNED: how often waits look at the owner */
    int64_t owner_checked_ns; /* MBX_OWNED: when a send last checked the owner */
    uint64_t recv_id;         /* MBX_RECV_EXCLUSIVE: this handle's id in its process */
    uint64_t recv_owner;      /* ... and the process that took the right with it */
    uint64_t send_id;         /* MBX_RECV_PAIR: the same for the send right */
    uint64_t send_owner;
    /* A read-only mapping of the same file, made by the first
     * mbx_recv_loan: received loans point into it, so a receiver that
     * writes through one faults instead of changing the message. */
    const unsigned char *lend_view;
    char *path; /* its file (NULL for "@PID", which has none) */
    char *dir;  /* its file's directory (NULL for "@PID") */
    /* Pollable descriptors of the handle (mbx_fd), by direction
     * (SEG_POLL_RECV, SEG_POLL_SEND; SEG_POLL_GONE for monitors):
     * poller.h. NULL until asked for. */
    struct shm_poller *poller[3];
    /* MBX_NONBLOCK calls of a ring that find a busy slot (ring.c): the
     * slot word whose holder was last found alive, when (CLOCK_MONOTONIC
     * ns), and when dead takers were last looked for. Atomics: a handle
     * may be used by several threads. */
    uint64_t nb_alive_w;
    int64_t nb_alive_at, nb_sweep_at;
    /* Bytes of the last message received by copy through this handle
     * (handle_ctx's sized spin). Atomic: threads may share the handle. */
    uint64_t last_len;
    /* Its recent spins, for wait_change (struct wait_cfg). Atomic. */
    uint32_t spins;
    /* Set (release) once call_dev, call_ino, call_k0 and call_k1 are
     * known (call.h: call_box_known). Atomic. */
    uint32_t call_known;
    /* Counted among the mailboxes this process receives from (call.c:
     * recv_boxes) while open: an MBX_RECV handle. */
    int call_recv;
    /* Its file's device and inode (fstat of its own descriptor), and the
     * key that binds the calls' tokens a receive through it hands over. */
    uint64_t call_dev, call_ino, call_k0, call_k1;
};

/* The local handle behind m (which must be one). */
static inline struct shm_box *shm_box_of(struct mbx *m)
{
    return (struct shm_box *)m;
}

/* What one call needs besides its arguments. */
struct mb_ctx {
    struct seg *s;
    struct shm_box *box; /* the handle the call came through */
    struct wait_cfg wait;
    int32_t pid; /* caller's pid and uid, recorded in what it sends */
    uint32_t uid;
    uint32_t origin; /* the sender's host (origin.h), recorded likewise */
    ident_t who;     /* caller's process identity (pid and start time) */
    /* Called whenever a wait wakes (by a wake-up or when a capped sleep of
     * wait.poll_ns ends): returns 0 to go on waiting, or a negative error
     * that ends the call (e.g. -EIDRM once a mailbox's owner died). NULL:
     * nothing to check. */
    int (*poll)(const struct mb_ctx *c);
    void *poll_arg; /* for the poll hook */
    /* Request/reply. send: stored with the message and reported as
     * mbx_msginfo.reply_token. recv: when nonzero, take only the message
     * carrying this token (the from filter is then ignored). */
    uint64_t reply_token;
    uint64_t want_token;
    /* Types (mbx_send_typed, mbx_recv_select). send: the tag stored with
     * the message. recv: which messages may be taken (sel_how, MBX_SEL_*:
     * MBX_SEL_ANY is every message, in the mailbox's order) and, when
     * type_out is not NULL, where the taken message's tag goes. */
    uint64_t send_type;
    uint32_t sel_how;
    uint64_t sel_type;
    uint64_t *type_out;
};

/* Where a heap receive that ends without a look at the queue (its lock
 * busy past the grace) says so (sets 1), or NULL: the calling thread's
 * receive through a handle points it at its own flag for the call (and a
 * signal handler's receive inside that call at its own, put back after).
 * A filtered receive's descriptor counts the messages queued as "not for
 * it" only after a look (poller.h). A thread variable, not a field of the
 * per-call context: the field cost 8 % of a heap mailbox's one-way
 * throughput. */
extern MBX_TLS int *shm_recv_unlooked;

/* The per-call context of a handle. */
struct mb_ctx handle_ctx(struct shm_box *b);

/* Sends and receives through the mailbox's kind (kind.h): arguments are
 * checked. */
static inline int mb_send(const struct mb_ctx *c, const void *buf, size_t len, unsigned prio,
                          int64_t timeout_ns)
{
    return c->s->kind->send(c, buf, len, prio, timeout_ns);
}

static inline ssize_t mb_recv(const struct mb_ctx *c, pid_t from, void *buf, size_t cap,
                              mbx_msginfo *info, int64_t timeout_ns)
{
    return c->s->kind->recv(c, from, buf, cap, info, timeout_ns);
}

/* Opens and maps the file of mailbox `name` ("@PID" included), read-only
 * or not, without making a handle; stores its path in path (NAME_PATH_MAX
 * bytes; "" for "@PID"). Returns 0 or an error of mbx_open. */
int shm_open_file(const char *name, int readonly, struct shmfile *f, char *path);

/* Removes the file behind handle b, if it still has that name (nothing for
 * a process's own mailbox, which has none). Returns 0 or -errno. */
int shm_unlink_file(struct shm_box *b);

/* The transport's operations (transport.c puts them in its table entry),
 * as core/transport.h describes them; each in the file named. */
int shm_box_open(const char *name, int flags, const mbx_options *o, struct mbx **out); /* open.c */
void shm_box_close(struct mbx *m);
int shm_box_unlink(const char *name);
int shm_stat(struct mbx *m, mbx_stat *st); /* stat.c */
int shm_stat_ext(struct mbx *m, mbx_stat_ext *st);
void shm_count_drop(struct mbx *m, int full);
int shm_stat_ext_name(const char *name, mbx_stat_ext *st);
int shm_stat_name(const char *name, mbx_stat *st);
int shm_foreach(int (*fn)(const char *name, void *arg), void *arg);
int shm_loan(struct mbx *m, size_t len, void **buf); /* loan.c */
int shm_send_loan(struct mbx *m, void *buf, size_t len, unsigned prio, uint64_t type,
                  int64_t timeout_ns);
ssize_t shm_recv_loan(struct mbx *m, const struct mbx_sel *sel, const void **buf, mbx_msginfo *info,
                      int64_t timeout_ns);
int shm_release(struct mbx *m, const void *buf);
int shm_transfer(struct mbx *m, pid_t new_owner); /* owner.c */
int shm_fd(struct mbx *m, int dir);               /* poller.c */
int shm_ready(struct mbx *m, int dir);

/* The local transport's table entry (core/transport.h). */
extern const struct mbx_transport mbx__shm_transport;

#endif
