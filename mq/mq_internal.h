/* libmbx-mq: POSIX message queues (<mqueue.h>) on mbx mailboxes.
 *
 * Shared by the files of mq/ only. Everything here is built on the public
 * API of include/mbx.h; nothing reaches into src/.
 *
 * Model (README, "POSIX message queues on mbx"):
 * - queue "/NAME" is the mailbox "mq.ENC" (ENC: NAME with bytes outside
 *   [A-Za-z0-9.-] written as _XX), so `mbx ls` shows it as mq.NAME;
 * - beside it, the side file ".mq-side.mq.ENC" holds what mbx does not:
 *   the POSIX mode, the notification registration, the count of blocked
 *   receivers and whether mq_unlink took the name;
 * - beside them, the named pipe ".mq-fifo.mq.ENC": an mqd_t is a
 *   descriptor of it, readable and writable as the queue is (ready.c);
 *   kcmp against a private duplicate tells which open queue a number
 *   copied by the program names.
 */
#ifndef MBX_MQ_INTERNAL_H
#define MBX_MQ_INTERNAL_H

#include <errno.h>
#include <limits.h>
#include <mqueue.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "mbx.h"

/* Exported under the names and versions glibc gives mq_* (mq/exports.c). */
#define MQ_API __attribute__((visibility("default")))

/* Longest mbx name the shim makes: mbx takes 200 bytes. */
#define MQ_MBX_NAME_MAX 200
/* "mq." in front of every queue's mailbox name. */
#define MQ_PREFIX "mq."
/* Mailboxes of queues whose name mq_unlink took, open still. */
#define MQ_GONE_PREFIX "mq-gone."
/* Owned mailboxes that prove a notification registrant is alive. */
#define MQ_NOTIFY_PREFIX "mq-notify."
/* Owned mailboxes that prove a process blocked in a receive is alive. */
#define MQ_LIVE_PREFIX "mq-live."

/* ---- the side file (side.c): shared with every user of the queue ---- */

#define MQ_SIDE_MAGIC 0x4d514d42u /* "BMQM" */
/* 6: a blocked receivers' slot is one word (token and count); 7: the
 * unlink state and its unlinker are one word; 8: so are a registration
 * being written and its writer. */
#define MQ_SIDE_VERSION 8u
#define MQ_SIDE_SIZE    4096u
#define MQ_BLOCKERS     64u /* processes blocked in a receive, counted exactly */
/* The low bits of a slot's word: its process's receives blocked now. */
#define MQ_BLOCKER_COUNT_BITS 24
#define MQ_BLOCKER_COUNT_MASK ((1ull << MQ_BLOCKER_COUNT_BITS) - 1)

/* The registration word (struct mq_side's reg): MQ_REG_NONE; a
 * registration being written, MQ_REG_WRITING_BY its writer's pid (every
 * such word at most MQ_REG_WRITING_MAX); a token, above that with
 * MQ_REG_FIRED clear; or the token with MQ_REG_FIRED set: the registration
 * fired and not yet taken by its registrant's thread. The writer is taken
 * with the word in one compare-and-swap: version 7 wrote it in a word of
 * its own after taking the word, and a kill between the two left the word
 * taken by nobody known (EBUSY from every mq_notify, for good). */
#define MQ_REG_NONE            0u
#define MQ_REG_WRITING_BY(pid) (1ull | (uint64_t)(uint32_t)(pid) << 1)
#define MQ_REG_WRITER(w)       ((int32_t)((uint64_t)(w) >> 1))
#define MQ_REG_WRITING_MAX     0xffffffffull
#define MQ_REG_FIRED           (1ull << 63)

/* Anything read from here was written by other processes: check it. */
struct mq_side {
    _Atomic uint32_t magic; /* written last by the creator */
    uint32_t version;
    uint32_t mode; /* POSIX permission bits, umask applied */
    /* What mq_unlink did to the name, MQ_UNLINK_STATE: 0 nothing; 1 it
     * took it (the queue lives on under gone); 2 an mq_unlink is between
     * taking it and saying where to, and the bits above name its process
     * (MQ_UNLINK_PID), taken with the state in one compare-and-swap, or
     * the one finishing for it once it died (unlink_recover). Version 6
     * wrote the process in a word of its own after taking the name: a kill
     * between the two left 2 with nobody named, and the name unusable for
     * ever (EAGAIN from every mq_open). */
    _Atomic uint32_t unlinked;
    char gone[64]; /* the mailbox's name after mq_unlink */
    char pad0[64];
    /* readiness of the descriptors (ready.c) */
    _Atomic uint32_t polled; /* 1 once a descriptor of the queue was polled */
    uint32_t fifo_bufs;      /* packets in the pipe, under fifo_lock */
    uint32_t fifo_slots;     /* packets the pipe holds, under fifo_lock */
    uint32_t pad3;
    pthread_mutex_t fifo_lock; /* robust, process-shared */
    char pad4[64];
    /* notification: one registration per queue */
    _Atomic uint64_t reg; /* MQ_REG_NONE, MQ_REG_WRITING_BY(pid), a token, or it | MQ_REG_FIRED */
    int32_t reg_pid;
    int32_t reg_notify; /* SIGEV_SIGNAL, SIGEV_THREAD, SIGEV_NONE */
    int32_t reg_signo;
    _Atomic int32_t reg_tid;   /* the registrant's delivering thread (0: none or not yet) */
    uint64_t reg_value;        /* sigev_value, as bits */
    _Atomic uint32_t fire_seq; /* futex word: bumped at each firing */
    int32_t fired_pid;         /* the sender whose message fired the registration */
    uint32_t fired_uid;
    char pad1[64];
    /* Receivers blocked in mq_receive, by process: a slot names the
     * process by the token of its owned mailbox MQ_LIVE_PREFIX<token>, so
     * one killed while blocked is known dead and not counted (blocked.c).
     * Processes beyond the slots are counted in receivers_blocked, which a
     * killed one leaves high. */
    _Atomic int32_t receivers_blocked;
    int32_t pad2;
    struct mq_blocker {
        /* The process's token (high bits) and how many of its receives
         * are blocked now (low MQ_BLOCKER_COUNT_BITS) in one word, 0 when
         * free: claimed, counted and freed by compare-and-swap of the
         * whole word, so a reaper that judged an older value cannot free
         * a slot claimed since, nor zero its count (version 5 kept them
         * apart: a count could be zeroed under a new claim and go
         * negative). */
        _Atomic uint64_t word;
        _Atomic int32_t pid; /* written after the claim; 0: not yet (or freed) */
        int32_t pad;
    } blockers[MQ_BLOCKERS];
};
_Static_assert(sizeof(struct mq_side) <= MQ_SIDE_SIZE, "the side file holds it");

/* The unlink word (struct mq_side's unlinked): a state of 0, 1 or 2 in
 * its low two bits, and with 2 the process in the bits above (pid_max is
 * at most 2^22). */
#define MQ_UNLINK_STATE(w)      ((uint32_t)(w)&3u)
#define MQ_UNLINK_PID(w)        ((int32_t)((uint32_t)(w) >> 2))
#define MQ_UNLINK_TAKEN_BY(pid) (2u | ((uint32_t)(pid) << 2))

/* ---- an open queue description in this process ---- */

/* O_NONBLOCK of one open description, in memory shared with forked
 * children (flags.c), as the kernel keeps it in the open file. */
struct mq_flagrec {
    _Atomic uint32_t refs; /* processes holding it; 0: free */
    _Atomic int32_t flags;
};

struct mq_desc {
    /* References: 1 while a number of the process names it (dropped by
     * mq_release), 1 per call in progress on it (mq_lookup takes one,
     * mq_put gives it back). At 0 it is freed; its memory is kept for the
     * next description (never returned to malloc), so a lookup that raced
     * the last put reads a count of 0, not freed memory. */
    _Atomic int refs;
    mbx *h;
    int accmode;      /* O_RDONLY, O_WRONLY, O_RDWR */
    uint64_t msgsize; /* mq_msgsize */
    uint32_t maxmsg;  /* mq_maxmsg */
    int ref;          /* the pipe, the mqd_t's description: identifies its copies */
    int ctl;          /* the pipe, another description: the shim's reads and writes */
    dev_t dev;        /* identity of the pipe */
    ino_t ino;
    int nums; /* descriptor numbers of this process naming it */
    struct mq_flagrec *fl;
    struct mq_side *side;
    int side_fd;            /* holds a shared flock while the queue is open */
    _Atomic int fifo_stuck; /* 1: its last wait for fifo_lock timed out (ready.c) */
    char dir[PATH_MAX];
    /* notification registered through this description */
    uint64_t token;           /* nonzero while we may hold the registration */
    mbx *alive_box;           /* owned mailbox proving we live */
    struct mq_helper *helper; /* the thread that delivers its notification (notify.c) */
    struct mq_desc *next;     /* all descriptions of the process */
};

/* names.c */
int mq_name_encode(const char *name, char *out, size_t cap);
int mq_dir(char *out, size_t cap);
int mq_side_path(const char *dir, const char *mbxname, char *out, size_t cap);
int mq_mbx_path(const char *dir, const char *mbxname, char *out, size_t cap);
int mq_fifo_path(const char *dir, const char *mbxname, char *out, size_t cap);
int mq_gone_name_ok(const char *s, size_t cap);
int mq_move(const char *from, const char *to);

/* side.c */
struct mq_side *mq_side_map(int fd);
int mq_side_create(const char *dir, const char *path, uint32_t file_mode, uint32_t mode, int box_fd,
                   int *fd_out, struct mq_side **out);
int mq_side_open(const char *path, int *fd_out, struct mq_side **out);
int mq_side_lock_shared(int fd);
void mq_side_close(int fd, struct mq_side *side);
void mq_side_reap(const char *dir, const char *gone);
void mq_side_sweep(const char *dir);

/* access.c */
mode_t mq_umask(void);
uint32_t mq_mbx_mode(uint32_t posix_mode);
int mq_access_ok(int side_fd, const struct mq_side *side, int accmode);

/* flags.c */
struct mq_flagrec *mq_flag_new(int flags);
void mq_flag_put(struct mq_flagrec *f);
void mq_flag_forked(struct mq_flagrec *f);

/* table.c: mq_lookup and mq_table_get return the description with a
 * reference taken, for mq_put. mq_table_known takes none: its answer is
 * only compared, or used under the table's lock. */
struct mq_desc *mq_lookup(mqd_t q);
struct mq_desc *mq_table_get(int q);
void mq_put(struct mq_desc *d);
struct mq_desc *mq_desc_new(void);
void mq_desc_recycle(struct mq_desc *d);
struct mq_desc *mq_table_known(int q);
void mq_table_enter(int q, struct mq_desc *d);
void mq_number_gone(int q, struct mq_desc *d);
void mq_numbers_gone(unsigned first, unsigned last);

/* open.c: release drops the reference of d's numbers (its last went);
 * final runs at the last mq_put. */
void mq_release(struct mq_desc *d);
void mq_desc_final(struct mq_desc *d);

/* ready.c */
int mq_fifo_make(const char *path, uint32_t mode);
int mq_fifo_open(struct mq_desc *d, const char *path);
int mq_ready_init(struct mq_side *s);
void mq_ready_opened(struct mq_desc *d);
void mq_ready_changed(struct mq_desc *d);
void mq_ready_polled(struct mq_desc *d);

/* interpose.c: whether the C library's descriptor calls are interposed
 * (their glibc versions are known for this target: x86_64's, not x32's,
 * which defines __x86_64__ too but whose versions start at GLIBC_2.16). A
 * glibc build for any other target is told that it goes without, rather
 * than silently (README: what the shim then does not see). */
#if defined(__x86_64__) && defined(__LP64__) && defined(__GLIBC__)
#define MQ_INTERPOSED 1
#else
#define MQ_INTERPOSED 0
#if defined(__GLIBC__)
#warning                                                                                           \
    "libmbx-mq: no glibc symbol versions known for this target: close, dup, fcntl, poll and sigaction are not interposed (mq/interpose.c)"
#endif
#endif

/* blocked.c: receivers blocked on a queue. enter returns the slot it
 * counted in (NULL: the overflow count); leave takes that back. any says
 * whether a live receiver is blocked, freeing the slots of dead ones. */
struct mq_blocker *mq_blocked_enter(struct mq_side *s);
void mq_blocked_leave(struct mq_side *s, struct mq_blocker *b);
int mq_blocked_any(struct mq_side *s);
int mq_table_add(mqd_t q, struct mq_desc *d);
struct mq_desc *mq_table_remove(mqd_t q, int *last);
int mq_table_adopt_dup(struct mq_desc *d);
void mq_table_unlist(struct mq_desc *d);
struct mq_desc *mq_table_registrant(const struct mq_desc *d, uint64_t token);

/* timeouts.c */
int mq_abs_valid(const struct timespec *abs);
int64_t mq_abs_to_rel(const struct timespec *abs);
int mq_restart_after_eintr(void);

/* How many handlers without SA_RESTART have run on this thread (signals.c:
 * the shim fronts the handlers the program installs); a wait that sees it
 * move ends with EINTR. Always 0 where nothing is interposed. */
unsigned mq_interrupts(void);

/* Fronts the handlers installed around the interposed calls (a raw system
 * call, or before the shim was loaded): called by every mq_open. */
void mq_signals_adopt(void);

/* notify.c: before_send looks, when somebody is registered, whether the
 * queue is empty before the send; after_send fires from what it saw. */
struct mq_presend {
    uint64_t token; /* the registration word before the send */
    int empty;      /* 1: registered, and the queue was empty before the send */
};
void mq_notify_before_send(struct mq_desc *d, struct mq_presend *p);
void mq_notify_after_send(struct mq_desc *d, const struct mq_presend *p);
void mq_notify_drop(struct mq_desc *d);
void mq_notify_closed(struct mq_desc *d);

/* errors: set errno from a negative mbx value; returns -1 */
static inline int mq_fail(int err)
{
    errno = err < 0 ? -err : err;
    return -1;
}

#endif
