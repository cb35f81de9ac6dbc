/* The kinds of shared-memory mailbox, as a table: each kind (src/shm/ring,
 * src/shm/heap, src/shm/stream) owns its region of the segment and its way
 * of sending and receiving. The segment and the transport call a kind only
 * through this table, never by name; a new kind is a new folder and an
 * entry in shm_kinds[] (kinds.c).
 *
 * Every operation is given a checked per-call context (struct mb_ctx) and
 * returns the errors its mbx.h counterpart documents.
 */
#ifndef MBX_SHM_KIND_H
#define MBX_SHM_KIND_H

#include "mbx.h"

#include <stdint.h>
#include <sys/types.h>

struct seg;
struct seg_hdr;
struct mb_ctx;

struct shm_kind {
    const char *name;  /* "ring", "heap", "stream": what mbx_stat_ext reports */
    uint32_t hdr_flag; /* how the segment header marks the kind (seg_hdr.flags) */

    /* Whether a new mailbox with these attributes and open flags may be of
     * this kind (a stream only with MBX_STREAM, a ring within its limits). */
    int (*accepts)(const mbx_attr *a, int flags);

    /* Layout. Bytes of the kind's region (after the header and receipts
     * pages), of it that gets storage at creation, and of the heap arena
     * that follows (a page for kinds that keep no arena). */
    uint64_t (*region_bytes)(const mbx_attr *a);
    uint64_t (*reserve_bytes)(const mbx_attr *a);
    uint64_t (*arena_bytes)(const mbx_attr *a);
    /* Writes the header fields the kind owns (h is zeroed, region at offset
     * region_off of file fd: -1, nothing to reserve). Returns 0 or -errno
     * (-ENOSPC) of reserving storage. */
    int (*format)(struct seg_hdr *h, unsigned char *region, uint64_t region_off, const mbx_attr *a,
                  int fd);
    /* The region size the header's fields imply, or UINT64_MAX when they
     * are inconsistent (attach: untrusted values). */
    uint64_t (*region_of)(const struct seg_hdr *h);
    /* Points s at the region, copying the fields it needs from hs: the
     * snapshot of the header that region_of checked (never the header
     * itself, which a peer may have rewritten since). */
    void (*attach)(struct seg *s, unsigned char *region, const struct seg_hdr *hs);
    /* Once, on a new mailbox just formatted and attached. NULL: nothing. */
    void (*init)(struct seg *s);

    /* A new handle with these open flags takes what it holds (a stream's
     * ends): 0 or -EBUSY; and gives it back at close. NULL: nothing held. */
    int (*open)(const struct mb_ctx *c, int flags);
    void (*close)(const struct mb_ctx *c, int flags);

    int (*send)(const struct mb_ctx *c, const void *buf, size_t len, unsigned prio,
                int64_t timeout_ns);
    ssize_t (*recv)(const struct mb_ctx *c, pid_t from, void *buf, size_t cap, mbx_msginfo *info,
                    int64_t timeout_ns);
    /* Zero copy; NULL for a kind without messages to lend (-EINVAL). */
    int (*loan)(const struct mb_ctx *c, size_t len, void **buf);
    int (*send_loan)(const struct mb_ctx *c, void *buf, size_t len, unsigned prio,
                     int64_t timeout_ns);
    ssize_t (*recv_loan)(const struct mb_ctx *c, const void **buf, mbx_msginfo *info,
                         int64_t timeout_ns);
    int (*release)(const struct mb_ctx *c, const void *buf);
    /* Takes back the queued message carrying reply token `token` (a
     * call's request nobody took before its timeout): 0, or -ENOENT when
     * it is no longer queued (taken). NULL: a kind without calls. */
    int (*withdraw)(const struct mb_ctx *c, uint64_t token);

    /* Pollable descriptors (poll.h). Whether a call in direction dir
     * (SEG_POLL_RECV: a receive; SEG_POLL_SEND: a send) with MBX_NONBLOCK
     * would find something to do now: 1 or 0, a lock-free snapshot that
     * errs only while another process is half way through a call. want:
     * the size of a send that just found no room (0: none), so that the
     * answer is yes only once it fits. */
    int (*ready)(const struct seg *s, unsigned dir, uint64_t want);
    /* The processes whose death alone makes direction dir ready (a
     * stream's sender, for its receiver: the end of the stream; a
     * round-robin mailbox's receiver whose turn comes first), stored in
     * who; returns how many (at most 2). With who == NULL: 1 when this
     * mailbox's pollers in direction dir watch deaths at all (an epoll set
     * of their own), else 0. NULL: none. */
    int (*peers)(const struct seg *s, unsigned dir, uint64_t who[2]);
    /* Called by a poller that found direction dir not ready, before it
     * sleeps: gives back what dead processes held that would make it
     * ready (a heap's blocks lent to or written by the dead; the next
     * send would reclaim them, but an event loop may wait for the
     * descriptor before it sends). Returns 1 when it gave something back
     * (ask ready() again), else 0. NULL: nothing to give back. */
    int (*settle)(struct seg *s, unsigned dir);

    /* A snapshot of count, bytes, sent_total, received_total and repairs,
     * without the lock. */
    void (*stat)(const struct seg *s, mbx_stat *st);
    /* After a reboot, when every process the mailbox names is gone: clears
     * what named them, keeping the messages. Returns 0 or -EUCLEAN. */
    int (*reset)(struct seg *s);
    /* After a holder of the mailbox lock died: rebuilds what the lock
     * guards. Returns 0 or -EUCLEAN. NULL: the kind keeps nothing under it. */
    int (*repair)(struct seg *s);
};

extern const struct shm_kind shm_kind_ring, shm_kind_heap, shm_kind_stream;

/* The kind a segment header's flags name, or NULL. */
const struct shm_kind *shm_kind_of_flags(uint32_t hdr_flags);

/* The kind for a new mailbox: the one asked for (mbx_options.kind), else
 * the first of ring, heap, stream that accepts the attributes ($MBX_QUEUE
 * =heap asks for the heap kind, for tests and the benchmark). NULL when the
 * one asked for does not accept them. */
const struct shm_kind *shm_kind_choose(const mbx_attr *a, int flags, uint32_t asked);

#endif
