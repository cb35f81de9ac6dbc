/* The parts of the Unix socket rows that the blocking and the epoll rows
 * share: a connected socketpair made before fork, one end per side. */
#ifndef BENCH_MECH_UNIX_H
#define BENCH_MECH_UNIX_H

#include <stdint.h>

#include "mech.h"

struct unix_priv {
    int sv[2];
    int fd;             /* this side's end, after attach */
    int ep;             /* the epoll row's set on fd, -1 otherwise */
    uint32_t ep_events; /* what ep waits for now: EPOLLIN or EPOLLOUT */
};

/* struct mech's setup (a socketpair of type mech->variant, a seqpacket
 * send buffer grown for the cell's size), attach (keeps one end, closes
 * the other), detach (closes fd) and teardown, for both kinds of row. */
int unix_setup(struct chan *c, char *why, size_t whylen);
int unix_attach(struct chan *c, enum mech_role role, int index);
void unix_detach(struct chan *c);
void unix_teardown(struct chan *c);

#endif
