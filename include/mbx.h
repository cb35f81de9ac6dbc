/* mbx: message passing through mailboxes in shared memory.
 *
 * This header and the manual pages are the contract. All functions return 0
 * (or a byte count) on success and a negative errno value on failure; none of
 * them prints, exits or touches errno as a return channel.
 *
 * Threads: a handle may be used by several threads at once. Any number of
 * threads may send, receive, call, loan and release on one handle at the
 * same time (each message is still taken by one receive), and mbx_self
 * gives every thread of a process the same handle. A stream is the
 * exception: one thread per direction at a time; a second thread's
 * mbx_send (or mbx_recv) on it while another is inside one returns -EBUSY
 * at once. mbx_close while other threads are blocked in calls on the
 * handle wakes those calls (they return -EBADF) and waits for them to
 * leave; starting a call on a handle that is being or has been closed is
 * undefined, as for free().
 *
 * Fork: a forked child may call the library at once, whatever the parent's
 * other threads were doing (their calls do not continue in the child), and
 * may keep using the handles it inherited, except for what belongs to the
 * parent process: receiving on an inherited MBX_RECV_EXCLUSIVE handle, or
 * on an MBX_OWNED mailbox the parent owns, returns -EACCES (a stream's send
 * and receive rights also stay with the parent, but the child may use an
 * inherited stream handle). "@PID" is per process: the child's mbx_self is
 * its own mailbox, and replies to its mbx_call come there. The child's
 * close or exit never removes the parent's MBX_OWNED mailboxes. Pollable
 * descriptors: the child gets its own from mbx_fd (the copy it inherited is
 * closed then); exec closes them. Monitors belong to the process that made
 * them: inherited ones never fire in the child, which sends no notice for
 * them (it may cancel them: that frees its copies and leaves the parent's
 * monitors as they were).
 *
 * Signals: mbx_send and mbx_recv (and the loan calls) may be called from a
 * signal handler on a handle opened before. If the handler interrupted a
 * call on the same heap mailbox that held its lock, the call in the
 * handler returns -EAGAIN (MBX_NONBLOCK) or -EDEADLK instead of waiting
 * for itself.
 *
 * Locks: the few operations that take a mailbox's lock (the heap kind's
 * send, receive and loans) wait for it no longer than their timeout
 * (MBX_NONBLOCK: 2 ms), whatever a peer holding it does; calls without a
 * timeout (mbx_open, mbx_release) wait at most 1 s, then -ETIMEDOUT.
 */
#ifndef MBX_H
#define MBX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of this header; mbx_version() says the library's. The
 * library's soname changes (libmbx.so.0, .1, ...) whenever the ABI breaks;
 * within one soname, structs only grow at their end, behind a size field
 * (mbx_options, mbx_stat_ext), and nothing is removed. */
#define MBX_VERSION_MAJOR 0
#define MBX_VERSION_MINOR 2
#define MBX_VERSION_PATCH 0

typedef struct mbx mbx; /* an open handle */

#define MBX_NONBLOCK   ((int64_t)0)
#define MBX_FOREVER    ((int64_t)-1)
#define MBX_RENDEZVOUS 0u         /* capacity 0: send returns once a receiver took it */
#define MBX_UNBOUNDED  UINT32_MAX /* capacity grows until attr.memory_limit */
#define MBX_PRIO_MAX   32768u     /* priorities are 0 .. MBX_PRIO_MAX-1, higher first */

enum mbx_recv_policy {
    MBX_RECV_ANY = 0,         /* any receiver may take the next message */
    MBX_RECV_EXCLUSIVE = 1,   /* at most one handle open with MBX_RECV at a time */
    MBX_RECV_ROUND_ROBIN = 2, /* waiting receivers are served in turn, fairly */
    MBX_RECV_PAIR = 3,        /* a link of two: one handle open with MBX_SEND and one with
                                 MBX_RECV at a time; others get -EBUSY until one goes */
};

/* open flags */
#define MBX_SEND   0x01
#define MBX_RECV   0x02
#define MBX_CREATE 0x04
#define MBX_EXCL   0x08 /* with MBX_CREATE: fail with -EEXIST if it exists */
#define MBX_OWNED  0x10 /* with MBX_CREATE: owned by this process */
#define MBX_STREAM 0x20 /* with MBX_CREATE: byte stream, like a pipe */
#define MBX_SHARED 0x40 /* accept a mailbox whose file another user owns (see mbx_open) */

typedef struct mbx_attr {
    uint64_t max_msg_size; /* default 8192; 1 .. 1 GiB */
    uint32_t capacity;     /* messages; default 64; MBX_RENDEZVOUS; MBX_UNBOUNDED */
    uint32_t recv_policy;  /* enum mbx_recv_policy; default MBX_RECV_ANY */
    uint32_t mode;         /* permission bits of the backing file; default 0600 */
    uint64_t memory_limit; /* bytes of message storage; default 1 GiB (a bounded
                              mailbox holds no more messages than fit in it,
                              and always one) */
} mbx_attr;

/* The kind of a local mailbox: how its messages are kept. */
enum mbx_kind {
    MBX_KIND_AUTO = 0,   /* ring when the attributes allow, else heap (or stream) */
    MBX_KIND_RING = 1,   /* a ring of slots, lock-free: capacity 1..1024, see README */
    MBX_KIND_HEAP = 2,   /* arena blocks under a lock: any size and capacity */
    MBX_KIND_STREAM = 3, /* a byte stream (MBX_STREAM) */
};

/* Everything mbx_open takes and what came after it, for mbx_open_opts.
 * size is sizeof(mbx_options) as the program was compiled (mbx_options_init
 * sets it): the library reads only fields within it, and later versions
 * only add fields at the end. */
typedef struct mbx_options {
    uint32_t size;
    uint32_t kind; /* enum mbx_kind; MBX_KIND_AUTO by default */
    mbx_attr attr; /* read with MBX_CREATE, as mbx_open's attr */
    /* 1: map every page of the mailbox's storage into this process at open
     * and give the file storage under it (a ring's slots and pool up to
     * 64 MiB: all of it then stays in memory; a heap's first 64 MiB), so
     * that no message pays for the first touch of its slot; each process
     * that wants it asks for it (or sets MBX_PREFAULT=1). Local mailboxes
     * only; best effort: what cannot be had comes at first use, as
     * without it. 0 by default. */
    uint32_t prefault;
} mbx_options;

typedef struct mbx_msginfo {
    uint64_t size; /* bytes in the message */
    uint32_t priority;
    int32_t sender_pid;
    uint32_t sender_uid;
    /* 0: sent on the mailbox's machine. Else a tcp:// or udp:// gateway
     * of that machine delivered it for a sender on another host (then
     * sender_pid and sender_uid are the gateway's), which
     * mbx_msginfo_host() names. */
    uint32_t sender_host;
    uint64_t seq;         /* position in the mailbox's send order, from 1 */
    uint64_t reply_token; /* nonzero when the sender waits in mbx_call() */
} mbx_msginfo;

typedef struct mbx_stat {
    char name[208];
    uint64_t max_msg_size;
    uint32_t capacity, recv_policy, mode, flags; /* flags: MBX_OWNED, MBX_STREAM */
    uint32_t uid, gid;
    int32_t owner_pid; /* 0 when owned by the system */
    uint32_t count;    /* messages queued now */
    uint64_t bytes;    /* payload bytes queued now */
    uint32_t senders_waiting, receivers_waiting;
    uint64_t sent_total, received_total;
    uint32_t repairs; /* extension: repairs made after a process died mid-operation */
} mbx_stat;

/* Statistics that came after mbx_stat, on mbx_options' rule: set size to
 * sizeof(mbx_stat_ext) before calling mbx_stat_ext_get. */
typedef struct mbx_stat_ext {
    uint32_t size;
    uint32_t kind;           /* enum mbx_kind of the mailbox */
    uint32_t layout_version; /* of its shared memory (this build makes 5, and 6 for
                                a ring of large slots with a pool) */
    uint32_t reserved;
    /* udp:// datagrams for this mailbox that its receiving gateway (or a
     * sender on the same machine, bypassing it) dropped, since it was
     * made: the mailbox was full; or the datagram was refused (a replay or
     * a stale clock, larger than max_msg_size; a wrong authenticator while
     * the gateway held the mailbox open: a forged datagram opens none). */
    uint64_t udp_dropped_full;
    uint64_t udp_dropped_bad;
} mbx_stat_ext;

/* Returns the library's version, "MAJOR.MINOR.PATCH" (a static string). */
const char *mbx_version(void);

/* Fills *attr with the defaults. Never fails. */
void mbx_attr_init(mbx_attr *attr);

/* Fills *opts with the defaults (attr as mbx_attr_init, kind AUTO) and its
 * size. Never fails. */
void mbx_options_init(mbx_options *opts);

/* Returns a static English description of a value returned by this library
 * (negative or positive errno); never NULL. A value no errno names gets
 * "unknown error N" in a buffer of the calling thread, which its next such
 * call overwrites. */
const char *mbx_strerror(int err);

/* Names. "NAME" ([A-Za-z0-9._-], 1..200 bytes, not starting with '.') is
 * the file $MBX_DIR/mbx.NAME ($MBX_DIR: /dev/shm when unset). "/DIR/NAME"
 * carries its own directory, an absolute path whose components use the
 * same characters (none empty, "." or ".."): the file /DIR/mbx.NAME,
 * whatever $MBX_DIR says (up to 4000 bytes in all). "@PID" is process
 * PID's own mailbox (mbx_self); "tcp://...", "tls://...", "udp://..." and
 * (in builds with NATS) "nats://HOST:PORT/NAME" name other transports. */

/* Opens mailbox `name` with `flags` (MBX_SEND and/or MBX_RECV, plus MBX_CREATE,
 * MBX_EXCL, MBX_OWNED, MBX_STREAM, MBX_SHARED) and stores a new handle in
 * *out. MBX_CREATE without MBX_EXCL opens an existing mailbox as it is
 * (attr is then not used, as with mq_open).
 *
 * MBX_OWNED (with MBX_CREATE) makes the creating process the owner: only
 * it receives, and the mailbox is removed (senders get -EIDRM) when the
 * owner closes its last handle on it, exits, or dies in any way (kill -9:
 * whoever next waits on, opens or lists it notices); mbx_transfer passes it
 * on.
 *
 * An existing mailbox whose file belongs to another user (not root) is
 * refused with -EACCES unless flags has MBX_SHARED: a program never
 * silently adopts a mailbox another user created under the name it meant
 * for its own. "@PID" names the process's own mailbox, which only that
 * process's user (and root) can open.
 *
 * Returns 0, or -EINVAL (bad name, flags or attr), -ENAMETOOLONG, -ENOENT
 * (missing, no MBX_CREATE), -EEXIST (MBX_CREATE|MBX_EXCL on an existing one),
 * -EACCES (permission; another user's file without MBX_SHARED; MBX_RECV on
 * a mailbox owned by another process; MBX_CREATE of "@PID" by another
 * process), -EBUSY (MBX_RECV_EXCLUSIVE receive right held by another open
 * handle; on a stream, the send or receive right), -EINVAL also for a
 * stream whose capacity is MBX_RENDEZVOUS or MBX_UNBOUNDED, -EUCLEAN (the
 * file is not a valid mailbox: not a regular file, a symbolic link,
 * damaged), -EPROTO (other layout version), -EXDEV (the mailbox is in use
 * in another PID namespace), -ETIMEDOUT (a peer held the mailbox's reset
 * after a reboot for 1 s), -EPROTONOSUPPORT (a scheme no transport of this
 * build serves: nats:// without NATS, or an unknown one), -ENOMEM, or an
 * errno of the file system; over tcp:// also the link's errors and the
 * gateway's refusals (-EUSERS: all of its 1024 sessions have a connection;
 * the README's error table lists them). */
int mbx_open(const char *name, int flags, const mbx_attr *attr, mbx **out);

/* Like mbx_open, with options (NULL: the defaults). opts->kind picks the
 * kind of a new local mailbox: -EINVAL when the attributes do not allow it
 * (a ring of 2000 slots), or when opts->size is too small to hold attr.
 * The kind is also what $MBX_QUEUE=heap asks for when kind is AUTO. */
int mbx_open_opts(const char *name, int flags, const mbx_options *opts, mbx **out);

/* Closes a handle and frees it; the mailbox itself stays, unless this was
 * its owner's last handle on an MBX_OWNED mailbox. Calls blocked on the
 * handle in other threads return -EBADF first. Returns 0, or -EINVAL for
 * NULL. */
int mbx_close(mbx *m);

/* Removes the mailbox `name`: its name goes first, then queued messages are
 * discarded and every call on a handle to it, blocked ones included,
 * returns -EIDRM. When the name cannot be removed nothing changes. Returns
 * 0, or -EINVAL/-ENAMETOOLONG (bad name), -ENOENT, -EACCES, -EPERM (a
 * sticky directory such as /dev/shm: another user's mailbox). */
int mbx_unlink(const char *name);

/* Flushes a mailbox on a disk MBX_DIR to its file. Returns 0, -EINVAL, -EIDRM
 * or the errno of msync. */
int mbx_sync(mbx *m);

/* Fills *st with a snapshot of the mailbox behind the handle (after a
 * sender killed holding a heap mailbox's lock, it repairs first, so
 * sent_total counts what the mailbox delivers: mbx_stat(3)). Returns 0,
 * -EINVAL, -EIDRM or -EUCLEAN. */
int mbx_stat_get(mbx *m, mbx_stat *st);

/* Fills *st (st->size set by the caller; fields past it are not written)
 * with the extended statistics of the mailbox behind the handle. Returns
 * 0, -EINVAL (NULL, or st->size below 4) or -EIDRM. */
int mbx_stat_ext_get(mbx *m, mbx_stat_ext *st);

/* Like mbx_stat_get for the mailbox called `name`, without opening it for
 * sending or receiving. Returns 0, -EINVAL, -ENOENT, -EACCES or -EUCLEAN. */
int mbx_stat_name(const char *name, mbx_stat *st);

/* Like mbx_stat_ext_get for the local mailbox called `name`, without
 * opening it for sending or receiving (st->size as there). Returns 0,
 * -EINVAL, -ENOENT, -EACCES, -EUCLEAN, or -ENOTSUP for a name of another
 * transport (tcp://, udp://). */
int mbx_stat_ext_name(const char *name, mbx_stat_ext *st);

/* Calls fn(name, arg) for every mailbox in $MBX_DIR. Returns 0 after the
 * last, the first nonzero value fn returned, -EINVAL for a NULL fn, or the
 * errno of opendir. */
int mbx_foreach(int (*fn)(const char *name, void *arg), void *arg);

/* Queues a copy of len bytes at priority prio. Returns 0; -EBADF (no
 * MBX_SEND, or the handle was closed meanwhile), -EMSGSIZE (len >
 * max_msg_size), -EINVAL (bad prio, NULL buf with len > 0), -EAGAIN (full,
 * MBX_NONBLOCK), -ETIMEDOUT, -EINTR, -ENOSPC (unbounded mailbox past its
 * memory_limit, or a full file system), -EIDRM (removed), -EUCLEAN,
 * -EDEADLK (see Signals above), and on a rendezvous mailbox -EINPROGRESS:
 * the time was up but a peer held the lock, so the message could not be
 * withdrawn and may still be taken.
 * On a stream, appends len bytes (any len; prio ignored): up to the buffer
 * size all or nothing, longer in pieces, and an error midway leaves the
 * pieces written queued (docs/streams.md); -EBUSY when another thread is
 * sending on it. */
int mbx_send(mbx *m, const void *buf, size_t len, unsigned prio, int64_t timeout_ns);

/* Takes the oldest message of the highest priority into buf and returns its
 * size. -EMSGSIZE when cap is too small (the message stays queued and
 * info->size says how much room it needs); -EBADF (no MBX_RECV, or the
 * handle was closed meanwhile), -EACCES (an owned mailbox whose receive
 * right this process does not hold; an MBX_RECV_EXCLUSIVE handle a forked
 * child inherited), -EAGAIN (empty, MBX_NONBLOCK), -ETIMEDOUT, -EINTR,
 * -EIDRM, -EUCLEAN, -EDEADLK. On a stream, returns 1..cap bytes, or 0 at
 * end of stream. */
ssize_t mbx_recv(mbx *m, void *buf, size_t cap, mbx_msginfo *info, int64_t timeout_ns);

/* Stores this process's own mailbox "@PID" (created on first use, owned by
 * the process; capacity 64, messages and call replies up to 1 MiB) in *out; every call in a process
 * stores the same handle, a forked child gets its own. The handle belongs to the library: do not
 * close it. The mailbox has no file name (it is found through /proc/PID/fd, open to the process's
 * own user and root), so nobody can take the name first and none is left behind by a crash. Returns
 * 0, -EINVAL (NULL out) or an error of mbx_open. */
int mbx_self(mbx **out);

/* Writes into buf (cap bytes, NUL included) the host a message came from,
 * as the gateway that delivered it saw the sender's address ("10.0.0.5",
 * "fd00::5"), when info->sender_host says it came from another host.
 * Returns 1 with the host written, 0 for a message sent on the mailbox's
 * machine (buf ""), or -EINVAL (NULL info or buf, cap 0), -ENOENT (the
 * gateway's process ended, or its table gave the place to another host
 * since: it keeps the last 1024), -EACCES (the gateway's table is not a
 * file of sender_uid alone), -EUCLEAN (not a table), -ERANGE (cap too
 * small; 64 is always enough) or another error of opening the table
 * (-EMFILE...). Looks the table up in $MBX_DIR. Like the
 * sender's pid and uid, the host is what the message's sender wrote into
 * the mailbox: whoever can write the mailbox can claim another. */
int mbx_msginfo_host(const mbx_msginfo *info, char *buf, size_t cap);

/* Like mbx_recv, but takes only messages sent by process `sender`. */
ssize_t mbx_recv_from(mbx *m, pid_t sender, void *buf, size_t cap, mbx_msginfo *info,
                      int64_t timeout_ns);

/* Sends req with a reply token and waits for the reply; timeout_ns covers
 * both. Returns the reply's size; errors of mbx_send (-EAGAIN when the
 * mailbox is full and timeout_ns is MBX_NONBLOCK); -EMSGSIZE also when the
 * reply exceeds cap (it is discarded), or at once when the server's reply
 * is larger than the caller's own mailbox takes (its mbx_reply said
 * -EMSGSIZE); -ETIMEDOUT, -EINTR (a request
 * nobody took by then is taken back: it is never delivered; one taken
 * stays taken, and its reply is dropped); -EPIPE when the
 * process that took the request terminated before replying (one killed
 * in the middle of the take never had it: the request is sent again and
 * the call waits on); -EIDRM when the
 * mailbox was removed before anyone took it. The reply comes to the
 * caller's own mailbox "@PID", which only the caller's user (and root) can
 * open: a server of another user cannot answer (its mbx_reply says
 * -EACCES); see docs/model.md for request/reply between users. */
ssize_t mbx_call(mbx *m, const void *req, size_t len, unsigned prio, void *reply, size_t cap,
                 int64_t timeout_ns);

/* Who took a message sent with mbx_send_confirmed. */
typedef struct mbx_receipt {
    int32_t taker_pid;  /* the receiving process, a pid on taker_host's machine */
    uint32_t taker_uid; /* its user there */
    /* "" when it is on this machine; for a tcp:// name, the HOST:PORT the
     * name gave (the gateway's machine). */
    char taker_host[256];
} mbx_receipt;

/* Sends like mbx_send, then waits until a receiver has taken the message
 * (received it, or borrowed it with mbx_recv_loan) from the mailbox,
 * whatever its capacity, and stores who took it in *who (may be NULL);
 * timeout_ns covers both. Returns 0 once taken; the errors of mbx_send;
 * -ETIMEDOUT (-EAGAIN for MBX_NONBLOCK), -EINTR or -EBADF (a close) when
 * nobody took it by then: the message was taken back and is never
 * delivered; -EINPROGRESS when the time was up while a receiver was in the
 * middle of taking it (it was not taken back and may still be delivered);
 * -EIDRM when the mailbox was removed before anyone took it; -ENOTSUP on a
 * stream or a transport without receipts. A receiver that dies after taking
 * the message but before its receive returns leaves it to the next
 * receiver (a crash repair puts it back); the receipt names the first. */
int mbx_send_confirmed(mbx *m, const void *buf, size_t len, unsigned prio, int64_t timeout_ns,
                       mbx_receipt *who);

/* Answers the request described by *request (from mbx_recv). Returns 0,
 * -EINVAL (no reply token), -ESRCH (the caller gave up or died; a death
 * is looked for at most every 50 ms, as sends to an owned mailbox look for
 * the owner's), -EACCES (the caller is another user), -EMSGSIZE (larger than the caller's
 * mailbox takes; the caller's mbx_call then says -EMSGSIZE too), -EAGAIN (the caller's mailbox
 * stayed full, or its lock taken, for 100 ms, or at once when the caller
 * holds the lock under which its mailbox, marked as of another boot,
 * would be reset: the reply may be sent again
 * while the caller waits, also over tcp://), -EUCLEAN; for a request taken over tcp://,
 * -ENOTCONN (the link was lost after the reply went and did not come back
 * within 5 s: it may have been delivered) or -ETIMEDOUT (no link: not
 * sent). */
int mbx_reply(const mbx_msginfo *request, const void *buf, size_t len);

/* A request can be answered (mbx_reply) by the process that received it
 * and by its forked children: the reply token a receive hands out is bound
 * under a secret of the process, drawn when the library is loaded. To let
 * a program it starts (exec) answer too, give that program the secret:
 * mbx_reply_secret writes it (16 bytes) into secret; the program calls
 * mbx_reply_secret_set with it first thing, before it opens a mailbox to
 * receive or makes a call, then opens the mailbox with MBX_RECV and
 * answers the tokens it is given. Hand it over a pipe or another
 * inherited descriptor, never on the command line or in the environment
 * (other local users read /proc/PID/cmdline). Keep the secret as private
 * as the process: whoever has it and may receive from a mailbox can answer the
 * requests this process received there. mbx_reply_secret returns 0, or
 * -EINVAL (secret NULL). mbx_reply_secret_set returns 0, -EINVAL (secret
 * NULL), or -EBUSY when this process has already opened a mailbox to
 * receive or made a call (tokens were bound under its own secret). */
int mbx_reply_secret(unsigned char secret[16]);
int mbx_reply_secret_set(const unsigned char secret[16]);

/* Passes ownership and the receive right of an MBX_OWNED mailbox to the live
 * process new_owner of the same user, which becomes the owner when it opens
 * the mailbox with MBX_RECV; the caller's receives say -EACCES from now on.
 * new_owner == getpid() calls a pending transfer off. Returns 0, -EINVAL (NULL
 * handle, pid <= 0, mailbox not owned), -EPERM (not the owner, or another
 * user), -ESRCH (no such process), -EIDRM, -EUCLEAN. */
int mbx_transfer(mbx *m, pid_t new_owner);

/* Zero copy: mbx_loan stores in *buf a writable buffer of len bytes inside the
 * mailbox; mbx_send_loan queues it without copying; mbx_recv_loan stores a
 * read-only pointer to the next message in *buf and returns its size, valid
 * until mbx_release. The received message is mapped read-only (a second
 * mapping per handle, made by its first mbx_recv_loan): writing through it
 * faults. Errors as mbx_send / mbx_recv, -ENOMEM when that mapping cannot be
 * made, and -EINVAL for a buffer that is not a loan of this handle. */
int mbx_loan(mbx *m, size_t len, void **buf);
int mbx_send_loan(mbx *m, void *buf, size_t len, unsigned prio, int64_t timeout_ns);
ssize_t mbx_recv_loan(mbx *m, const void **buf, mbx_msginfo *info, int64_t timeout_ns);
int mbx_release(mbx *m, const void *buf);

/* ---- types: selective receive ---- */

/* What mbx_recv_select may take. */
#define MBX_SEL_ANY 0 /* any message, in the mailbox's order (mbx_recv) */
#define MBX_SEL_EQ  1 /* the first message of exactly type `type` */
#define MBX_SEL_LE  2 /* the first message of the lowest type <= `type` */
#define MBX_SEL_NE  3 /* the first message not of type `type` */
/* OR-ed into any of the above: take only messages whose type is
 * 1..INT64_MAX, the types System V can hold (libmbx-sysv's msgrcv uses
 * it); those of type 0 or above INT64_MAX are never taken and stay queued
 * in their places. With MBX_SEL_LE: the lowest such type <= `type`. */
#define MBX_SEL_SYSV 0x100

/* Like mbx_send, and the message carries the 64-bit type tag `type`
 * (mbx_send and the other calls send type 0). On a stream, type must be
 * 0 (-EINVAL). Returns what mbx_send returns. */
int mbx_send_typed(mbx *m, const void *buf, size_t len, unsigned prio, uint64_t type,
                   int64_t timeout_ns);

/* Like mbx_recv, but takes only a message that `how` and `type` select
 * (MBX_SEL_*; the others stay queued in order): "first" is the mailbox's
 * order, the highest priority, then the oldest; MBX_SEL_LE takes the lowest
 * type first, then that order, as System V's negative msgtyp does. The
 * taken message's type is stored in *type_out (NULL: not wanted). A
 * receive that selects looks past the messages it does not take: up to
 * the capacity (a ring: its slots; a heap: its whole queue, under its
 * lock), so its cost grows with what is queued; receives that do not
 * select pay nothing for types. Round-robin mailboxes: a selecting receive
 * takes no turn. -EINVAL for a how that is not an MBX_SEL_* value, alone
 * or with MBX_SEL_SYSV, or a selection on a stream (MBX_SEL_ANY |
 * MBX_SEL_SYSV too); -ENOTSUP for MBX_SEL_SYSV over tcp:// and tls://
 * (gateways do not know it); otherwise what mbx_recv returns (-EAGAIN:
 * nothing selected). */
ssize_t mbx_recv_select(mbx *m, int how, uint64_t type, void *buf, size_t cap, mbx_msginfo *info,
                        uint64_t *type_out, int64_t timeout_ns);

/* Loans with types: mbx_send_loan with a type tag, and mbx_recv_loan of a
 * message that how and type select. As mbx_send_loan / mbx_recv_loan. */
int mbx_send_loan_typed(mbx *m, void *buf, size_t len, unsigned prio, uint64_t type,
                        int64_t timeout_ns);
ssize_t mbx_recv_loan_select(mbx *m, int how, uint64_t type, const void **buf, mbx_msginfo *info,
                             uint64_t *type_out, int64_t timeout_ns);

/* ---- event loops ---- */

/* Returns a descriptor that is readable while handle m has something to
 * do in direction dir: MBX_RECV, a message (or on a stream, bytes or the
 * end) to receive; MBX_SEND, room to send (a ring slot, capacity and
 * arena room; on a stream half the buffer, or after a send that found no
 * room, room for it; on a rendezvous mailbox, a receiver waiting). Both
 * are signalled by reading: wait for POLLIN / EPOLLIN on either.
 * Level-triggered: it stays readable until a call of that direction on m
 * finds nothing to do (-EAGAIN, -ETIMEDOUT) or empties the mailbox, so a
 * missed wake-up never hangs a loop; in EPOLLET mode, call until -EAGAIN
 * before waiting again. It may report a mailbox that stays empty at most
 * once per change made by another handle (a message another receiver took
 * first), at most twice per datagram someone with write access sends it,
 * and every 50 ms while such a peer holds all 48 poller entries of the
 * mailbox (nobody can then tell this descriptor of a change: it looks by
 * itself that often, and a message waits up to 50 ms to be reported). The
 * mailbox's removal and its owner's death make it readable for good: the
 * next call says -EIDRM. Calls nobody polls make no system call; with a
 * descriptor armed, one per transition from nothing to do to something.
 * The descriptor belongs to the handle (do not close it; mbx_close does)
 * and is the same on every call; a forked child gets its own from
 * mbx_fd (the copy it inherited is closed then), and exec closes it.
 * Returns the descriptor, or -EINVAL (NULL handle, dir not
 * exactly MBX_RECV or MBX_SEND), -EBADF (the handle was not opened for
 * dir), -EUSERS (the mailbox has 48 pollers already), -EIDRM, -ENOTSUP
 * (a transport without descriptors), -EMFILE, -ENFILE, -ENOMEM. */
int mbx_fd(mbx *m, int dir);

/* One entry of mbx_poll: a mailbox handle (fd ignored) or, with mbox NULL,
 * an ordinary descriptor. events: POLLIN (a message to receive /
 * readable), POLLOUT (room to send / writable), from <poll.h>. revents:
 * what is ready; for a mailbox also POLLHUP when it was removed or its
 * owner died (its next call says -EIDRM), POLLNVAL when the handle was
 * not opened for an event asked for. */
typedef struct mbx_pollitem {
    mbx *mbox;
    int fd;
    short events;
    short revents;
} mbx_pollitem;

/* Waits until at least one item is ready, or timeout_ns (MBX_NONBLOCK:
 * just look; MBX_FOREVER) passes. Mailboxes are looked at in shared
 * memory first: no system call when one is ready already. Returns how many
 * items have revents set, 0 when the time ran out, -EINVAL (NULL items
 * with n > 0, an item with neither mbox nor fd >= 0), -EINTR, -ENOMEM, or
 * an error of mbx_fd. */
int mbx_poll(mbx_pollitem *items, size_t n, int64_t timeout_ns);

/* ---- death notices ---- */

/* A monitor asks for one notice when a process or a mailbox goes away. */
typedef struct mbx_monitor mbx_monitor;

#define MBX_NOTICE_MAGIC 0x4e58424du /* "MBXN", first word of a notice message */

enum mbx_notice_kind {
    MBX_NOTICE_PROCESS = 1, /* the process ended (exit, signal, kill -9: any means) */
    MBX_NOTICE_MAILBOX = 2, /* the mailbox was removed (mbx_unlink, its owner's death) */
};

enum mbx_notice_reason {
    MBX_GONE_NOW = 1,     /* went away while monitored */
    MBX_GONE_ALREADY = 2, /* was gone (or never was) when the monitor was made */
};

/* A notice, as the message a monitor sends and as mbx_monitor_fired
 * reports it. */
typedef struct mbx_notice {
    uint32_t magic;  /* MBX_NOTICE_MAGIC */
    uint32_t kind;   /* enum mbx_notice_kind */
    uint32_t reason; /* enum mbx_notice_reason */
    int32_t pid;     /* MBX_NOTICE_PROCESS: the process */
    uint64_t tag;    /* the caller's, from the monitor call */
    char name[208];  /* MBX_NOTICE_MAILBOX: the mailbox's name */
} mbx_notice;

/* Monitors process pid: when it ends, by any means, a notice (an
 * mbx_notice, sizeof(mbx_notice) bytes at priority 0) is sent to `notify`
 * (a handle opened with MBX_SEND; NULL: none) and the monitor's descriptor
 * (mbx_monitor_fd) becomes readable. Exactly one notice per monitor, also
 * when the process was already gone (reason MBX_GONE_ALREADY, at once).
 * The pid names the process living now; it is watched through a pidfd, so
 * a later process given the same pid is never mistaken for it (kernels
 * without pidfd, before 5.3: looked at every 50 ms instead). When notify is
 * full the notice is sent as soon as it has room; a notify mailbox that
 * was removed, or a notify handle closed before the monitor fires, gets
 * none (the descriptor still fires). No daemon: a thread
 * of the calling process watches, started by the first monitor. Monitors
 * are the process's own: a forked child's copies never fire. Stores the
 * monitor in *out. Returns 0, -EINVAL (pid <= 0, NULL out, notify not
 * opened with MBX_SEND), -EMSGSIZE (notify's messages are smaller than an
 * mbx_notice), -EIDRM (notify was removed already), -ENOMEM, -EMFILE,
 * -EAGAIN (no thread). */
int mbx_monitor_process(pid_t pid, mbx *notify, uint64_t tag, mbx_monitor **out);

/* Monitors the mailbox `name` (which the caller must be able to open for
 * sending): a notice when it is removed, by mbx_unlink or because its
 * owner died (MBX_OWNED), as mbx_monitor_process says; MBX_GONE_ALREADY
 * when it does not exist. Returns 0, -EINVAL, -EACCES, -ENOMEM, -EMFILE,
 * -EUSERS (48 descriptors, pollers and mailbox monitors together, wait
 * on it already), -EAGAIN, or an error of mbx_open. */
int mbx_monitor_mailbox(const char *name, mbx *notify, uint64_t tag, mbx_monitor **out);

/* Returns the monitor's descriptor: readable (POLLIN) once its notice
 * fired, and from then on. It belongs to the monitor. -EINVAL for NULL. */
int mbx_monitor_fd(const mbx_monitor *mon);

/* Returns 1 and fills *notice (when not NULL) once the monitor fired,
 * 0 before, -EINVAL for NULL. */
int mbx_monitor_fired(mbx_monitor *mon, mbx_notice *notice);

/* Ends the monitor and frees it: no notice is sent after this returns
 * (one sent before stays sent). Returns 0, or -EINVAL for NULL. */
int mbx_monitor_cancel(mbx_monitor *mon);

/* ---- mailboxes across machines: tcp://HOST:PORT/NAME ----
 *
 * A gateway exports this host's mailboxes; a program elsewhere opens
 * "tcp://HOST:PORT/NAME" and uses the same calls as on a local name.
 * Both ends share a secret (a file of at least 16 bytes, the user's own,
 * mode 0600 or stricter: $MBX_SECRET_FILE, else ~/.mbx-secret; a gateway
 * makes one at the default path when there is none); every connection
 * proves it in both directions. "tls://HOST:PORT/NAME" is the same over
 * TLS 1.3, to a gateway started with a certificate: the client trusts the
 * CAs of $MBX_TLS_CA (else the system's), checks that the certificate
 * names HOST, and shows $MBX_TLS_CERT (key: $MBX_TLS_KEY, else in the same
 * file) to a gateway that asks for client certificates; a tls:// name
 * never talks to a gateway without TLS, nor a tcp:// one to a gateway
 * with it (-EPROTONOSUPPORT); a certificate refused either way is
 * -EACCES. Over tcp:// and tls://: loans are copies,
 * mbx_transfer, mbx_fd, mbx_stat_ext_get and mbx_unlink give -ENOTSUP,
 * MBX_OWNED and MBX_STREAM -ENOTSUP at open (but a handle whose gateway is
 * on this machine and shares the mailbox's folder opens the mailbox's file
 * itself, unless $MBX_TCP_BYPASS is 0: it is then a local handle, and
 * those calls work as on the local name); a send that cannot learn its
 * outcome gives -ENOTCONN (it may or may not have been delivered), and so
 * does an mbx_call or mbx_send_confirmed under way when its gateway was
 * killed and started again (a new session that knows nothing of it: it
 * may have been made, and it is not made again); a
 * message's sender_pid and sender_uid are the gateway's. mbx_sync waits
 * until every message sent on the handle is in the far mailbox.
 * A pipelined send (one that returned 0 before the gateway answered) that
 * then fails there (-ENOSPC, -EIDRM, ...) is reported once, also across a
 * link cut: the handle's next mbx_send returns that error and sends
 * nothing (its own message was not sent either), or mbx_sync returns it
 * after every send is answered, whichever comes first; after that the
 * handle sends as before. It says that at least one message sent on the
 * handle since the last such report (or the open) was not delivered, not
 * which one: failures after the first, until it is reported, are not
 * reported apart. The timeout of a receive, mbx_call or
 * mbx_send_confirmed counts from the call, at the gateway too: one sent
 * again after a cut goes with what is left of it, and one the gateway
 * gets to only after it passed (queued behind a send that waits for room)
 * is not made there (-ETIMEDOUT). Once its time is up, a request is not
 * sent again after a reconnect (one that may have reached the gateway is
 * only asked for its answer), and a call or confirmed send whose link
 * stays down past its time after it went returns -ENOTCONN. An
 * MBX_NONBLOCK receive without a link returns -EAGAIN. The gateway's
 * threads block signals. A signal handler that runs while a
 * receive or an mbx_call waits for its gateway, or for its link to be
 * made again (between tries or during one: connect, handshake), ends it
 * with -EINTR, as on a local name, with or without SA_RESTART; the
 * gateway gives the request up when the handle's next frame reaches it
 * (at once: the client sends one). A message it took for the receive by
 * then is held for the handle's next receive (or put back
 * in the mailbox); a call's request nobody took by then is taken back,
 * one taken stays taken and its reply is dropped. An mbx_send that waits
 * before its message is queued (for the link, or for credit) ends with
 * -EINTR too: nothing of it was sent. A send written and waiting for the
 * gateway's answer, a confirmed send, mbx_sync and a reply go on through
 * a signal. */
typedef struct mbx_gateway mbx_gateway;

typedef struct mbx_gateway_options {
    uint32_t size;           /* sizeof(mbx_gateway_options): mbx_gateway_options_init */
    uint32_t linger_ms;      /* how long a session waits for its client to come back; 30000 */
    const char *secret_file; /* NULL: the default above (made when missing) */
    /* Patterns (fnmatch(3)) of the names clients may open, NULL-terminated;
     * at least one. Only plain names ("NAME") are ever served. */
    const char *const *allow;
    /* TLS 1.3 (read when size covers them; mbx_gateway_options_init sets
     * them to NULL and 0): the gateway's certificate chain and private key,
     * PEM files, both or neither (NULL: plain TCP, tcp:// names). */
    const char *tls_cert;
    const char *tls_key;
    /* NULL: clients show no certificate. Else every client must show one
     * that chains to a CA of this PEM file (mutual TLS); needs tls_cert. */
    const char *tls_client_ca;
    uint32_t flags;    /* MBX_GATEWAY_NO_SECRET */
    uint32_t reserved; /* 0 */
    /* Sessions at once, live and lingering (read when size covers it):
     * a new one over this ends the session that lingered longest, or is
     * refused with -EUSERS when every one has a connection. 0: 1024. */
    uint32_t sessions_max;
} mbx_gateway_options;

/* In mbx_gateway_options.flags: client certificates alone authenticate
 * (no shared secret, none made); only with tls_client_ca, so a gateway
 * never takes clients that proved nothing. */
#define MBX_GATEWAY_NO_SECRET 0x1u

/* Fills *o with the defaults (no allow-list yet). Never fails; does
 * nothing for NULL. A smaller
 * size (a program built before the TLS fields) leaves them unset; a larger
 * one (fields of a later version) is refused by mbx_gateway_start when any
 * of those is set. */
void mbx_gateway_options_init(mbx_gateway_options *o);

/* Starts a gateway listening on "HOST:PORT" ("127.0.0.1:0": loopback, any
 * free port), served by threads of this process until mbx_gateway_stop.
 * Every client proves the secret, or with MBX_GATEWAY_NO_SECRET shows a
 * certificate of tls_client_ca. Returns 0 with *out set, or -EINVAL (bad
 * address or options, no allow-list, a TLS setting without the others it
 * needs, a certificate or key that is not PEM or does not match), -ENOENT
 * (a TLS file missing), -EACCES (the secret file is someone else's or
 * readable by others; a TLS file unreadable), -EADDRINUSE, -ENOMEM, or
 * another -errno. */
int mbx_gateway_start(const char *listen_addr, const mbx_gateway_options *o, mbx_gateway **out);

/* Returns the port the gateway listens on, or -EINVAL for NULL. */
int mbx_gateway_port(const mbx_gateway *g);

/* Stops the gateway: refuses new clients at once, lets the links of
 * sessions holding a message live up to 2 s for their confirmations, puts
 * every held message (one a client had not confirmed) back into its
 * mailbox, waiting for room in a full one up to 10 s in all, waits for
 * calls under way, and frees g. Returns 0; -ETIMEDOUT when a held message
 * could not go back and is lost (the gateway is stopped all the same); or
 * -EINVAL for NULL. */
int mbx_gateway_stop(mbx_gateway *g);

/* ---- datagrams across machines: udp://HOST:PORT/NAME ----
 *
 * Best effort, as UDP: a handle opened on "udp://HOST:PORT/NAME" (flags
 * MBX_SEND, and MBX_SHARED; anything else -ENOTSUP) sends each message as
 * one datagram to a UDP gateway there (mbx_udp_gateway_start), which puts
 * it in its local mailbox NAME without waiting. No connection, no
 * acknowledgement, no retransmission: mbx_send returns 0 once the kernel
 * took the datagram, whatever becomes of it; a datagram that is lost is
 * lost; one that finds the mailbox full, or is refused, is dropped and
 * counted in the mailbox's mbx_stat_ext (udp_dropped_full, _bad). A
 * payload longer than MBX_UDP_PAYLOAD_MAX(strlen(NAME)) is refused with
 * -EMSGSIZE; one longer than the far mailbox's max_msg_size is dropped
 * there. Same secret as tcp://; each datagram carries its own MAC. On a
 * udp:// handle mbx_send, mbx_send_typed and mbx_sync (0 at once) work;
 * mbx_recv and its kin, mbx_call, loans, mbx_stat_get, mbx_stat_ext_get,
 * mbx_fd, mbx_transfer and mbx_unlink return -ENOTSUP. A send on it
 * returns 0, -EMSGSIZE, -EINVAL, -EAGAIN (MBX_NONBLOCK and the socket's
 * send buffer full: never the far mailbox), -ETIMEDOUT (the same, past
 * the timeout), -EHOSTUNREACH or -ENETUNREACH (no route), -EBADF. A
 * sender on the gateway's machine writes the mailbox's file directly,
 * with the same results (MBX_UDP_BYPASS=0 or MBX_TCP_BYPASS=0: not). */
#define MBX_UDP_PAYLOAD_MAX(name_len) (65427u - (unsigned)(name_len))

typedef struct mbx_udp_gateway mbx_udp_gateway;

/* What a UDP gateway saw since it started (mbx_udp_gateway_stats_get):
 * size is set by the caller, as for mbx_stat_ext. received = delivered +
 * probes + the three dropped_* below; dropped_kernel were never received. */
typedef struct mbx_udp_gateway_stats {
    uint32_t size;
    uint32_t reserved;
    uint64_t received;        /* datagrams read from the socket */
    uint64_t delivered;       /* put in their mailbox */
    uint64_t probes;          /* answered: senders on this machine asking where a mailbox is */
    uint64_t dropped_full;    /* the mailbox had no room */
    uint64_t dropped_bad;     /* malformed, not allowed, wrong MAC, replayed, too large */
    uint64_t dropped_missing; /* no such mailbox (or not openable, or not for messages), or its name
                                 paused (opening it cost time) */
    uint64_t dropped_kernel;  /* dropped by the kernel: the socket's buffer was full */
} mbx_udp_gateway_stats;

/* Starts a UDP gateway bound to "HOST:PORT" (port 0: any free one) that
 * delivers datagrams into the local mailboxes the allow-list of o matches
 * (o->secret_file and o->allow as for mbx_gateway_start; linger_ms is not
 * used), served by a thread of this process until mbx_udp_gateway_stop.
 * It never creates a mailbox. Returns 0 with *out set, or -EINVAL (bad
 * address or options, no allow-list), -EACCES (the secret file),
 * -EADDRINUSE, -ENOMEM, or another -errno. */
int mbx_udp_gateway_start(const char *listen_addr, const mbx_gateway_options *o,
                          mbx_udp_gateway **out);

/* Returns the UDP port the gateway is bound to, or -EINVAL for NULL. */
int mbx_udp_gateway_port(const mbx_udp_gateway *g);

/* Fills *st (st->size set by the caller; fields past it are not written).
 * Returns 0, or -EINVAL (NULL, or st->size below 4). */
int mbx_udp_gateway_stats_get(const mbx_udp_gateway *g, mbx_udp_gateway_stats *st);

/* Stops the gateway's thread, closes its socket and mailboxes, frees g.
 * Datagrams not yet read are lost. Returns 0, or -EINVAL for NULL. */
int mbx_udp_gateway_stop(mbx_udp_gateway *g);

/* ---- fleets: mailboxes over NATS ----
 *
 * A bridge connects this host's mailboxes to a NATS server or cluster
 * (README, "Fleets: NATS"). What is sent to an exported mailbox is
 * published to its subject; what arrives on an imported mailbox's subject
 * is delivered into it, no faster than it has room. Subjects:
 * PREFIX.pB.NAME, B the priority band (0: priority 0, 1: 1-15, 2: 16-255,
 * 3: 256 and above), higher bands delivered first. An mbx_call on an
 * exported mailbox becomes a NATS request, answered by whoever imports it;
 * with nobody importing it the call returns -ENOENT. Core NATS is at most
 * once; with jetstream set every message goes through a work-queue stream
 * and is delivered exactly once across a kill -9 of either bridge or the
 * restart of a NATS node (within the de-duplication window, 2 minutes).
 * Without NATS support in the build, the calls return -EPROTONOSUPPORT. */
typedef struct mbx_bridge mbx_bridge;

typedef struct mbx_bridge_options {
    uint32_t size;      /* sizeof(mbx_bridge_options): mbx_bridge_options_init */
    uint32_t jetstream; /* 1: durable, through JetStream; 0: core NATS (at most once) */
    /* Required: "nats://HOST:PORT", or several separated by commas (a
     * cluster: the bridge reconnects to another when one goes). */
    const char *servers;
    /* Credentials, passed to the NATS client as they are (NULL: none). */
    const char *user, *password, *token;
    const char *creds_file;     /* a .creds file (user JWT and NKey seed) */
    const char *nkey;           /* an NKey public key, with nkey_seed_file */
    const char *nkey_seed_file; /* the file holding its seed */
    const char *tls_ca;         /* CA certificates (PEM): TLS is then required */
    const char *tls_cert;       /* client certificate chain and key (PEM) */
    const char *tls_key;
    const char *prefix;  /* first tokens of every subject; NULL: "mbx" */
    const char *host_id; /* this machine in "@PID" subjects; NULL: its machine id */
    /* Local mailbox names, NULL-terminated (NULL: none); at least one
     * export or import in all. Created with the defaults when missing. */
    const char *const *exports;
    const char *const *imports;
    uint32_t replicas;        /* JetStream: copies of each stream (a cluster: 3); 1 */
    uint32_t pending_limit;   /* core imports: messages held for a full mailbox, per band; 65536 */
    uint32_t call_timeout_ms; /* how long a bridged request waits for its reply; 5000 */
    /* JetStream: how long a message fetched and not yet acknowledged is
     * kept from others before the stream sends it again; 30000. A bridge
     * waiting on a full mailbox says it is still working on what it holds. */
    uint32_t ack_wait_ms;
} mbx_bridge_options;

/* Fills *o with the defaults (no server, no mailboxes yet). Never fails;
 * does nothing for NULL. */
void mbx_bridge_options_init(mbx_bridge_options *o);

/* Connects to o->servers and bridges the mailboxes on threads of this
 * process until mbx_bridge_stop. Returns 0 with *out set, or -EINVAL (bad
 * options, a name that is not "NAME" or "@PID", a name listed twice, in
 * both lists or in one, a bad prefix or host id),
 * -EMSGSIZE (an exported or imported mailbox takes messages larger than
 * the server's max_payload allows), -ECONNREFUSED (no server answered),
 * -EACCES (the server refused the credentials), -ENOENT (a credentials or
 * certificate file is missing), -EPROTO (JetStream asked for and not
 * enabled), -EPROTONOSUPPORT (built without NATS), -ENOMEM, or an error
 * of mbx_open. */
int mbx_bridge_start(const mbx_bridge_options *o, mbx_bridge **out);

/* What a bridge has done so far. */
typedef struct mbx_bridge_stat {
    uint64_t exported;  /* messages published from exported mailboxes */
    uint64_t imported;  /* messages delivered into imported mailboxes */
    uint64_t calls;     /* requests forwarded (both directions) */
    uint64_t refused;   /* NATS messages not delivered: too large for the mailbox, malformed */
    uint64_t dropped;   /* core NATS: messages the client dropped (over pending_limit) */
    uint64_t redeliver; /* JetStream: messages received again and not delivered twice */
} mbx_bridge_stat;

/* Fills *st. Returns 0, or -EINVAL for NULL. */
int mbx_bridge_stat_get(mbx_bridge *b, mbx_bridge_stat *st);

/* Sets *held to the messages the bridge has received for its imported
 * mailboxes and not yet delivered (waiting for room, or for a higher
 * band): core NATS's pending queues and what the bridge's threads hold,
 * JetStream's fetched batches. A snapshot, for watching a slow mailbox.
 * Returns 0, or -EINVAL for NULL. */
int mbx_bridge_held(mbx_bridge *b, uint64_t *held);

/* Sets *n to how many of the bridge's JetStream imports fetch nothing now
 * because the stream under their name, or one of its band consumers, was
 * made again (while the bridge ran) in a way that can lose messages (not
 * what the bridge would make: README, "Fleets: NATS"), plus the exports
 * whose stream does not acknowledge their publishes and is not one the
 * bridge would make. The import looks once a second and fetches again when
 * the stream is fixed. 0 without JetStream. Returns 0, or -EINVAL for
 * NULL. */
int mbx_bridge_refusing(mbx_bridge *b, uint32_t *n);

/* Stops the bridge: stops taking messages, finishes the one in hand,
 * closes the connection and frees b. Returns 0, or -EINVAL for NULL. */
int mbx_bridge_stop(mbx_bridge *b);

/* ---- extensions ---- */

/* How a blocked call on this handle waits: spin (polling shared memory) for up
 * to spin_ns nanoseconds, then sleep on a futex. 0 always sleeps at once,
 * MBX_FOREVER always spins. The default is 20000 ns, or $MBX_SPIN_NS; the
 * default alone (neither set) spins longer after a large message received
 * by copy through the handle: a quarter nanosecond per byte, up to 1 ms.
 * A finite spin that has lasted 2 us (longer when the handle's waits
 * usually do) ends early while the machine has more runnable threads than
 * CPUs. A sender beside other sleeping senders yields its CPU once before it
 * sleeps, whatever the spin (mbx_open(3)).
 * Returns 0, or -EINVAL for a NULL handle or a value below -1. */
int mbx_set_spin(mbx *m, int64_t spin_ns);

#ifdef __cplusplus
}
#endif

#endif
