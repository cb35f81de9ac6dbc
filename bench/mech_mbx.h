/* The parts of the mbx rows that copies and loans share: two mailboxes (one
 * per direction) in the private MBX_DIR, opened after fork, in a wait mode. */
#ifndef BENCH_MECH_MBX_H
#define BENCH_MECH_MBX_H

#include <mbx.h>
#include <sys/types.h>

#include "mech.h"

/* mech.variant of a row that leaves mbx's wait mode at its default. */
#define MBXB_SPIN_DEFAULT INT64_MIN

struct mbxb_priv {
    char name[2][96]; /* [0]: initiator -> responder */
    mbx *out, *in;
    /* The epoll row's sets of this side, made after attach: on `in`'s
     * receive descriptor, and (once a send found no room) on `out`'s send
     * descriptor; -1 when not made. */
    int ep_recv, ep_send;
    pid_t busy; /* the busy row's busy loop, or 0 */
};

int mbxb_setup(struct chan *c, char *why, size_t whylen);
int mbxb_attach(struct chan *c, enum mech_role role, int index);
void mbxb_detach(struct chan *c);
void mbxb_teardown(struct chan *c);

/* Makes count default mailboxes at once in $MBX_DIR and sums their file
 * sizes and the storage allocated to them (st_blocks) before the first
 * message, then removes them. Returns 0 or a negative errno. */
int mbxb_footprint(unsigned count, uint64_t *file_bytes, uint64_t *alloc_bytes);

#endif
