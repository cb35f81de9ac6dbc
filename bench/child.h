/* What every measuring child shares: its message buffer, the header the
 * harness writes at the front of each message, and how it reports failure to
 * the parent through shared memory. */
#ifndef BENCH_CHILD_H
#define BENCH_CHILD_H

#include <stddef.h>
#include <stdint.h>

#include "mech.h"

enum msg_kind { MSG_WARM = 1, MSG_TIMED, MSG_STOP, MSG_DATA, MSG_END };

struct msg_hdr {
    uint32_t kind;
    uint32_t sender; /* initiator index */
    uint64_t seq;    /* per sender from 0; in MSG_END, the count sent */
};
_Static_assert(sizeof(struct msg_hdr) == MECH_HDR_BYTES, "the loan rows copy only the header");

struct side_status {
    int err; /* negative errno of the failing step, 0 when fine */
    char why[160];
};

/* A buffer of size bytes with MECH_HEADROOM writable bytes before it, every
 * page already touched so no page fault lands inside a measurement. */
void *msgbuf_new(size_t size);
void msgbuf_free(void *buf);

/* The buffer one side of channel c works with: a message's size, or only
 * the header bytes for a zero-copy mechanism, which touches no more (a
 * 1 GiB loan then costs no 1 GiB of private memory on each side). */
void *msgbuf_for(const struct chan *c);

void hdr_put(void *buf, enum msg_kind kind, uint32_t sender, uint64_t seq);
struct msg_hdr hdr_get(const void *buf);

/* Records "what: error" in st and returns 1, the child's exit status. */
int side_fail(struct side_status *st, int err, const char *what);

/* Context switches of this process so far, counted by the kernel. */
int64_t ctxsw_now(void);

/* Sleeps a millisecond at a time until *flag is set, to let a peer finish
 * receiving before this side closes its end. */
void wait_flag(const _Atomic int *flag);

#endif
