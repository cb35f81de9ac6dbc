/* The ends of a mailbox that admit one handle at a time: the receive right
 * of MBX_RECV_EXCLUSIVE mailboxes (one handle open with MBX_RECV), and of
 * MBX_RECV_PAIR mailboxes both rights (one with MBX_SEND, one with
 * MBX_RECV: a link of two processes). Each holder (process identity and
 * handle id) is recorded in the header, so a holder that died is noticed
 * and replaced. */
#ifndef MBX_RECV_RIGHT_H
#define MBX_RECV_RIGHT_H

#include "shm/shm.h"

/* At open: takes the rights handle b's flags need. Returns 0 or -EBUSY (a
 * live handle holds one; then b holds none). */
int recv_right_take(struct shm_box *b);

/* Before a receive on handle b: returns 0, or -EACCES when b was opened by
 * another process (a forked child's inherited handle holds no right). */
int recv_right_check(const struct shm_box *b);

/* The same before a send. */
int send_right_check(const struct shm_box *b);

/* At close: gives back the rights handle b holds. */
void recv_right_drop(struct shm_box *b);

#endif
