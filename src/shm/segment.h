/* Layout of one mailbox's shared memory and its validation.
 *
 * The segment holds offsets from its own start, never pointers. Every offset,
 * size and index read from it is checked before use: a peer may be broken or
 * hostile. Layout:
 *
 *   [0, 4096)             struct seg_hdr: identity, hot line, bins
 *   [4096, 8192)          struct seg_receipt[SEG_RECEIPTS]: who took which call
 *   [ring_off, ...)       the region of the mailbox's kind (kind.h): a
 *                         ring's slots, a stream's bytes; none for a heap
 *   [active_off, +64 KiB) uint16_t active[]: nonempty priorities, ascending
 *   [heads_off, +512 KiB) struct seg_qhead[MBX_PRIO_MAX]: FIFO per priority
 *   [arena_off, end)      message blocks, tiling the arena exactly (a
 *                         token page for kinds that keep none)
 *
 * A mailbox is of one kind, fixed at creation (kind.h): a ring (small
 * capacity and messages, the common case) keeps messages in place in ring
 * slots and takes no lock; a heap keeps them in arena blocks ordered by
 * priority FIFOs under the mailbox lock, any size and capacity; a stream
 * (MBX_STREAM) is a byte ring. The segment knows them only through the
 * kind table.
 *
 * The file is sparse: pages are backed only once touched, so memory follows
 * what is queued rather than capacity x max size.
 */
#ifndef MBX_SEGMENT_H
#define MBX_SEGMENT_H

#include "mbx.h"
#include "shm/seg_model.h"
#include "shm/shlock.h"

#include <stdint.h>

/* Processes share these words through memory: an 8-byte atomic that a
 * compiler implemented with a lock (libatomic) would be atomic only within
 * one process. */
_Static_assert(__atomic_always_lock_free(sizeof(uint64_t), 0), "8-byte atomics are lock-free");

#define SEG_MAGIC 0x314d5453584f424dull /* "MBOXSTM1" */
/* Version 3: the lock is mbx's own (shlock.h), processes are recorded with
 * their start time, calls leave receipts in the called mailbox, messages
 * carry a type tag, pollers have entries. Files of versions 1 and 2
 * (earlier builds) are refused with -EPROTO. */
#define SEG_VERSION    5u
#define SEG_LINE       64u
#define SEG_NBINS      64u
#define SEG_EXACT_BINS 32u /* bins 0..31 hold blocks of exactly (i+1)*64 bytes */
#define SEG_MAX_MSG    (1ull << 30)
#define SEG_MAX_ARENA  (1ull << 44)
#define SEG_PAGE       4096u
/* Version 6: a ring of large slots with a pool of spare payload buffers
 * (ring.h). Other mailboxes stay version 5, which earlier builds open;
 * they refuse version 6, whose messages may lie outside their slots. */
#define SEG_VERSION_POOL 6u

/* Block states: distinctive values so a scribbled word is noticed. */
enum blk_state {
    BLK_FREE = 0x4652,    /* in a free bin (or not yet binned) */
    BLK_WRITING = 0x5752, /* taken by a sender holding the lock, or lent to it */
    BLK_QUEUED = 0x5155,  /* a whole message, linked in its priority FIFO */
    BLK_TAKEN = 0x5441,   /* rendezvous: received, its sender frees it */
    BLK_LENT = 0x4c45,    /* lent to a receiver (identity in prev) until released */
};

/* Header of every block in the arena; the payload follows it. A block is
 * either free or queued, so next/prev serve the free bin or the FIFO. */
struct seg_blk {
    uint64_t size;         /* whole block, header included; multiple of 64 */
    uint64_t len;          /* payload bytes */
    uint64_t seq;          /* send order, from 1 */
    uint64_t next;         /* offset of the next block in its list; 0 = none */
    uint64_t prev;         /* offset of the previous block; LENT: the borrower's ident */
    uint16_t state;        /* enum blk_state */
    uint16_t prio;         /* 0 .. MBX_PRIO_MAX-1 */
    uint32_t sender_start; /* low 32 bits of the sender's start time (ident.h) */
    int32_t sender_pid;    /* sender's pid and uid, for mbx_msginfo */
    uint32_t sender_uid;
    uint64_t token;  /* reply token (call.h), 0 for a plain message */
    uint64_t type;   /* the sender's type tag (mbx_send_typed), 0 by default */
    uint32_t origin; /* the sender's host (mbx_msginfo.sender_host), 0 here */
    uint32_t pad;
    uint64_t spare[6];
};
_Static_assert(sizeof(struct seg_blk) == 2 * SEG_LINE, "block header is two cache lines");

/* The line every send and receive touches: lock, count, wake words. Waiters
 * read count and the futex words here while spinning. */
struct seg_hot {
    struct shlock lock;    /* guards the heap kind's arena and queues */
    uint32_t count;        /* messages queued (atomic reads outside the lock) */
    uint32_t removed;      /* 1 once mbx_unlink ran: every call says -EIDRM */
    uint32_t recv_futex;   /* bumped on every enqueue: receivers wait on it */
    uint32_t send_futex;   /* bumped on every dequeue: senders wait on it */
    uint32_t recv_waiters; /* receivers asleep on recv_futex (sleepers.h) */
    uint32_t send_waiters; /* senders asleep on send_futex (sleepers.h) */
    uint32_t broken;       /* 1 once a repair failed: every locked call says -EUCLEAN */
    uint32_t armed[2];     /* pollers armed to hear of the next change, by direction
                              (SEG_POLL_RECV, SEG_POLL_SEND): poll.h */
    uint32_t send_woken;   /* 1: a sender was woken for room and has not run yet
                              (wake_for_room); zero in files of earlier builds */
    uint32_t recv_woken;   /* 1: the receivers asleep were woken for a message and
                              none has slept since (wake_for_message); zero in files
                              of earlier builds */
} __attribute__((aligned(SEG_LINE)));
_Static_assert(sizeof(struct seg_hot) == SEG_LINE, "hot state is one cache line");

/* Second line of the fast path, written under the lock. Fields read
 * without it (stat) are written with atomic stores. */
struct seg_meta {
    uint64_t seq_next;          /* sequence number of the next message */
    uint64_t bytes;             /* payload bytes queued */
    uint64_t bin_mask;          /* bit i: bins[i] is not empty */
    uint64_t used;              /* arena bytes in blocks that are not free */
    uint64_t received_total;    /* messages taken (sent_total is seq_next - 1) */
    uint32_t nactive;           /* entries in active[] */
    uint32_t repairs;           /* times a dead lock holder's work was repaired */
    uint32_t sleep_epoch_ms[2]; /* when the sleeper counts' epochs began (sleepers.h):
                                   recv_waiters, send_waiters */
    uint64_t given_back;        /* times arena pages were given back (alloc_back) */
} __attribute__((aligned(SEG_LINE)));
_Static_assert(sizeof(struct seg_meta) == SEG_LINE, "meta is one cache line");

/* Round-robin receivers: tickets in call order; only the holder of the
 * ticket being served may take the next message. */
#define SEG_RR_WINDOW 64u
struct seg_rr {
    uint64_t next;                  /* next ticket to hand out */
    uint64_t serving;               /* ticket whose holder takes next */
    uint64_t holder[SEG_RR_WINDOW]; /* ident holding ticket t at t % window; 0: gone */
};

/* A pollable descriptor waiting on the mailbox (poll.h): a process that
 * wants one datagram on its socket at the next change of one direction. */
#define SEG_POLLERS 48u
enum seg_poll_dir {
    SEG_POLL_RECV = 0, /* a message arrived: the receiving side may look */
    SEG_POLL_SEND = 1, /* room was made: the sending side may look */
    SEG_POLL_GONE = 2, /* only removal (mailbox monitors) */
};
struct seg_poller {
    uint64_t who;   /* ident of the polling process; 0: free */
    uint64_t id;    /* names its socket: .mbx-poll.<16 hex digits> */
    uint32_t armed; /* 1 + dir while it waits for a change; 0 otherwise */
    uint16_t dir;   /* enum seg_poll_dir */
    uint16_t place; /* 0: the socket is beside the mailbox file; 1: in /dev/shm */
    uint64_t spare[2];
};
_Static_assert(sizeof(struct seg_poller) == 40, "poller entry");

struct seg_hdr {
    uint64_t magic;
    uint32_t version;
    uint32_t hdr_size;
    uint64_t file_size;
    uint64_t active_off;
    uint64_t heads_off;
    uint64_t arena_off;
    uint64_t arena_size;
    uint64_t max_msg_size;
    uint64_t memory_limit;
    uint32_t capacity;
    uint32_t recv_policy;
    uint32_t mode;
    uint32_t flags; /* MBX_OWNED, and the kind's hdr_flag */
    int32_t owner_pid;
    uint32_t ring_slots; /* ring kind: slots (0 otherwise) */
    uint64_t ring_off;
    uint64_t slot_size; /* ring kind: bytes between two slots' payloads */
    char name[208];
    struct seg_hot hot;
    struct seg_meta meta;
    uint64_t bins[SEG_NBINS]; /* free lists of blocks, by size class */
    struct seg_model model;   /* ownership, receive rights, calls (#3) */
    struct seg_rr rr;
    uint64_t stream_size; /* stream kind: buffer bytes (0 otherwise) */
    uint64_t boot_id[2];  /* the boot its process state belongs to (reboot.h) */
    uint64_t pidns;       /* the PID namespace its process state belongs to (ident.h) */
    struct seg_poller pollers[SEG_POLLERS];
};
_Static_assert(sizeof(struct seg_hdr) <= 4096, "header fits its page");

/* The last line of the header's page, past struct seg_hdr: counters that
 * came after layout version 4 was fixed. A file of an earlier build holds
 * zeros there and such a build never looks at them, so the version stays 4
 * and hdr_size stays sizeof(struct seg_hdr). Atomic adds, no lock. */
struct seg_tail {
    uint64_t udp_dropped_full; /* udp:// datagrams for this mailbox dropped: it was full */
    uint64_t udp_dropped_bad;  /* ... refused: authenticator, replay, size, priority */
    /* Heap kind: bumped after every change, by direction (enum
     * seg_poll_dir): what its spinning waiters watch, so that their reads
     * stay off the lock's line while the holder works (heap_wait.c). A
     * build that does not bump them only makes a newer waiter notice a
     * change a few steps later, through the futex word. */
    uint32_t spin_seq[2];
    uint64_t spare[5];
};
#define SEG_TAIL_OFF (SEG_PAGE - SEG_LINE)
_Static_assert(sizeof(struct seg_hdr) <= SEG_TAIL_OFF, "the tail line is past the header");
_Static_assert(sizeof(struct seg_tail) == SEG_LINE, "the tail is one line");

/* Before the tail: struct seg_call_box[SEG_CALLS] (seg_model.h), which came
 * after layout version 5 was fixed, on the tail's terms (zero in earlier
 * builds' files, which those builds never look at). */
#define SEG_CALL_BOXES_OFF (SEG_TAIL_OFF - SEG_CALLS * sizeof(struct seg_call_box))
_Static_assert(sizeof(struct seg_hdr) <= SEG_CALL_BOXES_OFF, "call boxes are past the header");

/* Who took the request of a call (call.h): the caller writes its token and
 * itself, the receiver that takes the request writes itself as the taker,
 * the caller clears the entry when its call ends. In the called mailbox,
 * so that a receiver never touches another mailbox to report it. */
struct seg_receipt {
    uint64_t token;  /* 0: free */
    uint64_t caller; /* ident of the calling process */
    uint64_t taker;  /* ident of the process that took the request; 0: nobody yet */
    /* Confirmed sends only (receipts.h): 1 while the sender sleeps on this
     * word, 2 once a taker woke it; and the taker's uid. */
    uint32_t notify;
    uint32_t taker_uid;
};
#define SEG_RECEIPTS 128u
_Static_assert(SEG_RECEIPTS * sizeof(struct seg_receipt) == 4096, "receipts fill a page");

struct seg_qhead {
    uint64_t head, tail;
};

struct shm_kind;

/* A mapped segment, as one process sees it. */
struct seg {
    const struct shm_kind *kind;
    unsigned char *base;
    uint64_t size;
    struct seg_hdr *hdr;
    struct seg_receipt *receipts;
    uint16_t *active;
    struct seg_qhead *heads;
    /* Set by the kind's attach from the header's fields it checked. */
    unsigned char *ring; /* ring kind: control and slots; NULL otherwise */
    uint32_t ring_slots;
    uint64_t slot_size;
    unsigned char *stream; /* stream kind: control and bytes; NULL otherwise */
    uint64_t stream_size;
    /* Copies of the immutable header fields, checked once at attach, so a
     * peer rewriting the header later cannot move our bounds. */
    uint64_t arena_start, arena_end;
    uint64_t max_msg_size;
    int fd; /* the file, for reserving storage; -1: do not reserve */
    uint32_t capacity, recv_policy, flags;
    /* What this handle knows has storage (never read from the segment,
     * where a scribbled value could make it skip a reservation): a ring's
     * slots (payload bytes per slot; NULL: none known), a heap's arena
     * below backed_end while the segment's given_back count is backed_gen. */
    uint32_t *slot_backed;
    uint64_t backed_end, backed_gen;
    unsigned char *ring_payloads;  /* ring kind: the first slot's payload (ring_impl.h) */
    uint32_t ring_pool;            /* ring kind: buffers of its pool (0: none; ring_pool.c) */
    unsigned char *ring_pool_base; /* the first of them, after the last slot's payload */
    /* Where pollers' sockets beside the mailbox are (its file's directory;
     * NULL for "@PID", whose pollers' sockets are all in /dev/shm). */
    const char *poll_dir;
};

/* Total file size for a mailbox of kind k with these attributes
 * (validated). */
uint64_t seg_size_for(const mbx_attr *attr, const struct shm_kind *k);

/* Bytes from the start of the file that get storage when the mailbox is
 * created, so that a full file system makes creation fail rather than a
 * later access fault (the rest gets storage as it is used). */
uint64_t seg_prefix_size(const mbx_attr *attr, const struct shm_kind *k);

/* Writes a fresh header, the kind's region and an empty arena into the
 * zeroed mapping base of size bytes (seg_size_for) of file fd (-1: none);
 * flags may hold MBX_OWNED. Returns 0 or -errno of reserving storage. */
int seg_format(unsigned char *base, uint64_t size, const mbx_attr *attr, const char *name,
               const struct shm_kind *k, uint32_t flags, int fd);

/* Checks the header of a mapping of size bytes and fills *s. Returns 0,
 * -EUCLEAN (not a mailbox or inconsistent), or -EPROTO (other version). */
int seg_attach(struct seg *s, unsigned char *base, uint64_t size);

/* Returns 1 once the mailbox was removed (mbx_unlink, its owner's death):
 * every call then says -EIDRM. */
static inline int seg_removed(const struct seg *s)
{
    return __atomic_load_n(&s->hdr->hot.removed, __ATOMIC_ACQUIRE) != 0;
}

/* Returns the block at offset off when it lies inside the arena, aligned and
 * whole, else NULL (callers turn that into -EUCLEAN). */
struct seg_blk *seg_blk_at(const struct seg *s, uint64_t off);

/* seg_blk_at, also giving the size it checked in *size: the block's own
 * word may change under us (a peer writes it), so whoever walks by size
 * or frees by it must use this value, never read the word again. */
struct seg_blk *seg_blk_sized(const struct seg *s, uint64_t off, uint64_t *size);

/* Starts fetching the header's first line and the payload's first line of
 * the block at off, for writing; does nothing when off cannot be a block.
 * A hint: off may come from words read without the lock. */
void seg_prefetch_blk(const struct seg *s, uint64_t off);

/* Maps every page of the mailbox's message storage (a ring's slots, a
 * stream's bytes, a heap's arena up to SEG_PREFAULT_ARENA) into this
 * process for writing, with storage under it (mbx_options.prefault).
 * Returns 0 or the first error of plat_populate (what could be populated
 * was). */
#define SEG_PREFAULT_ARENA (64ull << 20)
int seg_prefault(const struct seg *s);

/* Returns 1 when len payload bytes of the block at b stay inside the arena. */
static inline int seg_len_ok(const struct seg *s, const struct seg_blk *b, uint64_t len)
{
    uint64_t off = (uint64_t)((const unsigned char *)b - s->base) + sizeof(*b);
    return off <= s->arena_end && len <= s->arena_end - off && len <= s->max_msg_size;
}

/* Offset of a block pointer inside the segment. */
static inline uint64_t seg_off(const struct seg *s, const struct seg_blk *b)
{
    return (uint64_t)((const unsigned char *)b - s->base);
}

/* Payload of a block. */
static inline unsigned char *seg_payload(struct seg_blk *b)
{
    return (unsigned char *)(b + 1);
}

/* Arena bytes a message of len payload bytes occupies. */
static inline uint64_t seg_blk_size(uint64_t len)
{
    return (sizeof(struct seg_blk) + len + SEG_LINE - 1) & ~(uint64_t)(SEG_LINE - 1);
}

#endif
