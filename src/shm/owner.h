/* Process-owned mailboxes (MBX_OWNED): the owner's identity in the header,
 * its receive right, and removal of the mailbox once the owner is gone. No
 * daemon: whoever touches the mailbox next (open, a wait, a send) notices. */
#ifndef MBX_OWNER_H
#define MBX_OWNER_H

#include "shm/shm.h"

/* How often waits on an owned mailbox look at the owner (ns). */
#define OWNER_POLL_NS 50000000ll

/* Records this process as the owner of a mailbox being created (not yet
 * published, so no lock). */
void owner_format(struct seg *s);

/* At open, after attach: removes an owned mailbox whose owner is gone.
 * Returns 0 or -ENOENT (it was removed). */
int owner_check_open(struct shm_box *b);

/* At open with MBX_RECV: only the owner, or the pending owner (which then
 * becomes the owner), may receive. Returns 0 or -EACCES. */
int owner_take_recv(struct shm_box *b);

/* Before a receive on handle b: returns 0, or -EACCES when this process
 * does not hold the receive right (not the owner, or it transferred it). */
int owner_recv_check(struct shm_box *b);

/* Returns 0 while the owner of the mailbox behind m (or the pending owner)
 * lives, or when it is not owned; otherwise removes the mailbox and returns
 * -EIDRM. */
int owner_check(struct shm_box *b);

/* Before a send on handle b: looks at the owner at most every
 * OWNER_POLL_NS. Returns 0, or -EIDRM when it was gone (and the mailbox is
 * now removed). */
int owner_send_check(struct shm_box *b);

/* The mb_ctx poll hook of handles on owned mailboxes: -EIDRM once the owner
 * is gone (the mailbox is then removed), else 0. */
int owner_poll(const struct mb_ctx *c);

/* Removes the mailbox behind m as mbx_unlink does. */
void owner_remove(struct shm_box *b);

/* Returns 1 when this process owns the mailbox of handle b and has not
 * passed ownership to a live process, else 0. */
int owner_is_me(struct shm_box *b);

/* The pid of the owner a stat names: the owner, or once it is gone, the
 * live pending owner of a transfer (the mailbox's only owner now, though
 * it has not taken over yet); 0 for a mailbox the system owns. */
int32_t owner_named(const struct seg *s);

/* Returns 1 when s is an owned mailbox whose owner and pending owner are
 * both gone (whoever notices removes it), else 0. */
int owner_gone(const struct seg *s);

/* Removes mailbox `name` if it is owned and its owner is gone, as its
 * next open would (best effort: for ls and stat). */
void owner_reap(const char *name);

#endif
