/* Transports: how the mailboxes of one kind of name are reached. The core
 * (api.c) checks what every call's arguments must satisfy and calls the
 * handle's transport for the rest; a transport returns the errors mbx.h
 * documents for the call. src/shm serves local names; a new transport
 * (tcp://, udp://, nats://) is a new folder and an entry in transports.c. */
#ifndef MBX_CORE_TRANSPORT_H
#define MBX_CORE_TRANSPORT_H

#include "mbx.h"

#include <sys/types.h>

struct mbx;

/* What a receive may take (mbx_recv_select): how (MBX_SEL_*) and type,
 * and where the taken message's type goes (NULL: not wanted). */
struct mbx_sel {
    uint32_t how;
    uint64_t type;
    uint64_t *type_out;
};

/* A message sent with mbx_send_confirmed carries a token with this bit
 * set (a call's never has it): the receiving transport records who took
 * it, and the core reports reply_token 0 for it, as it is not a call. */
#define MBX_TOKEN_CONFIRM (1ull << 31)

struct mbx_transport {
    const char *scheme; /* "tcp" for "tcp://..."; "" for local names */

    /* Handles. open allocates the handle (a struct mbx first in the
     * transport's own struct), close frees it; wake makes calls blocked
     * on it look at its closing flag (mbx_close). */
    int (*open)(const char *name, int flags, const mbx_options *o, struct mbx **out);
    void (*close)(struct mbx *m);
    void (*wake)(struct mbx *m);

    /* By name. */
    int (*unlink)(const char *name);
    int (*stat_name)(const char *name, mbx_stat *st);
    int (*foreach)(int (*fn)(const char *name, void *arg), void *arg);
    int (*stat_ext_name)(const char *name, mbx_stat_ext *st); /* NULL: -ENOTSUP */

    /* On a handle; arguments checked as mbx.h says (core/api.c). */
    int (*stat)(struct mbx *m, mbx_stat *st);
    int (*stat_ext)(struct mbx *m, mbx_stat_ext *st);
    int (*sync)(struct mbx *m);
    int (*send)(struct mbx *m, const void *buf, size_t len, unsigned prio, uint64_t type,
                int64_t timeout_ns);
    ssize_t (*recv)(struct mbx *m, pid_t from, const struct mbx_sel *sel, void *buf, size_t cap,
                    mbx_msginfo *info, int64_t timeout_ns);
    ssize_t (*call)(struct mbx *m, const void *req, size_t len, unsigned prio, void *reply,
                    size_t cap, int64_t timeout_ns);
    /* NULL: -ENOTSUP. who is never NULL (the core passes its own). */
    int (*send_confirmed)(struct mbx *m, const void *buf, size_t len, unsigned prio,
                          int64_t timeout_ns, mbx_receipt *who);
    int (*transfer)(struct mbx *m, pid_t new_owner);
    int (*loan)(struct mbx *m, size_t len, void **buf);
    int (*send_loan)(struct mbx *m, void *buf, size_t len, unsigned prio, uint64_t type,
                     int64_t timeout_ns);
    ssize_t (*recv_loan)(struct mbx *m, const struct mbx_sel *sel, const void **buf,
                         mbx_msginfo *info, int64_t timeout_ns);
    int (*release)(struct mbx *m, const void *buf);

    /* Pollable descriptors (mbx_fd): the descriptor of direction dir
     * (MBX_RECV or MBX_SEND, which the handle was opened with; 0: only the
     * mailbox going away, for monitors), and for mbx_poll whether that
     * direction is ready now: 1, 2 when the mailbox is gone (removed, its
     * owner dead), or 0 after making sure the descriptor becomes readable
     * at the next change; or -errno. NULL: the transport has none
     * (-ENOTSUP). A handle opened with flags 0 (monitors only, core/
     * monitor.c) takes no right and serves only dir 0. */
    int (*fd)(struct mbx *m, int dir);
    int (*ready)(struct mbx *m, int dir);

    /* Of the local transport only: this process's own mailbox, and the
     * answer to a request (replies go to the caller's own mailbox). */
    int (*self)(struct mbx **out);
    int (*reply)(const mbx_msginfo *request, const void *buf, size_t len);
    /* Answers a request with an error: the caller's mbx_call returns err
     * (a bridge whose far side had nobody to answer). NULL: not served. */
    int (*reply_error)(const mbx_msginfo *request, int err);

    /* Counts a udp:// datagram for the mailbox behind m that was dropped
     * (full: it had no room; else refused as bad), where mbx_stat_ext
     * reports it. NULL: the transport keeps no such counts. */
    void (*count_drop)(struct mbx *m, int full);

    /* Checks the part of a name this transport reads: 0, -EINVAL or
     * -ENAMETOOLONG (before any flag or attribute is looked at). */
    int (*check_name)(const char *name);

    /* Process-wide state across fork and at exit (core/process.c); NULL:
     * none. */
    void (*fork_prepare)(void);
    void (*fork_parent)(void);
    void (*fork_child)(void);
    void (*at_exit)(void);
};

/* The transport of a name: the local one, or the one its scheme names.
 * Returns it, or NULL for a scheme no transport serves. */
const struct mbx_transport *transport_for(const char *name);

/* The transport of local names. */
const struct mbx_transport *transport_local(void);

/* The transports, NULL-terminated (mbx_foreach lists them all). */
extern const struct mbx_transport *const mbx_transports[];

#endif
