/* The receive right of MBX_RECV_EXCLUSIVE mailboxes: at most one handle open
 * with MBX_RECV at a time. The holder (process identity and handle id) is
 * recorded in the header, so a holder that died is noticed and replaced. */
#ifndef MBX_RECV_RIGHT_H
#define MBX_RECV_RIGHT_H

#include "shm/shm.h"

/* At open with MBX_RECV: takes the right for handle b. Returns 0 or -EBUSY
 * (a live handle holds it). */
int recv_right_take(struct shm_box *b);

/* Before a receive on handle b: returns 0, or -EACCES when b was opened by
 * another process (a forked child's inherited handle holds no right). */
int recv_right_check(const struct shm_box *b);

/* At close: gives the right back if handle b holds it. */
void recv_right_drop(struct shm_box *b);

#endif
