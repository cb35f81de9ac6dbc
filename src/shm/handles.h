/* This process's handles on the owned mailboxes it owns, so that the
 * owner's last close, or its normal exit, removes the mailbox at once
 * (after a kill -9, whoever next looks at it does: owner.h). */
#ifndef MBX_SHM_HANDLES_H
#define MBX_SHM_HANDLES_H

#include "shm/shm.h"

/* Remembers handle b (an MBX_OWNED mailbox) until handles_drop. */
void handles_add(struct shm_box *b);

/* Forgets handle b. Returns 1 when this process still has another handle
 * on the same mailbox, else 0. */
int handles_drop(struct shm_box *b);

/* At a normal exit: removes every mailbox this process owns and still has
 * a handle on (unless it passed ownership on). */
void handles_at_exit(void);

/* Fork handlers: the list's lock is held across fork. */
void handles_fork_prepare(void);
void handles_fork_parent(void);
void handles_fork_child(void);

#endif
